//go:build !linux

package objectd

import (
	"errors"
	"io/fs"
)

// startWriteback is a no-op where sync_file_range does not exist.
func startWriteback(f any, off, n int64) {}

// preallocate is a no-op where fallocate does not exist.
func preallocate(f any, size int64) error { return nil }

// haveSyncFS reports whether syncFS exists here.
const haveSyncFS = false

func syncFS(dir string) error { return errors.ErrUnsupported }

// fileSystemID is unknown here: every device has its own group commit.
func fileSystemID(fs.FileInfo) (uint64, bool) { return 0, false }
