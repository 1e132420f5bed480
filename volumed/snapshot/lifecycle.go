package snapshot

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"stratus/internal/hlc"
	"stratus/meta/client"
	vclient "stratus/volumed/client"
)

// Complete writes m as the manifest of snap and marks the snapshot completed, with the
// progress counters of snap (ChunksTotal, ChunksCopied, StoredBytes, Generation, Parent).
// The record must be creating, or deleting (an operator asked it to go meanwhile: the
// manifest is still recorded so that Delete releases its references). On error the caller
// still holds the references of m and releases them (Release) if it gives up.
func (s *Store) Complete(ctx context.Context, snap *client.Snapshot, m *Manifest) error {
	if m.SnapshotID != snap.ID || m.VolumeID != snap.VolumeID || m.SizeBytes != snap.SizeBytes || m.ChunkSizeBytes != snap.ChunkSizeBytes {
		return fmt.Errorf("%w: manifest of %s/%s (%d bytes in %d) for snapshot %s/%s (%d in %d)", ErrBadManifest,
			m.SnapshotID, m.VolumeID, m.SizeBytes, m.ChunkSizeBytes, snap.ID, snap.VolumeID, snap.SizeBytes, snap.ChunkSizeBytes)
	}
	// The state is checked before the manifest is written too: a second Complete must not
	// replace the manifest a completed record names.
	if cur, _, err := s.getSnapshot(ctx, snap.ID); err != nil {
		return fmt.Errorf("complete snapshot %s: %w", snap.ID, err)
	} else if err := completable(cur); err != nil {
		return err
	}
	ts, err := s.WriteManifest(ctx, m)
	if err != nil {
		return fmt.Errorf("complete snapshot %s: %w", snap.ID, err)
	}
	for attempt := 0; attempt < s.cfg.Attempts; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
		}
		cur, idx, err := s.getSnapshot(ctx, snap.ID)
		if err != nil {
			return fmt.Errorf("complete snapshot %s: %w", snap.ID, err)
		}
		if err := completable(cur); err != nil {
			return err
		}
		if cur.State == client.SnapshotCreating {
			cur.State = client.SnapshotCompleted
		}
		cur.Manifest, cur.ManifestTimestamp = ManifestName(snap.ID), ts
		cur.CompletedAt = time.Now().UTC()
		cur.ChunksTotal, cur.ChunksCopied, cur.StoredBytes = snap.ChunksTotal, snap.ChunksCopied, snap.StoredBytes
		cur.Generation, cur.Parent, cur.Error = snap.Generation, snap.Parent, ""
		cctx, cancel := s.call(ctx)
		err = s.mc.UpdateSnapshot(cctx, cur, idx)
		cancel()
		if errors.Is(err, client.ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("complete snapshot %s: %w", snap.ID, err)
		}
		*snap = cur
		return nil
	}
	return fmt.Errorf("complete snapshot %s: %w", snap.ID, ErrContention)
}

// completable says why snap cannot be completed: it must be creating, or deleting without
// a manifest yet.
func completable(snap client.Snapshot) error {
	if snap.State == client.SnapshotCreating || snap.State == client.SnapshotDeleting && snap.Manifest == "" {
		return nil
	}
	return fmt.Errorf("%w: completing snapshot %s, which is %s", ErrState, snap.ID, snap.State)
}

// releaseBatch is how many references Delete releases between two records of its cursor.
const releaseBatch = 256

// releasedAll is the ReleaseCursor of a snapshot whose references are all released.
const releasedAll = "all"

