package meta

import (
	"errors"
	"fmt"

	"stratus/meta/client"
)

// Sentinel errors. Most are the client package's values, so one errors.Is works on both sides
// of the wire.
var (
	// ErrNotFound is returned when a key does not exist.
	ErrNotFound = client.ErrNotFound
	// ErrConflict is returned when a request's condition fails; nothing was applied.
	ErrConflict = client.ErrConflict
	// ErrUnknownTable is returned for a table that is not in the schema.
	ErrUnknownTable = client.ErrUnknownTable
	// ErrValueTooLarge is returned when a value exceeds its table's MaxValueBytes.
	ErrValueTooLarge = client.ErrValueTooLarge
	// ErrKeyTooLarge is returned when a key exceeds client.MaxKeyBytes.
	ErrKeyTooLarge = client.ErrKeyTooLarge
	// ErrBadRequest is returned for malformed requests.
	ErrBadRequest = client.ErrBadRequest
	// ErrNotLeader is returned when a write or linearizable read reaches a node that is not
	// the leader and cannot forward it.
	ErrNotLeader = client.ErrNotLeader
	// ErrNoLeader is returned while no leader is known.
	ErrNoLeader = client.ErrNoLeader
	// ErrNotMember is returned by a node that is neither bootstrapped nor joined.
	ErrNotMember = client.ErrNotMember
	// ErrUnavailable is returned when an operation could not finish in time (no quorum).
	ErrUnavailable = client.ErrUnavailable
	// ErrTooManyRequests is returned when a caller exceeds the secret call's rate.
	ErrTooManyRequests = client.ErrTooManyRequests

	// ErrClosed is returned by operations on a node that is shutting down.
	ErrClosed = fmt.Errorf("meta: node is shutting down: %w", client.ErrUnavailable)
	// ErrCorruptEntry is returned when a Raft log entry or stored record cannot be decoded.
	ErrCorruptEntry = errors.New("meta: corrupt log entry")
	// ErrSealed is returned when a sealed value cannot be decrypted (wrong cluster key).
	ErrSealed = errors.New("meta: cannot open sealed value (wrong cluster key?)")
)
