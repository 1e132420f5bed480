package volumed

import (
	"context"
	"errors"
	"time"

	"stratus/meta/client"
)

// startReaper starts removing deleted volume id in the background unless this server already
// is. Every server following the table may try; the claim (Claim) lets one work at a time.
func (s *Server) startReaper(ctx context.Context, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reaping[id] {
		return
	}
	s.reaping[id] = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			delete(s.reaping, id)
			s.mu.Unlock()
		}()
		s.reap(ctx, id)
	}()
}

// reap runs reap passes over id until one removes it, another reaper holds it, it is no
// longer deleting, or ctx ends. After a failed pass (a replica down) its claim is left to
// lapse, and the next pass waits for that: at least the claim TTL between passes.
func (s *Server) reap(ctx context.Context, id string) {
	for {
		select {
		case <-ctx.Done():
			return
		case s.reapers <- struct{}{}:
		}
		start := time.Now()
		res, err := Reap(ctx, s.mc, s.cl, s.ring(), id, s.cfg.Reap)
		<-s.reapers
		switch {
		case err == nil:
			s.log.Info("deleted volume", "volume", id, "generation", res.Generation, "chunks", res.Chunks, "replica_deletes", res.Deletes, "took", time.Since(start))
			return
		case errors.Is(err, client.ErrNotFound), errors.Is(err, ErrState), ctx.Err() != nil:
			return // gone, or no longer deleting
		}
		var held *HeldError
		if errors.As(err, &held) && held.Host != s.cfg.Host {
			return // another volumed is at it; if it dies, its claim lapses and reconcile starts over
		}
		wait := s.cfg.Reap.ClaimTTL
		if held != nil {
			wait = time.Until(held.LeaseExpiresAt) + 100*time.Millisecond
		} else {
			s.log.Warn("volume deletion incomplete; trying again once the claim lapses", "volume", id, "replica_deletes", res.Deletes, "retry_in", wait, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
