package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"stratus/internal/hlc"
	"stratus/meta/client"
	objclient "stratus/objectd/client"
	"stratus/proxy"
)

// acquire adds a reference to ref's content and sets ref.Timestamp to the object's version.
// data, if not nil, is the content: it is uploaded when no stored object holds it
// (ref.Uploaded). Without data, a chunk that is not stored is ErrChunkGone.
func (s *Store) acquire(ctx context.Context, ref *Ref, data []byte) error {
	key := ref.Hex()
	for attempt := 0; attempt < s.cfg.Attempts; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
		}
		rec, idx, err := s.getChunk(ctx, key)
		absent := errors.Is(err, client.ErrNotFound)
		if err != nil && !absent {
			return err
		}
		switch {
		case absent || rec.State == client.SnapChunkDeleting:
			if data == nil {
				return ErrChunkGone
			}
			// First reference (or a revival): take it, then upload, dated after the last
			// tombstone so a late one cannot remove the upload.
			next := client.SnapChunk{Refs: 1, State: client.SnapChunkLive, Tombstone: rec.Tombstone, SizeBytes: int64(len(data))}
			idx, err = s.putChunk(ctx, key, next, idx)
			if errors.Is(err, client.ErrConflict) {
				continue
			}
			if err != nil {
				return err
			}
			ts, err := s.upload(ctx, ChunkName(ref.SHA), data, rec.Tombstone)
			if err != nil {
				s.releaseAfterFailure(ctx, *ref, err)
				return err
			}
			ref.Timestamp, ref.Uploaded = ts, true
			// Usually nobody touched the record during the upload: write the version at
			// the index of our own write, and read again only if that conflicts.
			next.Timestamp = ts
			if _, err := s.putChunk(ctx, key, next, idx); err == nil {
				return nil
			} else if !errors.Is(err, client.ErrConflict) {
				s.releaseAfterFailure(ctx, *ref, err)
				return err
			}
			if err := s.recordVersion(ctx, key, ts); err != nil {
				s.releaseAfterFailure(ctx, *ref, err)
				return err
			}
			return nil
		default: // live
			rec.Refs++
			idx, err = s.putChunk(ctx, key, rec, idx)
			if errors.Is(err, client.ErrConflict) {
				continue
			}
			if err != nil {
				return err
			}
			if rec.Timestamp != 0 {
				ref.Timestamp = rec.Timestamp
				return nil
			}
			return s.awaitUpload(ctx, ref, data)
		}
	}
	return fmt.Errorf("%w: %d attempts to reference it", ErrContention, s.cfg.Attempts)
}

// awaitUpload waits, holding a reference, for the acquirer that is uploading ref's content
// to record its version; after UploadWait it uploads the content itself (if it has it).
func (s *Store) awaitUpload(ctx context.Context, ref *Ref, data []byte) error {
	key := ref.Hex()
	deadline := time.Now().Add(s.cfg.UploadWait)
	for attempt := 1; time.Now().Before(deadline); attempt++ {
		rec, _, err := s.getChunk(ctx, key)
		if err == nil && rec.Timestamp != 0 {
			ref.Timestamp = rec.Timestamp
			return nil
		}
		if err != nil && !errors.Is(err, client.ErrNotFound) {
			s.releaseAfterFailure(ctx, *ref, err)
			return err
		}
		if err := backoff(ctx, min(attempt, 8)); err != nil {
			s.releaseAfterFailure(ctx, *ref, err)
			return err
		}
	}
	if data == nil {
		err := fmt.Errorf("%w: its first upload was not recorded within %v", ErrChunkGone, s.cfg.UploadWait)
		s.releaseAfterFailure(ctx, *ref, err)
		return err
	}
	s.log.Warn("snapshot chunk upload not recorded in time; uploading it again", "chunk", key, "waited", s.cfg.UploadWait)
	rec, _, err := s.getChunk(ctx, key)
	if err != nil {
		s.releaseAfterFailure(ctx, *ref, err)
		return err
	}
	ts, err := s.upload(ctx, ChunkName(ref.SHA), data, rec.Tombstone)
	if err != nil {
		s.releaseAfterFailure(ctx, *ref, err)
		return err
	}
	ref.Timestamp, ref.Uploaded = ts, true
	if err := s.recordVersion(ctx, key, ts); err != nil {
		s.releaseAfterFailure(ctx, *ref, err)
		return err
	}
	return nil
}

// recordVersion records ts as the chunk's object version unless a newer upload recorded
// its own: the replicas keep the newest version, so the record names the newest.
func (s *Store) recordVersion(ctx context.Context, key string, ts hlc.Timestamp) error {
	for attempt := 0; attempt < s.cfg.Attempts; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
		}
		rec, idx, err := s.getChunk(ctx, key)
		if err != nil {
			return fmt.Errorf("record the version of an uploaded chunk: %w", err)
		}
		if rec.State != client.SnapChunkLive {
			// We hold a reference, so the record cannot be deleting.
			return fmt.Errorf("record the version of an uploaded chunk: record is %s while referenced", rec.State)
		}
		if rec.Timestamp >= ts {
			return nil
		}
		rec.Timestamp = ts
		if _, err = s.putChunk(ctx, key, rec, idx); !errors.Is(err, client.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("%w: %d attempts to record a chunk's version", ErrContention, s.cfg.Attempts)
}

