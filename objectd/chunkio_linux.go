package objectd

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// datasync makes f's data durable. On a real file it is fdatasync(2): chunk files never
// change size after they are created and their timestamps do not matter, so the inode
// need not be written back with them (block allocation still is: fdatasync writes back
// what is needed to read the data). Wrapped files (tests) use Sync, so injected faults and
// the crash file system see it.
func datasync(f any) error {
	osf, ok := f.(*os.File)
	if !ok {
		return f.(interface{ Sync() error }).Sync()
	}
	rc, err := osf.SyscallConn()
	if err != nil {
		return osf.Sync()
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = unix.Fdatasync(int(fd))
			if !errors.Is(serr, unix.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: osf.Name(), Err: serr}
	}
	return nil
}

// allocate reserves [off, off+n) of f, so that writing it cannot fail for want of space
// half-way (which would leave the blocks torn). It returns ENOSPC or EDQUOT when the disk is
// full; file systems that cannot allocate, and files without a descriptor, are left alone.
func allocate(f any, off, n int64) error {
	osf, ok := f.(*os.File)
	if !ok || n <= 0 {
		return nil
	}
	rc, err := osf.SyscallConn()
	if err != nil {
		return nil
	}
	var ferr error
	rc.Control(func(fd uintptr) { ferr = unix.Fallocate(int(fd), unix.FALLOC_FL_KEEP_SIZE, off, n) })
	if errors.Is(ferr, unix.ENOSPC) || errors.Is(ferr, unix.EDQUOT) {
		return ferr
	}
	return nil
}

// punchHole releases the space of [off, off+n) of f, which then reads as zeros. Best
// effort: where holes cannot be punched the bytes stay, and the block table says the
// blocks are zero anyway.
func punchHole(f any, off, n int64) {
	osf, ok := f.(*os.File)
	if !ok || n <= 0 {
		return
	}
	rc, err := osf.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		unix.Fallocate(int(fd), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	})
}

// accessRandomly tells the kernel that f is read at random: no readahead, so reads do not
// fill the page cache with large folios that later small writes would have to dirty and
// write back whole (see chunkWritePiece).
func accessRandomly(f any) {
	osf, ok := f.(*os.File)
	if !ok {
		return
	}
	if rc, err := osf.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { unix.Fadvise(int(fd), 0, 0, unix.FADV_RANDOM) })
	}
}
