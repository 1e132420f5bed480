package snapshot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"stratus/meta/client"
)

// The calls below change snapshot and volume records only (no object store): an
// operator's tools make them with an admin certificate, and the volume daemons do the
// work they ask for.

// Request asks for a snapshot of volume volID: it stores a pending record of the volume's
// current size and chunk size. The volumed serving the volume takes it up (creating: the
// point in time is fixed), copies the chunks and completes it.
func Request(ctx context.Context, mc *client.Client, volID string) (client.Snapshot, error) {
	v, _, err := mc.Volume(ctx, volID)
	if err != nil {
		return client.Snapshot{}, fmt.Errorf("volume %s: %w", volID, err)
	}
	switch v.State {
	case client.VolumeAvailable, client.VolumeInUse:
	default:
		return client.Snapshot{}, fmt.Errorf("%w: volume %s is %s; only an available or in-use volume can be snapshotted", ErrState, volID, v.State)
	}
	s := client.Snapshot{ID: client.NewSnapshotID(), VolumeID: v.ID, SizeBytes: v.SizeBytes, ChunkSizeBytes: v.ChunkSizeBytes,
		State: client.SnapshotPending, CreatedAt: time.Now().UTC()}
	if err := mc.CreateSnapshot(ctx, s); err != nil {
		return client.Snapshot{}, err
	}
	return s, nil
}

// Await waits until snapshot id satisfies done, following the table's changes, and returns
// it; ctx bounds the wait (an error wrapping ctx.Err() returns the last record seen too).
// A snapshot that disappears is client.ErrNotFound.
func Await(ctx context.Context, mc *client.Client, id string, done func(client.Snapshot) bool) (client.Snapshot, error) {
	var last client.Snapshot // as last read; the zero record before the first read
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
		if _, err := mc.Watch(ctx, client.TableSnapshots, id, idx, wait); err != nil {
			if ctx.Err() != nil {
				return s, fmt.Errorf("snapshot %s is still %s: %w", id, s.State, ctx.Err())
			}
			if err := backoff(ctx, 7); err != nil {
				return s, fmt.Errorf("snapshot %s is still %s: %w", id, s.State, err)
			}
		}
	}
}

// RequestDelete asks for snapshot id to go: it marks the record deleting, and a volumed
// releases its chunks and removes it (Store.Delete). It refuses with an *InUseError while
// a volume was created from the snapshot or a snapshot is being taken on top of it, and
// with ErrState while the snapshot is being created. Store.Delete checks again, after its
// own mark, so a clone created meanwhile is not lost either.
func RequestDelete(ctx context.Context, mc *client.Client, id string) (client.Snapshot, error) {
	for attempt := 0; attempt < DefaultConfig().Attempts; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return client.Snapshot{}, err
			}
		}
		s, idx, err := mc.Snapshot(ctx, id)
		if err != nil {
			return s, fmt.Errorf("snapshot %s: %w", id, err)
		}
		switch s.State {
		case client.SnapshotDeleting:
			return s, nil
		case client.SnapshotCreating:
			return s, fmt.Errorf("%w: snapshot %s is being created; delete it once it is completed or failed", ErrState, id)
		}
		if err := checkUnused(ctx, mc, s); err != nil {
			return s, err
		}
		s.State, s.Error = client.SnapshotDeleting, ""
		if err := mc.UpdateSnapshot(ctx, s, idx); errors.Is(err, client.ErrConflict) {
			continue
		} else if err != nil {
			return s, err
		}
		return s, nil
	}
	return client.Snapshot{}, ErrContention
}

// CreateVolume stores volume v made from snapshot v.FromSnapshot, which must be completed.
// A zero SizeBytes becomes the snapshot's; a larger one grows the volume past it (a smaller
// one is refused); the chunk size is the snapshot's. The volume is available at once: its
// chunks are read from the snapshot until written (copy-on-write).
func CreateVolume(ctx context.Context, mc *client.Client, v client.Volume) (client.Volume, error) {
	s, _, err := mc.Snapshot(ctx, v.FromSnapshot)
	if err != nil {
		return v, fmt.Errorf("snapshot %s: %w", v.FromSnapshot, err)
	}
	if s.State != client.SnapshotCompleted {
		return v, fmt.Errorf("%w: snapshot %s is %s; volumes are created from completed snapshots only", ErrState, s.ID, s.State)
	}
	if v.SizeBytes == 0 {
		v.SizeBytes = s.SizeBytes
	}
	if v.SizeBytes < s.SizeBytes {
		return v, fmt.Errorf("%w: size_bytes (%d) is smaller than snapshot %s (%d bytes)", client.ErrBadRequest, v.SizeBytes, s.ID, s.SizeBytes)
	}
	if v.ChunkSizeBytes != 0 && v.ChunkSizeBytes != s.ChunkSizeBytes {
		return v, fmt.Errorf("%w: chunk_size_bytes (%d) is not snapshot %s's (%d)", client.ErrBadRequest, v.ChunkSizeBytes, s.ID, s.ChunkSizeBytes)
	}
	v.ChunkSizeBytes = s.ChunkSizeBytes
	if v.CreatedAt.IsZero() {
		v.CreatedAt = time.Now().UTC()
	}
	if v.State == "" {
		v.State = client.VolumeAvailable
	}
	if err := mc.CreateVolume(ctx, v); err != nil {
		return v, err
	}
	// The record comes before the check: a deletion of the snapshot that began meanwhile
	// marks it first and checks for volumes after, so one of the two sees the other.
	if s, _, err = mc.Snapshot(ctx, v.FromSnapshot); err == nil && s.State == client.SnapshotCompleted {
		return v, nil
	}
	why := fmt.Errorf("%w: snapshot %s is being deleted", ErrState, v.FromSnapshot)
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

// checkUnused returns an *InUseError if a volume was created from snap or a snapshot being
// taken builds on it.
func checkUnused(ctx context.Context, mc *client.Client, snap client.Snapshot) error {
	vols, err := mc.Volumes(ctx)
	if err != nil {
		return fmt.Errorf("list volumes: %w", err)
	}
	snaps, err := mc.Snapshots(ctx)
	if err != nil {
		return fmt.Errorf("list snapshots: %w", err)
	}
	use := &InUseError{Snapshot: snap.ID}
	for _, v := range vols {
		if v.FromSnapshot == snap.ID {
			use.Volumes = append(use.Volumes, v.ID)
		}
	}
	for _, c := range snaps {
		if c.Parent == snap.ID && (c.State == client.SnapshotPending || c.State == client.SnapshotCreating) {
			use.Children = append(use.Children, c.ID)
		}
	}
	if len(use.Volumes)+len(use.Children) > 0 {
		return use
	}
	return nil
}