// upload stores data as name, dated after notBefore. A replica holding a newer version
// (a tombstone from a faster clock) refuses the write; the proxy's clock has then seen that
// version, so the next attempt is dated after it.
func (s *Store) upload(ctx context.Context, name string, data []byte, notBefore hlc.Timestamp) (hlc.Timestamp, error) {
	var last error
	for attempt := 0; attempt < s.cfg.Attempts; attempt++ {
		ts := s.px.Stamp()
		if ts <= notBefore {
			ts = notBefore + 1
		}
		cctx, cancel := s.call(ctx)
		res, err := s.px.Put(cctx, proxy.PutRequest{Name: name, Timestamp: ts, Length: int64(len(data)),
			ContentType: "application/octet-stream"}, bytes.NewReader(data), nil)
		cancel()
		if err == nil {
			return res.Timestamp, nil
		}
		if !errors.Is(err, objclient.ErrConflict) || ctx.Err() != nil {
			return 0, fmt.Errorf("upload %s: %w", name, err)
		}
		last = err
	}
	return 0, fmt.Errorf("upload %s: %w: %d attempts refused as older than a stored version: %w", name, ErrContention, s.cfg.Attempts, last)
}

// Release gives back a reference to ref's content. The last one deletes the object: the
// record turns deleting with the tombstone's time as the deletion's commit, so an acquirer
// in between either wins (the commit fails and the count is read again) or revives the
// record after it. A zero ref needs nothing.
func (s *Store) Release(ctx context.Context, ref Ref) error {
	if ref.Zero {
		return nil
	}
	_, err := s.release(ctx, ref)
	return err
}

// release is Release; it reports the time of the tombstone it stamped (0 if the content is
// still referenced).
func (s *Store) release(ctx context.Context, ref Ref) (hlc.Timestamp, error) {
	key := ref.Hex()
	for attempt := 0; attempt < s.cfg.Attempts; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return 0, err
			}
		}
		rec, idx, err := s.getChunk(ctx, key)
		if errors.Is(err, client.ErrNotFound) || err == nil && rec.State != client.SnapChunkLive {
			// Not ours to release: a count was lost or released twice. Losing no data
			// matters more than the count, so nothing is deleted.
			s.log.Error("snapshot chunk released without a reference", "chunk", key, "err", err)
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("release snapshot chunk %s: %w", key, err)
		}
		if rec.Refs > 1 {
			rec.Refs--
			if _, err := s.putChunk(ctx, key, rec, idx); errors.Is(err, client.ErrConflict) {
				continue
			} else if err != nil {
				return 0, fmt.Errorf("release snapshot chunk %s: %w", key, err)
			}
			return 0, nil
		}
		cctx, cancel := s.call(ctx)
		ts, err := s.px.Delete(cctx, ChunkName(ref.SHA), func(ctx context.Context, ts hlc.Timestamp) error {
			gone := client.SnapChunk{State: client.SnapChunkDeleting, Tombstone: ts, SizeBytes: rec.SizeBytes}
			_, err := s.putChunk(ctx, key, gone, idx)
			return err
		})
		cancel()
		if errors.Is(err, client.ErrConflict) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("release snapshot chunk %s: %w", key, err)
		}
		return ts, nil
	}
	return 0, fmt.Errorf("release snapshot chunk %s: %w: %d attempts", key, ErrContention, s.cfg.Attempts)
}

// releaseAfterFailure gives back a reference taken by a call that then failed with cause.
// If that fails too the reference leaks (space, not data), which is logged.
func (s *Store) releaseAfterFailure(ctx context.Context, ref Ref, cause error) {
	ctx = context.WithoutCancel(ctx)
	if _, err := s.release(ctx, ref); err != nil {
		s.log.Warn("snapshot chunk reference leaked", "chunk", ref.Hex(), "cause", cause, "err", err)
	}
}

// forget removes the record of a deleted chunk whose tombstone was stamped long enough ago
// that none can still be in flight; a record revived since is left alone.
func (s *Store) forget(ctx context.Context, key string) error {
	rec, idx, err := s.getChunk(ctx, key)
	if errors.Is(err, client.ErrNotFound) || err == nil && rec.State != client.SnapChunkDeleting {
		return nil
	}
	if err != nil {
		return err
	}
	cctx, cancel := s.call(ctx)
	defer cancel()
	if err := s.mc.DeleteSnapChunk(cctx, key, idx); err != nil && !errors.Is(err, client.ErrConflict) {
		return err
	}
	return nil
}

func (s *Store) getChunk(ctx context.Context, key string) (client.SnapChunk, uint64, error) {
	cctx, cancel := s.call(ctx)
	defer cancel()
	return s.mc.SnapChunk(cctx, key)
}

func (s *Store) putChunk(ctx context.Context, key string, rec client.SnapChunk, idx uint64) (uint64, error) {
	cctx, cancel := s.call(ctx)
	defer cancel()
	return s.mc.PutSnapChunk(cctx, key, rec, idx)
}

// backoff sleeps a jittered time growing with attempt (1 ms to about 100 ms), or until
// ctx ends.
func backoff(ctx context.Context, attempt int) error {
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
