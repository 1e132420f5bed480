package chunkdev

import "errors"

var (
	// ErrFenced is returned by every call once a replica refused a change because another
	// holder attached the volume with a newer generation. Nothing this device writes can
	// land any more; detach it.
	ErrFenced = errors.New("chunkdev: volume fenced by a newer holder")
	// ErrQuorum is returned when fewer replicas of a chunk than a write quorum took a change
	// or a flush, or fewer than a quorum answered a table read.
	ErrQuorum = errors.New("chunkdev: no quorum of replicas")
	// ErrUnavailable is returned by a read when no current replica of the chunk could serve
	// it.
	ErrUnavailable = errors.New("chunkdev: no current replica answered")
	// ErrDetached is returned by calls made after Detach.
	ErrDetached = errors.New("chunkdev: device detached")
)