// Delete removes snapshot id: it releases the references its manifest holds (deleting the
// chunks no other snapshot holds), then the manifest and the record. It refuses with an
// *InUseError while a volume was created from the snapshot or a snapshot being taken names
// it as its parent, noting the refusal in the record and leaving it completed. A snapshot
// being created is refused with ErrState. An absent snapshot is not an error. Delete may be
// run again after it fails; it resumes where it stopped.
func (s *Store) Delete(ctx context.Context, id string) error {
	snap, idx, err := s.markDeleting(ctx, id)
	if errors.Is(err, client.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete snapshot %s: %w", id, err)
	}
	// The mark comes before the check: a clone or a child created concurrently writes its
	// own record first and then checks that this snapshot is still completed, so one of
	// the two always sees the other. Once releasing has begun (a run before this one
	// passed the check) there is no going back: a clone seen now was made after the mark,
	// saw it, and removes itself.
	if snap.ReleaseCursor == "" {
		if err := s.checkUnused(ctx, snap); err != nil {
			return errors.Join(err, s.refuseDeletion(ctx, id, err))
		}
	}
	s.forgetManifest(id)
	if snap.Manifest != "" && snap.ReleaseCursor != releasedAll {
		m, err := s.ReadManifest(ctx, &snap)
		if err != nil && !errors.Is(err, ErrCorrupt) {
			return fmt.Errorf("delete snapshot %s: %w", id, err)
		}
		if err != nil {
			// Its references cannot be known: leave them (space, not data).
			s.log.Error("deleting a snapshot whose manifest is unreadable; its chunk references leak", "snapshot", id, "err", err)
		} else if snap, idx, err = s.releaseAll(ctx, snap, idx, m.Refs()); err != nil {
			return fmt.Errorf("delete snapshot %s: %w", id, err)
		}
		// Every reference is released: say so before the manifest goes, so a run after a
		// crash here does not look for it.
		snap.ReleaseCursor = releasedAll
		cctx, cancel := s.call(ctx)
		err = s.mc.UpdateSnapshot(cctx, snap, idx)
		cancel()
		if err != nil {
			return fmt.Errorf("delete snapshot %s: record release progress: %w", id, err)
		}
		if snap, idx, err = s.getSnapshot(ctx, id); err != nil {
			return fmt.Errorf("delete snapshot %s: %w", id, err)
		}
	}
	if snap.Manifest != "" {
		cctx, cancel := s.call(ctx)
		_, err = s.px.Delete(cctx, snap.Manifest, nil)
		cancel()
		if err != nil {
			return fmt.Errorf("delete snapshot %s: manifest: %w", id, err)
		}
	}
	cctx, cancel := s.call(ctx)
	defer cancel()
	if err := s.mc.DeleteSnapshot(cctx, id, idx); err != nil && !errors.Is(err, client.ErrNotFound) {
		return fmt.Errorf("delete snapshot %s: record: %w", id, err)
	}
	return nil
}

// markDeleting moves the snapshot to deleting (from pending, completed, error or deleting)
// and returns it with its mod index.
func (s *Store) markDeleting(ctx context.Context, id string) (client.Snapshot, uint64, error) {
	for attempt := 0; attempt < s.cfg.Attempts; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return client.Snapshot{}, 0, err
			}
		}
		snap, idx, err := s.getSnapshot(ctx, id)
		if err != nil {
			return snap, idx, err
		}
		switch snap.State {
		case client.SnapshotDeleting:
			return snap, idx, nil
		case client.SnapshotCreating:
			return snap, idx, fmt.Errorf("%w: it is being created; delete it once it is completed or failed", ErrState)
		}
		snap.State = client.SnapshotDeleting
		cctx, cancel := s.call(ctx)
		err = s.mc.UpdateSnapshot(cctx, snap, idx)
		cancel()
		if errors.Is(err, client.ErrConflict) {
			continue
		}
		if err != nil {
			return snap, idx, err
		}
		return s.getSnapshot(ctx, id)
	}
	return client.Snapshot{}, 0, ErrContention
}

// checkUnused returns an *InUseError if a volume was created from snap or a snapshot being
// taken builds on it.
func (s *Store) checkUnused(ctx context.Context, snap client.Snapshot) error {
	cctx, cancel := s.call(ctx)
	defer cancel()
	return vclient.SnapshotUnused(cctx, s.mc, snap)
}

