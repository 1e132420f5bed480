package snapshot

import (
	"errors"

	vclient "stratus/volumed/client"
)

var (
	// ErrCorrupt is returned by ReadChunk and ReadManifest when the content read does not
	// match its SHA-256 (or the manifest's own checksum or format). Nothing of it is used.
	ErrCorrupt = errors.New("snapshot: stored content does not match its checksum")
	// ErrChunkGone is returned by AddRef when the chunk is no longer stored (every snapshot
	// holding it was deleted): the caller uploads the content with PutChunk instead.
	ErrChunkGone = errors.New("snapshot: chunk is no longer stored")
	// ErrContention is returned when a conditional write kept losing to concurrent ones
	// for Config.Attempts tries (the record calls' error in volumed/client).
	ErrContention = vclient.ErrSnapshotContention
	// ErrInUse is returned by Delete while volumes were created from the snapshot or a
	// snapshot being taken builds on it; see *InUseError.
	ErrInUse = vclient.ErrSnapshotInUse
	// ErrState is returned when a snapshot is in a state that does not allow the call
	// (Complete on a snapshot not being created, Delete of one being created).
	ErrState = vclient.ErrSnapshotState
	// ErrBadManifest is returned by Complete and WriteManifest for a manifest that does
	// not describe the snapshot (entries out of order, past the size, wrong sizes).
	ErrBadManifest = errors.New("snapshot: invalid manifest")
)

// InUseError says who still needs a snapshot that was asked to go.
type InUseError = vclient.SnapshotInUseError
