package proxy

import (
	"context"
	"errors"
	"fmt"

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

// tombstones writes a deletion of name at ts to its replicas.
func (p *Proxy) tombstones(ctx context.Context, pl placement, name string, ts hlc.Timestamp) error {
	replicas := pl.ring.Replicas()
	var errs []error
	done := 0
	for t := range p.candidates(pl) {
		if done == replicas || len(errs) >= replicas {
			break
		}
		dctx, cancel := context.WithTimeout(ctx, p.cfg.NodeTimeout)
		err := p.nodes.Delete(dctx, t, name, ts)
		cancel()
		if err == nil || errors.Is(err, client.ErrConflict) {
			// A newer version there already supersedes this delete.
			done++
			p.lim.ok(t.Host)
			continue
		}
		p.lim.failed(t.Host)
		errs = append(errs, fmt.Errorf("%s: %w", t, err))
	}
	if done < Quorum(replicas) {
		return &QuorumError{Op: "delete", Want: Quorum(replicas), Got: done, Errs: errs}
	}
	return nil
}
