package volumed

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"stratus/meta/client"
	objclient "stratus/objectd/client"
	"stratus/ring"
	"stratus/volumed/chunkdev"
)

// ReapConfig tunes how a deleted volume's chunks are removed.
type ReapConfig struct {
	// Host names the reaper in the volume's claim (its attachment while deleting).
	Host string
	// ClaimTTL is the claim's lease; it is renewed every third of it while the reaper works,
	// and lapses if the reaper dies, so another one can take over.
	ClaimTTL time.Duration
	// Concurrency bounds the chunk deletes in flight (one per chunk replica).
	Concurrency int
	// Attempts is how many times one chunk replica's delete is tried in a pass, with a
	// backoff from 100 ms doubling, before the pass gives up and leaves the volume deleting.
	Attempts int
	// CallTimeout bounds each delete call.
	CallTimeout time.Duration
}

// DefaultReapConfig returns the defaults; Host must be set.
func DefaultReapConfig() ReapConfig {
	return ReapConfig{ClaimTTL: DefaultLeaseTTL, Concurrency: 32, Attempts: 4, CallTimeout: 10 * time.Second}
}

// ReapResult says what a reap pass did.
type ReapResult struct {
	Generation uint64 // the claim's generation, which every delete carried
	Chunks     int64  // chunk indices of the volume
	Deletes    int64  // chunk replica deletes that succeeded (a missing chunk counts)
}

// ErrReapIncomplete is returned by Reap when some chunk replica could not be deleted: the
// volume stays deleting and a later pass tries again.
var ErrReapIncomplete = errors.New("volumed: some chunk replicas could not be deleted yet")

// Claim makes host the reaper of volumeID, which must be deleting: with a conditional write it
// stores an attachment for host with a generation one higher than any issued (so its deletes
// fence every earlier holder) and an expiry ttl away. A live claim by anyone is a *HeldError;
// an expired one is taken over. Only one of concurrent claims wins.
func Claim(ctx context.Context, mc *client.Client, volumeID, host string, ttl time.Duration) (Lease, client.Volume, error) {
	for {
		v, idx, err := mc.Volume(ctx, volumeID)
		if err != nil {
			return Lease{}, v, fmt.Errorf("claim volume %s for deletion: %w", volumeID, err)
		}
		if v.State != client.VolumeDeleting {
			return Lease{}, v, fmt.Errorf("claim volume %s for deletion: %w: it is %s", volumeID, ErrState, v.State)
		}
		now := time.Now()
		if a := v.Attachment; live(a, now) {
			return Lease{}, v, &HeldError{VolumeID: volumeID, Host: a.Host, Generation: a.Generation, LeaseExpiresAt: a.LeaseExpiresAt}
		}
		// At MaxGeneration no higher one exists; the last one still fences every older holder.
		gen := min(v.LastGeneration+1, MaxGeneration)
		l := Lease{VolumeID: volumeID, Host: host, Generation: gen, ExpiresAt: now.Add(ttl).UTC(), AttachedAt: now.UTC(), TTL: ttl, Previous: v.Attachment}
		v.LastGeneration = gen
		v.Attachment = &client.VolumeAttachment{Host: host, Generation: gen, LeaseExpiresAt: l.ExpiresAt, AttachedAt: l.AttachedAt}
		err = mc.UpdateVolume(ctx, v, idx)
		if errors.Is(err, client.ErrConflict) {
			continue
		}
		if err != nil {
			return Lease{}, v, fmt.Errorf("claim volume %s for deletion: %w", volumeID, err)
		}
		return l, v, nil
	}
}

