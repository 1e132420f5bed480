package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"stratus/internal/hlc"
)

// SnapshotState is where a Snapshot is in its life. Stored: never rename a value.
type SnapshotState string

const (
	// SnapshotPending: asked for (by an operator), not yet taken up by the volumed serving
	// the volume. The point in time is not fixed yet.
	SnapshotPending SnapshotState = "pending"
	// SnapshotCreating: the point in time is fixed (writes acknowledged before it are in the
	// snapshot, later ones are not); chunks are being copied.
	SnapshotCreating SnapshotState = "creating"
	// SnapshotCompleted: the manifest is written; volumes may be created from it.
	SnapshotCompleted SnapshotState = "completed"
	// SnapshotDeleting: asked to go; a volumed releases its chunks and removes the record.
	SnapshotDeleting SnapshotState = "deleting"
	// SnapshotError: taking it failed (Error says why); it can only be deleted.
	SnapshotError SnapshotState = "error"
)

// Snapshot is a point-in-time copy of a volume (table snapshots, key = ID, "snap-" and 16 hex
// digits). Its chunks are content-addressed objects ".snap/chunk/<sha256 hex>", shared with
// every other snapshot that holds the same content, and its manifest, the object named by
// Manifest, lists them (package volumed/snapshot).
type Snapshot struct {
	ID             string        `json:"id"`
	VolumeID       string        `json:"volume_id"`
	SizeBytes      int64         `json:"size_bytes"`
	ChunkSizeBytes int64         `json:"chunk_size_bytes"`
	State          SnapshotState `json:"state"`
	// Generation is the attachment generation of the volumed that took the snapshot; 0 if
	// the volume was not attached (or it is not known yet).
	Generation uint64 `json:"generation,omitempty"`
	// Parent is the previous completed snapshot of the same volume, whose chunks this one
	// reuses where the volume has not changed since; "" if none.
	Parent    string    `json:"parent,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// CompletedAt is when the manifest was written; zero until then.
	CompletedAt time.Time `json:"completed_at,omitzero"`
	// Progress: chunks of the volume to go through, and chunks done so far.
	ChunksTotal  int64 `json:"chunks_total"`
	ChunksCopied int64 `json:"chunks_copied"`
	// StoredBytes is the new content this snapshot uploaded (chunks no snapshot held yet).
	StoredBytes int64 `json:"stored_bytes"`
	// Manifest is the object name of the manifest and ManifestTimestamp its version; both
	// empty until completed. (HLC timestamps are JSON strings: 64-bit integers do not
	// survive JSON parsers that read numbers as doubles.)
	Manifest          string        `json:"manifest,omitempty"`
	ManifestTimestamp hlc.Timestamp `json:"manifest_timestamp,omitzero"`
	// ReleaseCursor is how far deletion has got: the SHA-256 (hex) of the last chunk whose
	// reference it has started to release, in ascending order; "all" once every reference
	// is released. It is recorded before each
	// batch is released, so a deletion that is interrupted and run again never releases a
	// reference twice (at worst a batch's references are never released: space, not data).
	ReleaseCursor string `json:"release_cursor,omitempty"`
	// Error says why a snapshot is in state error, or why its deletion was refused.
	Error string `json:"error,omitempty"`
	// Account owns the snapshot as the EC2 API sees it (the account of the volume it was
	// taken of, through CreateSnapshot); empty for operators' snapshots, which no account
	// sees.
	Account string `json:"account,omitempty"`
	// Description is the EC2 CreateSnapshot description, kept to be reported.
	Description string `json:"description,omitempty"`
}

// snapshotIDPrefix starts every snapshot ID; 16 hex digits follow.
const snapshotIDPrefix = "snap-"

// NewSnapshotID returns a random snapshot ID, "snap-" and 16 hex digits.
func NewSnapshotID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("meta client: random snapshot id: %v", err)) // crypto/rand does not fail
	}
	return snapshotIDPrefix + hex.EncodeToString(b[:])
}

// ValidSnapshotID reports whether id has the form of a snapshot ID.
func ValidSnapshotID(id string) bool {
	h, ok := strings.CutPrefix(id, snapshotIDPrefix)
	return ok && len(h) == 16 && isLowerHex(h)
}

func isLowerHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Validate says what is wrong with s's shape, naming the field and the bound.
func (s Snapshot) Validate() error {
	switch {
	case !ValidSnapshotID(s.ID):
		return fmt.Errorf("%w: snapshot id %q is not snap- and 16 lowercase hex digits", ErrBadRequest, s.ID)
	case !ValidVolumeID(s.VolumeID):
		return fmt.Errorf("%w: snapshot volume_id %q is not a volume id", ErrBadRequest, s.VolumeID)
	case s.Parent != "" && !ValidSnapshotID(s.Parent):
		return fmt.Errorf("%w: snapshot parent %q is not a snapshot id", ErrBadRequest, s.Parent)
	case s.ChunkSizeBytes < MinVolumeChunkSizeBytes || s.ChunkSizeBytes > MaxVolumeChunkSizeBytes || s.ChunkSizeBytes&(s.ChunkSizeBytes-1) != 0:
		return fmt.Errorf("%w: chunk_size_bytes (%d) must be a power of two from %d to %d", ErrBadRequest, s.ChunkSizeBytes, MinVolumeChunkSizeBytes, MaxVolumeChunkSizeBytes)
	case s.SizeBytes <= 0 || s.SizeBytes%VolumeBlockBytes != 0:
		return fmt.Errorf("%w: size_bytes (%d) must be a positive multiple of %d", ErrBadRequest, s.SizeBytes, VolumeBlockBytes)
	case s.ChunksCopied < 0 || s.ChunksTotal < 0 || s.ChunksCopied > s.ChunksTotal:
		return fmt.Errorf("%w: chunks_copied (%d) must be from 0 to chunks_total (%d)", ErrBadRequest, s.ChunksCopied, s.ChunksTotal)
	case s.State == SnapshotCompleted && s.Manifest == "":
		return fmt.Errorf("%w: a completed snapshot names its manifest", ErrBadRequest)
	}
	switch s.State {
	case SnapshotPending, SnapshotCreating, SnapshotCompleted, SnapshotDeleting, SnapshotError:
	default:
		return fmt.Errorf("%w: snapshot state %q is not one of pending, creating, completed, deleting, error", ErrBadRequest, s.State)
	}
	return nil
}

// CreateSnapshot stores a new snapshot; ErrConflict if the ID exists. A zero CreatedAt
// becomes now, an empty State pending. extra ops (the snapshot's tags, say) are applied in
// the same transaction.
func (c *Client) CreateSnapshot(ctx context.Context, s Snapshot, extra ...Op) error {
	if s.CreatedAt.IsZero() {
		s.CreatedAt = time.Now().UTC()
	}
	if s.State == "" {
		s.State = SnapshotPending
	}
	if err := s.Validate(); err != nil {
		return err
	}
	return c.createJSON(ctx, TableSnapshots, "snapshot", s.ID, s, extra)
}

// Snapshot returns a snapshot and its ModIndex (for UpdateSnapshot and DeleteSnapshot).
func (c *Client) Snapshot(ctx context.Context, id string, opts ...ReadOption) (Snapshot, uint64, error) {
	var s Snapshot
	idx, err := c.getJSON(ctx, TableSnapshots, id, &s, opts)
	return s, idx, err
}

// Snapshots returns every snapshot, in ID order.
func (c *Client) Snapshots(ctx context.Context, opts ...ReadOption) ([]Snapshot, error) {
	return listJSON[Snapshot](ctx, c, TableSnapshots, "", opts)
}

// UpdateSnapshot replaces a snapshot if it is unchanged since modIndex; ErrConflict
// otherwise (including when it was deleted).
func (c *Client) UpdateSnapshot(ctx context.Context, s Snapshot, modIndex uint64) error {
	if err := s.Validate(); err != nil {
		return err
	}
	return c.replaceJSON(ctx, TableSnapshots, "snapshot", s.ID, s, modIndex, nil)
}

// DeleteSnapshot removes a snapshot's record if it is unchanged since modIndex; ErrConflict
// otherwise. Releasing its chunks first is the caller's job (volumed/snapshot.Store.Delete).
func (c *Client) DeleteSnapshot(ctx context.Context, id string, modIndex uint64) error {
	return c.deleteAt(ctx, TableSnapshots, "snapshot", id, modIndex, nil)
}

// SnapChunkState is where a SnapChunk is in its life. Stored: never rename a value.
type SnapChunkState string

const (
	// SnapChunkLive: referenced by Refs snapshots; the object is (being) stored.
	SnapChunkLive SnapChunkState = "live"
	// SnapChunkDeleting: no snapshot references it; its object got (or is getting) a
	// tombstone at Tombstone. An acquirer revives the record rather than waiting.
	SnapChunkDeleting SnapChunkState = "deleting"
)

// SnapChunk is the reference count of one content-addressed snapshot chunk (table
// snapchunks, key = the SHA-256 of its content, 64 lowercase hex digits). Every change is a
// read and a conditional write on the record's mod index, so concurrent acquirers and
// releasers never lose a count.
type SnapChunk struct {
	Refs  int64          `json:"refs"`
	State SnapChunkState `json:"state"`
	// Timestamp is the version of the stored object (an HLC timestamp); 0 while the first
	// acquirer is still uploading it.
	Timestamp hlc.Timestamp `json:"timestamp,omitzero"`
	// Tombstone is the time of the object's last deletion (0: never deleted). A new upload
	// must be dated after it, so that a late tombstone cannot remove it.
	Tombstone hlc.Timestamp `json:"tombstone,omitzero"`
	SizeBytes int64         `json:"size_bytes"`
}

// ValidSnapChunkKey reports whether key is a SHA-256 in lowercase hex.
func ValidSnapChunkKey(key string) bool { return len(key) == 64 && isLowerHex(key) }

// Validate says what is wrong with c's shape.
func (c SnapChunk) Validate() error {
	switch {
	case c.Refs < 0:
		return fmt.Errorf("%w: snapshot chunk refs (%d) is negative", ErrBadRequest, c.Refs)
	case c.State != SnapChunkLive && c.State != SnapChunkDeleting:
		return fmt.Errorf("%w: snapshot chunk state %q is not live or deleting", ErrBadRequest, c.State)
	case c.State == SnapChunkLive && c.Refs == 0:
		return fmt.Errorf("%w: a live snapshot chunk has references", ErrBadRequest)
	case c.State == SnapChunkDeleting && c.Refs != 0:
		return fmt.Errorf("%w: a deleting snapshot chunk has no references", ErrBadRequest)
	case c.SizeBytes < 0:
		return fmt.Errorf("%w: snapshot chunk size_bytes (%d) is negative", ErrBadRequest, c.SizeBytes)
	}
	return nil
}

// SnapChunk returns the record of the chunk with SHA-256 sha (hex) and its ModIndex.
func (c *Client) SnapChunk(ctx context.Context, sha string) (SnapChunk, uint64, error) {
	var sc SnapChunk
	idx, err := c.getJSON(ctx, TableSnapChunks, sha, &sc, nil)
	return sc, idx, err
}

// PutSnapChunk writes the record of chunk sha if it is unchanged since modIndex, 0 meaning
// absent; ErrConflict otherwise. It returns the record's new ModIndex.
func (c *Client) PutSnapChunk(ctx context.Context, sha string, sc SnapChunk, modIndex uint64) (uint64, error) {
	if !ValidSnapChunkKey(sha) {
		return 0, fmt.Errorf("%w: snapshot chunk key %q is not a SHA-256 in lowercase hex", ErrBadRequest, sha)
	}
	if err := sc.Validate(); err != nil {
		return 0, err
	}
	op := Op{Kind: OpPut, Table: TableSnapChunks, Key: sha, Value: encodeJSON(sc), Cond: CondModIndex, ModIndex: modIndex}
	if modIndex == 0 {
		op.Cond = CondAbsent
	}
	resp, err := c.Apply(ctx, op)
	if err != nil {
		return 0, err
	}
	return resp.Index, nil
}

// DeleteSnapChunk removes the record of chunk sha if it is unchanged since modIndex;
// ErrConflict otherwise.
func (c *Client) DeleteSnapChunk(ctx context.Context, sha string, modIndex uint64) error {
	if modIndex == 0 {
		return fmt.Errorf("%w: deleting snapshot chunk %s needs the mod index it was read at", ErrBadRequest, sha)
	}
	_, err := c.Apply(ctx, Op{Kind: OpDelete, Table: TableSnapChunks, Key: sha, Cond: CondModIndex, ModIndex: modIndex})
	return err
}
