package snapshot

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrCorrupt is returned by ReadChunk and ReadManifest when the content read does not
	// match its SHA-256 (or the manifest's own checksum or format). Nothing of it is used.
	ErrCorrupt = errors.New("snapshot: stored content does not match its checksum")
	// ErrChunkGone is returned by AddRef when the chunk is no longer stored (every snapshot
	// holding it was deleted): the caller uploads the content with PutChunk instead.
	ErrChunkGone = errors.New("snapshot: chunk is no longer stored")
	// ErrContention is returned when a conditional write kept losing to concurrent ones
	// for Config.Attempts tries.
	ErrContention = errors.New("snapshot: too many concurrent changes to the same record")
	// ErrInUse is returned by Delete while volumes were created from the snapshot or a
	// snapshot being taken builds on it; see *InUseError.
	ErrInUse = errors.New("snapshot: in use")
	// ErrState is returned when a snapshot is in a state that does not allow the call
	// (Complete on a snapshot not being created, Delete of one being created).
	ErrState = errors.New("snapshot: wrong state")
	// ErrBadManifest is returned by Complete and WriteManifest for a manifest that does
	// not describe the snapshot (entries out of order, past the size, wrong sizes).
	ErrBadManifest = errors.New("snapshot: invalid manifest")
)

// InUseError says who still needs a snapshot that was asked to go.
type InUseError struct {
	Snapshot string
	Volumes  []string // created from it
	Children []string // snapshots being created on top of it
}

func (e *InUseError) Error() string {
	var who []string
	if len(e.Volumes) > 0 {
		who = append(who, "volumes "+strings.Join(e.Volumes, ", ")+" were created from it")
	}
	if len(e.Children) > 0 {
		who = append(who, "snapshots "+strings.Join(e.Children, ", ")+" are being taken on top of it")
	}
	return fmt.Sprintf("snapshot %s is in use: %s (delete those first)", e.Snapshot, strings.Join(who, "; "))
}

// Unwrap makes an InUseError match ErrInUse.
func (e *InUseError) Unwrap() error { return ErrInUse }
