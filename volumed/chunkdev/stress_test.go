package chunkdev

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	stestutil "stratus/internal/testutil"
)

// TestConcurrentWithNodeRestart runs writers (each owning stripes of blocks), readers and
// flushers on one device while a storage node is stopped and restarted without a flush in
// between, then checks that every write reads back from the device and from every
// replica once repair is done.
func TestConcurrentWithNodeRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	concurrentWithNodeRestart(t, newEnv(t))
}

// concurrentWithNodeRestart writes, reads and flushes from many goroutines over three
// rounds, with node 2 stopped during the second, and checks every replica at the end.
func concurrentWithNodeRestart(t *testing.T, e *env) {
	const chunk, chunks, writers = 128 * kib, 16, 8
	const size = chunks * chunk
	d := e.device(size, chunk, 1)
	ctx := context.Background()
	var mu sync.Mutex
	want := make([]byte, size)
	blocks := size / (4 * kib)
	errs := make(chan error, 64)
	round := func(r int) {
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for b := 2 * w; b < blocks; b += 2 * writers { // 8 KiB stripes of its own
					off := b * 4 * kib
					n := min(8*kib, size-off)
					p := stestutil.Payload(n, uint64(r*1000+b))
					if err := d.WriteAt(ctx, p, uint64(off), b%5 == 0); err != nil {
						errs <- fmt.Errorf("round %d write at %d: %w", r, off, err)
						return
					}
					mu.Lock()
					copy(want[off:], p)
					mu.Unlock()
				}
			})
		}
		wg.Go(func() {
			buf := make([]byte, 64*kib)
			for off := 0; off < size; off += len(buf) {
				if err := d.ReadAt(ctx, buf, uint64(off)); err != nil {
					errs <- fmt.Errorf("round %d read at %d: %w", r, off, err)
					return
				}
			}
		})
		wg.Go(func() {
			for range 3 {
				if err := d.Flush(ctx); err != nil {
					errs <- fmt.Errorf("round %d flush: %w", r, err)
					return
				}
			}
		})
		wg.Wait()
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
	}
	round(1)
	n := e.st.Nodes[2]
	n.Stop() // writes of round 1 may be unflushed there: the epoch changes on restart
	round(2)
	n.Restart()
	round(3)
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	stestutil.Eventually(t, 20*time.Second, func() error {
		if n := d.Degraded(); n != 0 {
			return fmt.Errorf("%d chunks degraded", n)
		}
		return nil
	})
	mustRead(t, d, want, 0)
	for i := range chunks {
		for r := range 3 {
			got, err := e.replicaData(d, int64(i), r, 0, chunk)
			if err != nil || string(got) != string(want[i*chunk:(i+1)*chunk]) {
				t.Fatalf("chunk %d replica %d: err %v, or data differs", i, r, err)
			}
		}
	}
	t.Logf("repaired %d chunk replicas, %d blocks", d.Repaired(), d.RepairedBlocks())
}

// TestMetrics checks the names, the labels and that the counters move.
func TestMetrics(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	cfg := DefaultConfig()
	cfg.Volume, cfg.SizeBytes, cfg.ChunkSizeBytes, cfg.Generation = testVolume, 4*mib, mib, 1
	d, err := New(cfg, e.st.Ring, e.cl, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Detach)
	ctx := context.Background()
	mustWrite(t, d, make([]byte, 8*kib), 0, false)
	mustRead(t, d, make([]byte, 8*kib), 0)
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Trim(ctx, 0, 4*kib, false); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				if l.GetName() == "volume" && l.GetValue() == testVolume {
					continue // every series names its device's volume (a daemon forgets it at detach)
				}
				if l.GetName() != "op" {
					t.Errorf("%s has label %s: labels must stay low-cardinality", mf.GetName(), l.GetName())
				}
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			switch {
			case m.Counter != nil:
				got[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				got[key] = m.Gauge.GetValue()
			case m.Histogram != nil:
				got[key+"_count"] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	for _, tc := range []struct {
		series string
		want   float64
	}{
		{"stratus_volumed_chunkdev_requests_total{op=write}", 1},
		{"stratus_volumed_chunkdev_requests_total{op=trim}", 1},
		{"stratus_volumed_chunkdev_bytes_total{op=read}", 8192},
		{"stratus_volumed_chunkdev_bytes_total{op=write}", 8192},
		{"stratus_volumed_chunkdev_request_duration_seconds{op=read}_count", 1},
		{"stratus_volumed_chunkdev_flush_duration_seconds_count", 1},
		{"stratus_volumed_chunkdev_degraded_chunks", 0},
		{"stratus_volumed_chunkdev_repairs_total", 0},
	} {
		if v, ok := got[tc.series]; !ok || v != tc.want {
			t.Errorf("%s = %v (present %v), want %v", tc.series, v, ok, tc.want)
		}
	}
}
