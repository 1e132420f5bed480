package chunkdev

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestSharedMetrics: two devices on one Metrics get series under their own volume labels;
// Forget drops one volume's series, and calls its client keeps making on the detached device
// do not bring them back.
func TestSharedMetrics(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	open := func(volume string) *Device {
		cfg := DefaultConfig()
		cfg.Volume, cfg.SizeBytes, cfg.Generation, cfg.Metrics = volume, 8<<20, 1, m
		d, err := New(cfg, e.st.Ring, e.cl, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.Detach)
		return d
	}
	const other = "vol-fedcba9876543210"
	d1, d2 := open(testVolume), open(other)
	ctx := context.Background()
	for _, d := range []*Device{d1, d2} {
		if err := d.WriteAt(ctx, make([]byte, 4096), 0, false); err != nil {
			t.Fatal(err)
		}
	}
	if got := series(t, reg); got[testVolume] == 0 || got[other] != got[testVolume] {
		t.Fatalf("series by volume: %v, want the same number for both", got)
	}
	if v := counterOf(t, reg, "stratus_volumed_chunkdev_bytes_total", other); v != 4096 {
		t.Fatalf("bytes written to %s: %v, want 4096", other, v)
	}

	d1.Detach()
	m.Forget(testVolume)
	if err := d1.WriteAt(ctx, make([]byte, 4096), 0, false); err == nil {
		t.Fatal("write to a detached device succeeded")
	}
	got := series(t, reg)
	if got[testVolume] != 0 || got[other] == 0 {
		t.Fatalf("series by volume after Forget: %v, want none of %s", got, testVolume)
	}
	if v := counterOf(t, reg, "stratus_volumed_chunkdev_bytes_total", other); v != 4096 {
		t.Fatalf("bytes written to %s after the other was forgotten: %v, want 4096", other, v)
	}
}

// series counts the series of reg by volume label.
func series(t *testing.T, reg *prometheus.Registry) map[string]int {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "volume" {
					out[l.GetValue()]++
				}
			}
		}
	}
	return out
}

// counterOf sums the counter name over the series of volume.
func counterOf(t *testing.T, reg *prometheus.Registry, name, volume string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "volume" && l.GetValue() == volume {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}
