package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	meta "stratus/meta/client"
)

// The calls below change snapshot and volume records only (no object store): an
// operator's tools make them with an admin certificate, and the volume daemons do the
// work they ask for.

// RequestSnapshot asks for a snapshot of volume volID: it stores a pending record of the volume's
// current size and chunk size. The volumed serving the volume takes it up (creating: the
// point in time is fixed), copies the chunks and completes it.
func RequestSnapshot(ctx context.Context, mc *meta.Client, volID string) (meta.Snapshot, error) {
	v, _, err := mc.Volume(ctx, volID)
	if err != nil {
		return meta.Snapshot{}, fmt.Errorf("volume %s: %w", volID, err)
	}
	switch v.State {
	case meta.VolumeAvailable, meta.VolumeInUse:
	default:
		return meta.Snapshot{}, fmt.Errorf("%w: volume %s is %s; only an available or in-use volume can be snapshotted", ErrSnapshotState, volID, v.State)
	}
	s := meta.Snapshot{ID: meta.NewSnapshotID(), VolumeID: v.ID, SizeBytes: v.SizeBytes, ChunkSizeBytes: v.ChunkSizeBytes,
		State: meta.SnapshotPending, CreatedAt: time.Now().UTC()}
	if err := mc.CreateSnapshot(ctx, s); err != nil {
		return meta.Snapshot{}, err
	}
	return s, nil
}

// AwaitSnapshot waits until snapshot id satisfies done, following the table's changes, and returns
// it; ctx bounds the wait (an error wrapping ctx.Err() returns the last record seen too).
// A snapshot that disappears is meta.ErrNotFound.
func AwaitSnapshot(ctx context.Context, mc *meta.Client, id string, done func(meta.Snapshot) bool) (meta.Snapshot, error) {
	var last meta.Snapshot // as last read; the zero record before the first read
	for {
		s, idx, err := mc.Snapshot(ctx, id)
		if err != nil && ctx.Err() != nil {
			// A read cut short by the caller's deadline is the deadline, not an outage.
			return last, fmt.Errorf("snapshot %s is still %s: %w", id, last.State, ctx.Err())
		}
		if err != nil {
			return s, fmt.Errorf("snapshot %s: %w", id, err)
		}
		last = s
		if done(s) {
			return s, nil
		}
		wait := 10 * time.Second
		if dl, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(dl))
		}
		if wait <= 0 {
			return s, fmt.Errorf("snapshot %s is still %s: %w", id, s.State, context.DeadlineExceeded)
		}
		// Any outcome of the watch (a change, a resync, nothing within wait, a failure) is
		// followed by a fresh read; a failure also by a pause, so a meta outage is not a
		// busy loop.
		if _, err := mc.Watch(ctx, meta.TableSnapshots, id, idx, wait); err != nil {
			if ctx.Err() != nil {
				return s, fmt.Errorf("snapshot %s is still %s: %w", id, s.State, ctx.Err())
			}
			if err := snapshotBackoff(ctx, 7); err != nil {
				return s, fmt.Errorf("snapshot %s is still %s: %w", id, s.State, err)
			}
		}
	}
}

// RequestSnapshotDelete asks for snapshot id to go: it marks the record deleting, and a volumed
// releases its chunks and removes it (Store.Delete). It refuses with an *SnapshotInUseError while
// a volume was created from the snapshot or a snapshot is being taken on top of it, and
// with ErrSnapshotState while the snapshot is being created. Store.Delete checks again, after its
// own mark, so a clone created meanwhile is not lost either.
func RequestSnapshotDelete(ctx context.Context, mc *meta.Client, id string) (meta.Snapshot, error) {
	for attempt := 0; attempt < snapshotAttempts; attempt++ {
		if attempt > 0 {
			if err := snapshotBackoff(ctx, attempt); err != nil {
				return meta.Snapshot{}, err
			}
		}
		s, idx, err := mc.Snapshot(ctx, id)
		if err != nil {
			return s, fmt.Errorf("snapshot %s: %w", id, err)
		}
		switch s.State {
		case meta.SnapshotDeleting:
			return s, nil
		case meta.SnapshotCreating:
			return s, fmt.Errorf("%w: snapshot %s is being created; delete it once it is completed or failed", ErrSnapshotState, id)
		}
		if err := SnapshotUnused(ctx, mc, s); err != nil {
			return s, err
		}
		s.State, s.Error = meta.SnapshotDeleting, ""
		if err := mc.UpdateSnapshot(ctx, s, idx); errors.Is(err, meta.ErrConflict) {
			continue
		} else if err != nil {
			return s, err
		}
		return s, nil
	}
	return meta.Snapshot{}, ErrSnapshotContention
}

