package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"stratus/internal/testutil"
)

// stopWait is how long a stopped server or command may take to return. Its own shutdown
// deadlines are shorter; past this it is stuck, and the test says so with every
// goroutine's stack instead of hanging until the test binary's timeout.
const stopWait = time.Minute

// running is a server or command a test runs in the background.
type running struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when run has returned, with err set
	err    error
	stuck  error // what the first stop that timed out reported
}

// runInBackground calls run with a child of ctx that stop cancels.
func runInBackground(ctx context.Context, run func(context.Context) error) *running {
	ctx, cancel := context.WithCancel(ctx)
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = run(ctx)
	}()
	return r
}

// exited returns run's error once it has returned, and nil while it runs.
func (r *running) exited() error {
	select {
	case <-r.done:
		if r.err == nil {
			return fmt.Errorf("returned early without an error")
		}
		return r.err
	default:
		return nil
	}
}

// stop cancels run's context and waits for it to return (see finishWithin); it may be
// called more than once, and once it has timed out it does not wait again. Run's own error
// is in err. Not safe for concurrent use.
func (r *running) stop() error {
	if r.stuck == nil {
		r.stuck = finishWithin("stopped", func() { r.cancel(); <-r.done })
	}
	return r.stuck
}

// stopOrFail stops r and fails t if it does not return.
func (r *running) stopOrFail(t testing.TB) {
	t.Helper()
	if err := r.stop(); err != nil {
		t.Error(err)
	}
}

// finishWithin calls f and waits stopWait for it to return. Past that it leaves f running
// and returns a report of what is stuck, with every goroutine's stack.
func finishWithin(what string, f func()) error {
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
		return nil
	case <-time.After(stopWait):
		return fmt.Errorf("still running %v after being %s; goroutines:\n%s", stopWait, what, testutil.Stacks())
	}
}

// startServer runs a stratus server with f until the test ends (or stop) and returns it
// once it serves, with the credentials it printed; one that fails to start fails t.
func startServer(t testing.TB, ctx context.Context, f serverFlags) (adminCredentials, *running) {
	t.Helper()
	creds, srv, err := launchServer(t, ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	return creds, srv
}

// launchServer is startServer returning the error of a server that did not start.
func launchServer(t testing.TB, ctx context.Context, f serverFlags) (adminCredentials, *running, error) {
	ready := make(chan adminCredentials, 1)
	srv := runInBackground(ctx, func(ctx context.Context) error {
		return runServer(ctx, f, func(c adminCredentials) { ready <- c })
	})
	t.Cleanup(func() { srv.stopOrFail(t) })
	select {
	case c := <-ready:
		return c, srv, nil
	case <-srv.done:
		return adminCredentials{}, srv, fmt.Errorf("start server: %w", srv.err)
	case <-ctx.Done():
		return adminCredentials{}, srv, fmt.Errorf("server not ready: %w", ctx.Err())
	}
}
