package objectd

import (
	"errors"
	"fmt"

	"stratus/internal/hlc"
	"stratus/objectd/client"
)

// The node answers with the wire errors of package client (client.ErrNotFound,
// client.ErrConflict, client.ErrDeviceUnavailable, …), wrapped with context; the handler maps
// them to statuses with client.ErrorCode. The errors below are the node's own.

var (
	// ErrNoRing is returned by ReplicateOnce before a ring has been loaded.
	ErrNoRing = errors.New("objectd: no ring loaded")
	// ErrNoMountedDevice is returned by Run when Config.MountCheck is on and no directory
	// under Config.DevicesDir is a mount point: the disks are not mounted (every request
	// would answer 507), or the devices are plain directories, which need MountCheck off.
	ErrNoMountedDevice = errors.New("objectd: no device directory is a mount point")
)

// VersionError is returned when the held version decides the outcome: the write was not
// newer (Unwrap gives client.ErrConflict) or the name is deleted (client.ErrNotFound).
// Timestamp is the held version's; the handler sends it in client.HeaderTimestamp.
type VersionError struct {
	Timestamp hlc.Timestamp
	Err       error
}

func (e *VersionError) Error() string {
	return e.Err.Error() + " (held version " + e.Timestamp.String() + ")"
}

// Unwrap returns the wire sentinel.
func (e *VersionError) Unwrap() error { return e.Err }

// FencedError is returned when a chunk change carries a generation older than the chunk's
// fence. Unwrap gives client.ErrFenced; the handler sends Fence in
// client.HeaderChunkGeneration.
type FencedError struct {
	Fence uint64
}

func (e *FencedError) Error() string {
	return fmt.Sprintf("%v (fence generation %d)", client.ErrFenced, e.Fence)
}

// Unwrap returns the wire sentinel.
func (e *FencedError) Unwrap() error { return client.ErrFenced }

// TornError is returned when a block of a chunk read fails its checksum. Unwrap gives
// client.ErrTorn; the handler sends Offset in client.HeaderChunkTornOffset.
type TornError struct {
	Offset int64 // of the first torn block, in the chunk
}

func (e *TornError) Error() string {
	return fmt.Sprintf("%v: block at offset %d does not match its checksum", client.ErrTorn, e.Offset)
}

// Unwrap returns the wire sentinel.
func (e *TornError) Unwrap() error { return client.ErrTorn }