// refuseDeletion puts a snapshot that may not go back to completed (or error, if it never
// completed), saying why in its Error.
func (s *Store) refuseDeletion(ctx context.Context, id string, why error) error {
	for attempt := 0; attempt < s.cfg.Attempts; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
		}
		snap, idx, err := s.getSnapshot(ctx, id)
		if err != nil {
			return err
		}
		if snap.State != client.SnapshotDeleting || snap.ReleaseCursor != "" {
			return nil
		}
		snap.State = client.SnapshotCompleted
		if snap.Manifest == "" {
			snap.State = client.SnapshotError
		}
		snap.Error = "deletion refused: " + why.Error()
		cctx, cancel := s.call(ctx)
		err = s.mc.UpdateSnapshot(cctx, snap, idx)
		cancel()
		if !errors.Is(err, client.ErrConflict) {
			return err
		}
	}
	return ErrContention
}

// releaseAll releases refs (ascending SHA-256) after snap's ReleaseCursor, a batch at a
// time, recording each batch's end in the record before releasing it. That conditional
// write also keeps two deleters of the same snapshot from releasing the same batch: the
// second one's write conflicts. Then it removes the
// records of the chunks it deleted, once their tombstones can no longer be in flight.
func (s *Store) releaseAll(ctx context.Context, snap client.Snapshot, idx uint64, refs []Ref) (client.Snapshot, uint64, error) {
	var tombstoned []string
	var last hlc.Timestamp
	for len(refs) > 0 {
		if snap.ReleaseCursor != "" && refs[0].Hex() <= snap.ReleaseCursor {
			refs = refs[1:]
			continue
		}
		batch := refs[:min(len(refs), releaseBatch)]
		refs = refs[len(batch):]
		snap.ReleaseCursor = batch[len(batch)-1].Hex()
		cctx, cancel := s.call(ctx)
		err := s.mc.UpdateSnapshot(cctx, snap, idx)
		cancel()
		if err != nil {
			return snap, idx, fmt.Errorf("record release progress: %w", err)
		}
		var err2 error
		if snap, idx, err2 = s.getSnapshot(ctx, snap.ID); err2 != nil {
			return snap, idx, err2
		}
		deleted, ts, err := s.releaseParallel(ctx, batch)
		tombstoned = append(tombstoned, deleted...)
		last = max(last, ts)
		if err != nil {
			// The rest of this batch will not be released again: logged, it leaks.
			s.log.Warn("snapshot deletion interrupted inside a batch; its unreleased references leak",
				"snapshot", snap.ID, "cursor", snap.ReleaseCursor, "err", err)
			return snap, idx, err
		}
	}
	if len(tombstoned) > 0 && s.awaitHoldoff(ctx, last) {
		for _, key := range tombstoned {
			if err := s.forget(ctx, key); err != nil {
				s.log.Warn("deleted snapshot chunk record left behind", "chunk", key, "err", err)
			}
		}
	}
	return snap, idx, nil
}

// releaseParallel releases refs, Parallel at a time. It returns the keys of the chunks it
// deleted and the latest tombstone time.
func (s *Store) releaseParallel(ctx context.Context, refs []Ref) ([]string, hlc.Timestamp, error) {
	var (
		mu      sync.Mutex
		deleted []string
		last    hlc.Timestamp
		errs    []error
		wg      sync.WaitGroup
	)
	sem := make(chan struct{}, s.cfg.Parallel)
	for _, r := range refs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ts, err := s.release(ctx, r)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			} else if ts != 0 {
				deleted = append(deleted, r.Hex())
				last = max(last, ts)
			}
		})
	}
	wg.Wait()
	return deleted, last, errors.Join(errs...)
}

// awaitHoldoff waits until TombstoneHoldoff has passed since tombstone ts was stamped; it
// reports false if ctx ended first (the deleting records then stay, which is harmless).
func (s *Store) awaitHoldoff(ctx context.Context, ts hlc.Timestamp) bool {
	wait := time.Until(ts.Time().Add(s.cfg.TombstoneHoldoff))
	if wait <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (s *Store) getSnapshot(ctx context.Context, id string) (client.Snapshot, uint64, error) {
	cctx, cancel := s.call(ctx)
	defer cancel()
	return s.mc.Snapshot(cctx, id)
}
