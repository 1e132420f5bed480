package meta

import (
	"math"
	"testing"
	"time"

	"stratus/meta/client"
)

// TestWatchWait: a watch waits what it asks for, none for nothing or less, and at most
// MaxWatchWait.
func TestWatchWait(t *testing.T) {
	for _, c := range []struct {
		seconds float64
		want    time.Duration
	}{
		{0, 0}, {-3, 0}, {math.NaN(), 0}, {0.25, 250 * time.Millisecond}, {60, time.Minute},
		{client.MaxWatchWait.Seconds(), client.MaxWatchWait}, {1e300, client.MaxWatchWait}, {math.Inf(1), client.MaxWatchWait},
	} {
		if got := watchWait(c.seconds); got != c.want {
			t.Errorf("watchWait(%g) = %v, want %v", c.seconds, got, c.want)
		}
	}
}
