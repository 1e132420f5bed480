package driver

import "errors"

var (
	// ErrNotFound is returned for an instance the hypervisor does not hold.
	ErrNotFound = errors.New("instance not found")
	// ErrExists is returned by Define for a name already defined.
	ErrExists = errors.New("instance already defined")
	// ErrInvalidSpec is returned for a Spec or NBDDisk the driver refuses; the message says
	// which field.
	ErrInvalidSpec = errors.New("invalid instance spec")
	// ErrNotStopped is returned by Undefine for a running instance.
	ErrNotStopped = errors.New("instance is not stopped")
	// ErrTargetInUse is returned by AttachNBD when the target names an attached disk.
	ErrTargetInUse = errors.New("disk target already in use")
	// ErrNotAttached is returned by DetachNBD when no NBD disk has that target.
	ErrNotAttached = errors.New("no disk at that target")
)
