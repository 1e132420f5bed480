package objectd

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestThrottleReservesTimeAndHonoursCancel(t *testing.T) {
	if newThrottle(0) != nil {
		t.Fatal("zero rate must mean no throttle")
	}
	var none *throttle
	if err := none.wait(context.Background(), 1<<30); err != nil {
		t.Fatalf("nil throttle waited: %v", err)
	}
	th := newThrottle(1000) // bytes per second
	start := time.Now()
	if err := th.wait(context.Background(), 10_000); err != nil { // first call passes at once
		t.Fatal(err)
	}
	if got := th.next.Sub(start); got < 10*time.Second || got > 11*time.Second {
		t.Fatalf("10 kB at 1 kB/s reserved %v, want about 10s", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := th.wait(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait behind a reservation with a cancelled context = %v", err)
	}
}
