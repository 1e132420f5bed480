package objectd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to begin writing [off, off+n) of f to disk now, without
// waiting. Called as content streams in, it overlaps the disk's work with the network's, so
// the fsync at the end of a large PUT waits for the last few megabytes only, instead of the
// whole object (Swift does the same with fallocate and periodic fdatasync). Best effort:
// files that do not expose a descriptor are skipped.
func startWriteback(f any, off, n int64) {
	sc, ok := f.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}

// preallocate reserves size bytes for f, so a disk without room for the object fails at once
// with ENOSPC instead of after streaming most of it, and the file gets contiguous extents.
// File systems that cannot preallocate, and files without a descriptor, are left alone.
func preallocate(f any, size int64) error {
	sc, ok := f.(syscall.Conn)
	if !ok || size <= 0 {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	var ferr error
	rc.Control(func(fd uintptr) {
		ferr = unix.Fallocate(int(fd), unix.FALLOC_FL_KEEP_SIZE, 0, size)
	})
	if errors.Is(ferr, unix.ENOSPC) || errors.Is(ferr, unix.EDQUOT) {
		return ferr
	}
	return nil
}

// haveSyncFS reports whether syncFS exists here.
const haveSyncFS = true

// syncFS makes everything written to the file system holding dir durable: syncfs(2), which
// since Linux 5.8 also reports writeback errors seen on the file system since the last call.
// fileSystemID returns the ID of the file system holding the file fi describes.
func fileSystemID(fi fs.FileInfo) (uint64, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Dev, true
}

func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Syncfs(int(fd)) }); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("syncfs %s: %w", dir, serr)
	}
	return nil
}
