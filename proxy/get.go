package proxy

import (
	"context"
	"errors"
	"fmt"

	"stratus/internal/hlc"
	"stratus/objectd/client"
)

// Get opens version of name (zero: whatever version the first replica holds) for reading,
// rng nil meaning the whole object. It asks the primaries, then the handoffs, and returns
// the first replica that holds exactly that version; ErrNotFound if every replica asked
// said it has no such version, ErrUnavailable if too few answered. A replica that sends
// nothing for NodeTimeout — no answer, or no body bytes — is given up on. The caller closes
// the returned Body.
func (p *Proxy) Get(ctx context.Context, name string, version hlc.Timestamp, rng *client.Range) (*client.Object, error) {
	pl, err := p.place(name)
	if err != nil {
		return nil, err
	}
	attempts := p.cfg.ReadAttempts
	if attempts == 0 {
		attempts = 2 * pl.ring.Replicas()
	}
	var errs []error
	answered := 0
	for t := range p.candidates(pl) {
		if attempts == 0 {
			break
		}
		attempts--
		wctx, wd := newWatchdog(ctx, p.cfg.NodeTimeout)
		obj, err := p.nodes.Get(wctx, t, name, rng)
		if err != nil || (version != 0 && obj.Timestamp != version) {
			if err == nil {
				obj.Body.Close()
			}
			wd.stop()
		}
		switch {
		case err == nil && (version == 0 || obj.Timestamp == version):
			p.lim.ok(t.Host)
			obj.Body = &watchedBody{ReadCloser: obj.Body, w: wd}
			return obj, nil
		case err == nil:
			answered++
			errs = append(errs, fmt.Errorf("%s: holds version %v, want %v", t, obj.Timestamp, version))
			continue
		case errors.Is(err, client.ErrRange):
			return nil, err
		case errors.Is(err, client.ErrNotFound):
			answered++
			p.lim.ok(t.Host)
		case ctx.Err() != nil:
			return nil, ctx.Err()
		default:
			if !errors.Is(err, client.ErrCorrupt) {
				p.lim.failed(t.Host)
			}
		}
		errs = append(errs, fmt.Errorf("%s: %w", t, err))
	}
	if answered >= Quorum(pl.ring.Replicas()) {
		return nil, fmt.Errorf("%w: %s version %v: %w", ErrNotFound, name, version, errors.Join(errs...))
	}
	return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, name, errors.Join(errs...))
}
