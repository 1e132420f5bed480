package client

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrHeld is returned (inside a *HeldError) by Attach, and by operations refused while a
	// live lease holds the volume.
	ErrHeld = errors.New("volumed: volume is attached to another host")
	// ErrFenced is returned by Renew, Detach and Keep when the volume's attachment is no
	// longer the caller's generation: another host took it over, an operator detached it, or
	// the volume is gone. The caller must stop writing the volume.
	ErrFenced = errors.New("volumed: lease lost to a newer generation")
	// ErrExpired is returned by Keep when it could not renew the lease before it expired
	// (meta unreachable). Another host may attach the volume from then on.
	ErrExpired = errors.New("volumed: lease expired before it could be renewed")
	// ErrState is returned when the volume's state forbids the operation: attaching a volume
	// that is creating, deleting or in error, or deleting one that is in use.
	ErrState = errors.New("volumed: volume state forbids this")
)

// HeldError says who holds a volume's live lease. It matches ErrHeld.
type HeldError struct {
	VolumeID       string
	Host           string
	Generation     uint64
	LeaseExpiresAt time.Time
}

func (e *HeldError) Error() string {
	left := time.Until(e.LeaseExpiresAt).Round(time.Second)
	return fmt.Sprintf("volume %s is attached to host %s (generation %d, lease expires at %s, in %s unless renewed); --force takes it over and fences that host",
		e.VolumeID, e.Host, e.Generation, e.LeaseExpiresAt.UTC().Format(time.RFC3339), left)
}

// Unwrap makes a HeldError match ErrHeld.
func (e *HeldError) Unwrap() error { return ErrHeld }
