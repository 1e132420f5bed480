package objectd

import (
	"context"
	"sync"
	"time"
)

// throttle paces byte streams to a rate shared by all its callers: each call reserves the
// next slot of time its bytes take at that rate and waits for the slot to start. A nil
// throttle, or a zero rate, never waits.
type throttle struct {
	bytesPerSec int64
	mu          sync.Mutex
	next        time.Time
}

func newThrottle(bytesPerSec int64) *throttle {
	if bytesPerSec <= 0 {
		return nil
	}
	return &throttle{bytesPerSec: bytesPerSec}
}

// wait blocks until n more bytes may pass, or ctx ends.
func (t *throttle) wait(ctx context.Context, n int) error {
	if t == nil {
		return ctx.Err()
	}
	t.mu.Lock()
	now := time.Now()
	if t.next.Before(now) {
		t.next = now
	}
	start := t.next
	t.next = t.next.Add(time.Duration(float64(n) / float64(t.bytesPerSec) * float64(time.Second)))
	t.mu.Unlock()
	d := start.Sub(now)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
