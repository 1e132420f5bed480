package proxy

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// watchdog cancels a call when it makes no progress for idle: no response headers, or no
// body bytes, for that long. Streaming calls cannot have one overall deadline — a large
// object legitimately takes minutes — but a node that has stopped answering must not hold
// a request forever.
type watchdog struct {
	cancel context.CancelFunc
	idle   time.Duration
	mu     sync.Mutex
	timer  *time.Timer
	fired  atomic.Bool // the call was cancelled for making no progress
}

// newWatchdog derives a context from ctx that the watchdog cancels after idle without a
// kick.
func newWatchdog(ctx context.Context, idle time.Duration) (context.Context, *watchdog) {
	ctx, cancel := context.WithCancel(ctx)
	w := &watchdog{cancel: cancel, idle: idle}
	w.timer = time.AfterFunc(idle, func() {
		w.fired.Store(true)
		cancel()
	})
	return ctx, w
}

// kick records progress.
func (w *watchdog) kick() {
	w.mu.Lock()
	w.timer.Reset(w.idle)
	w.mu.Unlock()
}

// stop ends the watch and releases the context.
func (w *watchdog) stop() {
	w.mu.Lock()
	w.timer.Stop()
	w.mu.Unlock()
	w.cancel()
}

// watchedBody is a response body whose reads keep the watchdog quiet; closing it stops
// the watch.
type watchedBody struct {
	io.ReadCloser
	w *watchdog
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.w.kick()
	}
	return n, err
}

func (b *watchedBody) Close() error {
	err := b.ReadCloser.Close()
	b.w.stop()
	return err
}
