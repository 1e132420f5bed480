package libvirtdriver

import (
	"context"
	"fmt"
)

// opConnect is the call that opens the connection (every other call first makes sure there
// is one).
const opConnect = "connect"

// call runs fn, a blocking libvirt call, and returns its result, or ctx's error once ctx is
// done. The call itself cannot be interrupted: it finishes in the background and its result
// is dropped, which is why a connection to a daemon keeps libvirt's keepalive on.
func call[T any](ctx context.Context, d *Driver, op string, fn func() (T, error)) (T, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.cfg.CallTimeout)
		defer cancel()
	}
	if op != opConnect {
		if err := d.ensure(ctx); err != nil {
			var zero T
			return zero, fmt.Errorf("libvirt %s: %w", op, err)
		}
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := fn()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, fmt.Errorf("libvirt %s: %w", op, ctx.Err())
	}
}

// call0 is call for functions with no result.
func call0(ctx context.Context, d *Driver, op string, fn func() error) error {
	_, err := call(ctx, d, op, func() (struct{}, error) { return struct{}{}, fn() })
	return err
}
