package proxy

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"

	"stratus/internal/hlc"
	"stratus/objectd/client"
)

// Get opens version of name (zero: whatever version the first replica holds) for reading,
// rng nil meaning the whole object. It asks the primaries, then the handoffs, and returns
// the first replica that holds exactly that version; ErrNotFound if every replica asked
// said it has no such version, ErrUnavailable if too few answered. It asks one replica at
// a time, moving on at once when one fails and also asking the next when one has not
// answered within SlowReadTimeout; the first good answer wins. A replica that sends
// nothing for NodeTimeout — no answer, or no body bytes — is given up on. The caller
// closes the returned Body.
func (p *Proxy) Get(ctx context.Context, name string, version hlc.Timestamp, rng *client.Range) (*client.Object, error) {
	pl, err := p.place(name)
	if err != nil {
		return nil, err
	}
	attempts := p.cfg.ReadAttempts
	if attempts == 0 {
		attempts = 2 * pl.ring.Replicas()
	}
	pull, stop := iter.Pull(p.candidates(pl))
	defer stop()
	type answer struct {
		t   client.Target
		obj *client.Object
		wd  *watchdog
		err error
	}
	answers := make(chan answer)
	var pending []*watchdog // calls in flight, to cancel once one wins
	ask := func() bool {
		if attempts == 0 {
			return false
		}
		t, ok := p.try(opGet, pull)
		if !ok {
			return false
		}
		attempts--
		wctx, wd := newWatchdog(ctx, p.cfg.NodeTimeout)
		pending = append(pending, wd)
		go func() {
			start := time.Now()
			obj, err := p.nodes.GetVersion(wctx, t, name, version, rng)
			if err == nil && version != 0 && obj.Timestamp != version {
				p.m.record(opGet, start, resultStale)
			} else {
				p.m.replica(opGet, start, err, wd.fired.Load())
			}
			answers <- answer{t, obj, wd, err}
		}()
		return true
	}
	// abandon cancels the calls still in flight and disposes of their answers.
	abandon := func() {
		for _, wd := range pending {
			wd.stop()
		}
		go func(n int) {
			for range n {
				if a := <-answers; a.err == nil {
					a.obj.Body.Close()
				}
			}
		}(len(pending))
	}
	slow := time.NewTimer(p.cfg.SlowReadTimeout)
	defer slow.Stop()
	var errs []error
	answered := 0
	ask()
	for len(pending) > 0 {
		var a answer
		select {
		case a = <-answers:
		case <-slow.C:
			ask()
			slow.Reset(p.cfg.SlowReadTimeout)
			continue
		}
		pending = slices.DeleteFunc(pending, func(wd *watchdog) bool { return wd == a.wd })
		err := a.err
		if err == nil {
			p.observe(a.obj.Timestamp)
		} else {
			p.observeErr(err) // a deletion's time
		}
		if err == nil && (version == 0 || a.obj.Timestamp == version) {
			p.lim.ok(a.t.Host)
			abandon()
			a.obj.Body = &watchedBody{ReadCloser: a.obj.Body, w: a.wd}
			return a.obj, nil
		}
		if err == nil {
			a.obj.Body.Close()
		}
		a.wd.stop()
		switch {
		case err == nil:
			answered++
			errs = append(errs, fmt.Errorf("%s: holds version %v, want %v", a.t, a.obj.Timestamp, version))
		case errors.Is(err, client.ErrRange):
			abandon()
			return nil, err
		case errors.Is(err, client.ErrNotFound):
			answered++
			p.lim.ok(a.t.Host)
			errs = append(errs, fmt.Errorf("%s: %w", a.t, err))
		case ctx.Err() != nil:
			abandon()
			return nil, ctx.Err()
		default:
			if !errors.Is(err, client.ErrCorrupt) {
				p.lim.failed(a.t.Host)
			}
			errs = append(errs, fmt.Errorf("%s: %w", a.t, err))
		}
		ask()
		slow.Reset(p.cfg.SlowReadTimeout)
	}
	if answered >= Quorum(pl.ring.Replicas()) {
		return nil, fmt.Errorf("%w: %s version %v: %w", ErrNotFound, name, version, errors.Join(errs...))
	}
	p.m.quorumFailures.WithLabelValues(opGet).Inc()
	return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, name, errors.Join(errs...))
}
