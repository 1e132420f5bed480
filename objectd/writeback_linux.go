package objectd

import (
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