// Reap removes a deleting volume: it claims it (Claim), deletes every chunk index of the
// volume on every replica the ring r names, with the claim's generation, and, only when every
// delete succeeded, deletes the record (on the claim still being held). If a replica cannot
// be reached it returns ErrReapIncomplete and leaves its claim to lapse: the record stays
// deleting, and a pass after the claim's expiry (by any volumed) tries again. A live claim by another reaper is a *HeldError; a volume that is gone is
// client.ErrNotFound.
func Reap(ctx context.Context, mc *client.Client, cl *objclient.Client, r *ring.Ring, volumeID string, cfg ReapConfig) (ReapResult, error) {
	if r == nil {
		return ReapResult{}, errors.New("reap: no ring yet")
	}
	l, v, err := Claim(ctx, mc, volumeID, cfg.Host, cfg.ClaimTTL)
	if err != nil {
		return ReapResult{}, err
	}
	res := ReapResult{Generation: l.Generation, Chunks: (v.SizeBytes + v.ChunkSizeBytes - 1) / v.ChunkSizeBytes}

	// The claim is kept while the deletes run; losing it (an operator detached it, or it
	// lapsed while meta was away and another reaper took over) stops this pass.
	kctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	kept := make(chan error, 1)
	go func() {
		err := Keep(kctx, mc, l, nil)
		if err != nil {
			cancel(err)
		}
		kept <- err
	}()
	deletes, failed, derr := deleteChunks(kctx, cl, r, volumeID, res.Chunks, l.Generation, cfg)
	res.Deletes = deletes
	cancel(nil)
	if kerr := <-kept; kerr != nil {
		return res, fmt.Errorf("reap volume %s: claim lost: %w", volumeID, kerr)
	}
	if derr != nil || failed > 0 {
		// The claim is left to lapse rather than given back: its expiry paces the next pass,
		// which every volumed would otherwise start at once.
		if derr == nil {
			derr = ErrReapIncomplete
		}
		return res, fmt.Errorf("reap volume %s: %d chunk replica deletes failed: %w", volumeID, failed, derr)
	}
	for {
		cur, idx, err := mc.Volume(ctx, volumeID)
		if err != nil {
			return res, fmt.Errorf("reap volume %s: %w", volumeID, err)
		}
		if a := cur.Attachment; a == nil || a.Generation != l.Generation {
			return res, fmt.Errorf("reap volume %s: %w: claim of generation %d lost before the record was deleted", volumeID, ErrFenced, l.Generation)
		}
		err = mc.DeleteVolume(ctx, volumeID, idx)
		if errors.Is(err, client.ErrConflict) {
			continue
		}
		if err != nil {
			return res, fmt.Errorf("reap volume %s: %w", volumeID, err)
		}
		return res, nil
	}
}

// deleteChunks deletes chunks 0..chunks-1 of volumeID on each of their replicas at gen, with
// at most cfg.Concurrency calls in flight. It returns the deletes that succeeded and the
// replicas that still failed after cfg.Attempts tries; err is set only when ctx ended.
func deleteChunks(ctx context.Context, cl *objclient.Client, r *ring.Ring, volumeID string, chunks int64, gen uint64, cfg ReapConfig) (deleted, failed int64, err error) {
	var ok, bad atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, cfg.Concurrency))
	devs := make([]*ring.Device, 0, r.Replicas())
	for i := int64(0); i < chunks && gctx.Err() == nil; i++ {
		name := chunkdev.ChunkName(volumeID, i)
		p := r.Partition(name)
		devs = r.Primaries(p, devs[:0])
		for _, dev := range devs {
			t := objclient.Target{Host: dev.Host, Device: dev.Name, Partition: uint32(p)}
			g.Go(func() error {
				if deleteReplica(gctx, cl, t, name, gen, cfg) == nil {
					ok.Add(1)
				} else {
					bad.Add(1)
				}
				return nil
			})
		}
	}
	g.Wait()
	return ok.Load(), bad.Load(), context.Cause(ctx)
}

// deleteReplica deletes one chunk replica, retrying with backoff.
func deleteReplica(ctx context.Context, cl *objclient.Client, t objclient.Target, name string, gen uint64, cfg ReapConfig) error {
	wait := 100 * time.Millisecond
	var err error
	for attempt := 0; attempt < max(1, cfg.Attempts); attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
			wait *= 2
		}
		cctx, cancel := context.WithTimeout(ctx, cfg.CallTimeout)
		err = cl.DeleteChunk(cctx, t, name, gen)
		cancel()
		if err == nil || errors.Is(err, objclient.ErrFenced) {
			// Fenced: a newer claim is deleting it; this pass will find its claim lost.
			return err
		}
	}
	return err
}