// CreateVolumeFromSnapshot stores volume v made from snapshot v.FromSnapshot, which must be completed.
// A zero SizeBytes becomes the snapshot's; a larger one grows the volume past it (a smaller
// one is refused); the chunk size is the snapshot's. The volume is available at once: its
// chunks are read from the snapshot until written (copy-on-write).
func CreateVolumeFromSnapshot(ctx context.Context, mc *meta.Client, v meta.Volume) (meta.Volume, error) {
	s, _, err := mc.Snapshot(ctx, v.FromSnapshot)
	if err != nil {
		return v, fmt.Errorf("snapshot %s: %w", v.FromSnapshot, err)
	}
	if s.State != meta.SnapshotCompleted {
		return v, fmt.Errorf("%w: snapshot %s is %s; volumes are created from completed snapshots only", ErrSnapshotState, s.ID, s.State)
	}
	if v.SizeBytes == 0 {
		v.SizeBytes = s.SizeBytes
	}
	if v.SizeBytes < s.SizeBytes {
		return v, fmt.Errorf("%w: size_bytes (%d) is smaller than snapshot %s (%d bytes)", meta.ErrBadRequest, v.SizeBytes, s.ID, s.SizeBytes)
	}
	if v.ChunkSizeBytes != 0 && v.ChunkSizeBytes != s.ChunkSizeBytes {
		return v, fmt.Errorf("%w: chunk_size_bytes (%d) is not snapshot %s's (%d)", meta.ErrBadRequest, v.ChunkSizeBytes, s.ID, s.ChunkSizeBytes)
	}
	v.ChunkSizeBytes = s.ChunkSizeBytes
	if v.CreatedAt.IsZero() {
		v.CreatedAt = time.Now().UTC()
	}
	if v.State == "" {
		v.State = meta.VolumeAvailable
	}
	if err := mc.CreateVolume(ctx, v); err != nil {
		return v, err
	}
	// The record comes before the check: a deletion of the snapshot that began meanwhile
	// marks it first and checks for volumes after, so one of the two sees the other.
	if s, _, err = mc.Snapshot(ctx, v.FromSnapshot); err == nil && s.State == meta.SnapshotCompleted {
		return v, nil
	}
	why := fmt.Errorf("%w: snapshot %s is being deleted", ErrSnapshotState, v.FromSnapshot)
	if err != nil {
		why = fmt.Errorf("snapshot %s: %w", v.FromSnapshot, err)
	}
	if _, idx, rerr := mc.Volume(ctx, v.ID); rerr == nil {
		if derr := mc.DeleteVolume(ctx, v.ID, idx); derr != nil {
			return v, fmt.Errorf("%w; removing volume %s again: %w", why, v.ID, derr)
		}
	}
	return v, why
}

// SnapshotUnused returns an *SnapshotInUseError if a volume was created from snap or a snapshot being
// taken builds on it.
func SnapshotUnused(ctx context.Context, mc *meta.Client, snap meta.Snapshot) error {
	vols, err := mc.Volumes(ctx)
	if err != nil {
		return fmt.Errorf("list volumes: %w", err)
	}
	snaps, err := mc.Snapshots(ctx)
	if err != nil {
		return fmt.Errorf("list snapshots: %w", err)
	}
	use := &SnapshotInUseError{Snapshot: snap.ID}
	for _, v := range vols {
		if v.FromSnapshot == snap.ID {
			use.Volumes = append(use.Volumes, v.ID)
		}
	}
	for _, c := range snaps {
		if c.Parent == snap.ID && (c.State == meta.SnapshotPending || c.State == meta.SnapshotCreating) {
			use.Children = append(use.Children, c.ID)
		}
	}
	if len(use.Volumes)+len(use.Children) > 0 {
		return use
	}
	return nil
}

var (
	// ErrSnapshotState is returned when a snapshot (or its volume) is in a state that does
	// not allow the call.
	ErrSnapshotState = errors.New("snapshot: wrong state")
	// ErrSnapshotInUse is returned while volumes were created from a snapshot or a snapshot
	// being taken builds on it; see *SnapshotInUseError.
	ErrSnapshotInUse = errors.New("snapshot: in use")
	// ErrSnapshotContention is returned when a conditional write kept losing to concurrent
	// ones.
	ErrSnapshotContention = errors.New("snapshot: too many concurrent changes to the same record")
)

// SnapshotInUseError says who still needs a snapshot that was asked to go.
type SnapshotInUseError struct {
	Snapshot string
	Volumes  []string // created from it
	Children []string // snapshots being created on top of it
}

func (e *SnapshotInUseError) Error() string {
	var who []string
	if len(e.Volumes) > 0 {
		who = append(who, "volumes "+strings.Join(e.Volumes, ", ")+" were created from it")
	}
	if len(e.Children) > 0 {
		who = append(who, "snapshots "+strings.Join(e.Children, ", ")+" are being taken on top of it")
	}
	return fmt.Sprintf("snapshot %s is in use: %s (delete those first)", e.Snapshot, strings.Join(who, "; "))
}

// Unwrap makes a SnapshotInUseError match ErrSnapshotInUse.
func (e *SnapshotInUseError) Unwrap() error { return ErrSnapshotInUse }

// snapshotAttempts bounds the retries of a conditional write that loses to concurrent ones.
const snapshotAttempts = 64

// snapshotBackoff sleeps a jittered time growing with attempt (1 ms to about 100 ms), or
// until ctx ends.
func snapshotBackoff(ctx context.Context, attempt int) error {
	d := time.Millisecond << min(attempt, 7)
	d = d/2 + rand.N(d)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
