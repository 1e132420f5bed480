//go:build !linux

package objectd

// datasync is Sync where fdatasync is not available.
func datasync(f any) error { return f.(interface{ Sync() error }).Sync() }

// allocate is a no-op where fallocate does not exist.
func allocate(f any, off, n int64) error { return nil }

// punchHole is a no-op where holes cannot be punched: the block table marks the blocks zero.
func punchHole(f any, off, n int64) {}

// accessRandomly is a no-op where posix_fadvise does not exist.
func accessRandomly(f any) {}
