package ring

import "errors"

var (
	// ErrCorrupt is returned when a ring or builder file fails its checksum, is truncated,
	// or holds values that cannot be right (a device index out of range, say).
	ErrCorrupt = errors.New("corrupt ring file")

	// ErrFormat is returned when a file is not a ring or builder file, or is one of a
	// format version this build does not know.
	ErrFormat = errors.New("unknown ring file format")

	// ErrNoDevice is returned when a device ID or search matches no device.
	ErrNoDevice = errors.New("no such device")

	// ErrDuplicateDevice is returned when a device being added has the same host and
	// device name as one already in the builder.
	ErrDuplicateDevice = errors.New("duplicate device")

	// ErrInvalid is returned for a bad argument: a part power out of range, a negative
	// weight, a malformed device description.
	ErrInvalid = errors.New("invalid argument")

	// ErrTooFewDevices is returned by Rebalance when fewer devices of positive weight
	// exist than the ring has replicas.
	ErrTooFewDevices = errors.New("fewer devices than replicas")

	// ErrNotBalanced is returned by Builder.Ring before the first rebalance, or when
	// devices were added or removed since the last one.
	ErrNotBalanced = errors.New("builder needs a rebalance")
)

// Limits of the ring's shape.
const (
	// MaxPartPower bounds the partition count at 2^24: a three-replica ring is then
	// already 96 MiB, and lookups no longer fit in cache.
	MaxPartPower = 24
	// MaxReplicas bounds the replica count.
	MaxReplicas = 16
)
