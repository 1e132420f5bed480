package ring

import (
	"testing"
	"time"
)

func TestBigAddHost(t *testing.T) {
	if testing.Short() {
		t.Skip()
	}
	b := newTestBuilder(t, 18, 3, 1)
	addTopology(t, b, topology{2, 4, 16, 8, 100}, 0)
	now := time.Unix(1_800_000_000, 0)
	rep := rebalance(t, b, 1, now)
	t.Logf("initial: %v moved=%d placed=%d balance=%.3f%% disp=%.3f%% levels=%+v warn=%v", rep.Duration, rep.Moved, rep.Placed, rep.Balance, rep.Dispersion, rep.Levels, rep.Warnings)
	addTopology(t, b, topology{1, 1, 1, 8, 100}, 16)
	rep = rebalance(t, b, 2, now.Add(2*time.Hour))
	ideal := float64(8*100) / float64(1032*100) * float64(3<<18)
	t.Logf("add host: %v moved=%d ideal=%.0f ratio=%.3f balance=%.3f%% disp=%.3f%% levels=%+v warn=%v", rep.Duration, rep.Moved, ideal, float64(rep.Moved)/ideal, rep.Balance, rep.Dispersion, rep.Levels, rep.Warnings)
}
