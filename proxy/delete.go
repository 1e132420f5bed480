package proxy

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync/atomic"
	"time"

	"stratus/internal/hlc"
	"stratus/objectd/client"
)

// Delete removes name. It stamps the deletion, runs commit with that timestamp (the
// index entry's removal, which is what makes the delete visible and durable), and then
// writes tombstones to the replicas, replacing unreachable ones with handoffs. A failed
// commit fails the delete and leaves the data alone; tombstones that miss their quorum
// only cost space, since nothing indexed points at the data any more, and are logged.
func (p *Proxy) Delete(ctx context.Context, name string, commit func(context.Context, hlc.Timestamp) error) (hlc.Timestamp, error) {
	pl, err := p.place(name)
	if err != nil {
		return 0, err
	}
	ts := p.clock.Next()
	if commit != nil {
		if err := commit(ctx, ts); err != nil {
			return 0, err
		}
	}
	if err := p.tombstones(ctx, pl, name, ts); err != nil {
		p.log.Warn("delete committed but tombstones short of quorum", "key", name, "err", err)
	}
	return ts, nil
}

// tombstones writes a deletion of name at ts to its replicas, all at once, replacing
// those that fail with handoffs. Once a quorum holds it, the rest get a grace period
// (postQuorumGrace).
func (p *Proxy) tombstones(ctx context.Context, pl placement, name string, ts hlc.Timestamp) error {
	replicas := pl.ring.Replicas()
	pull, stop := iter.Pull(p.candidates(pl))
	defer stop()
	callCtx, giveUp := context.WithCancel(ctx)
	defer giveUp()
	var gaveUp atomic.Bool // the replicas still out were given up on after the quorum
	type answer struct {
		t   client.Target
		err error
	}
	answers := make(chan answer)
	inflight := 0
	send := func() bool {
		t, ok := p.try(opDelete, pull)
		if !ok {
			return false
		}
		inflight++
		go func() {
			start := time.Now()
			dctx, cancel := context.WithTimeout(callCtx, p.cfg.NodeTimeout)
			defer cancel()
			err := p.nodes.Delete(dctx, t, name, ts)
			p.m.replica(opDelete, start, err, gaveUp.Load())
			p.observeErr(err)
			answers <- answer{t, err}
		}()
		return true
	}
	for range replicas {
		if !send() {
			break
		}
	}
	var errs []error
	var postQuorum <-chan time.Time
	done := 0
	start := time.Now()
	for inflight > 0 {
		select {
		case a := <-answers:
			inflight--
			if a.err == nil || errors.Is(a.err, client.ErrConflict) {
				// A newer version there already supersedes this delete.
				done++
				p.lim.ok(a.t.Host)
				if done == Quorum(replicas) {
					postQuorum = time.After(p.postQuorumGrace(time.Since(start)))
				}
				continue
			}
			errs = append(errs, fmt.Errorf("%s: %w", a.t, a.err))
			if refused(a.err) {
				continue // dated ahead of the node's clock: a handoff would refuse it too
			}
			if callCtx.Err() == nil {
				p.lim.failed(a.t.Host)
			}
			if callCtx.Err() == nil && len(errs) < replicas && done+inflight < replicas {
				send()
			}
		case <-postQuorum:
			gaveUp.Store(true)
			giveUp()
		}
	}
	if done < Quorum(replicas) {
		p.m.quorumFailures.WithLabelValues(opDelete).Inc()
		return &QuorumError{Op: "delete", Want: Quorum(replicas), Got: done, Errs: errs}
	}
	return nil
}
