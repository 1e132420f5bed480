package main

import (
	"context"
	"os/exec"
	"testing"
	"time"
)

// TestBenchVolumeJSON runs 'bench volume --baseline --json' end to end against qemu-nbd
// serving a raw file (the NBD server every Debian machine has), with short jobs.
func TestBenchVolumeJSON(t *testing.T) {
	for _, bin := range []string{"fio", "qemu-nbd"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed (Debian: fio, qemu-utils): %v", bin, err)
		}
	}
	if testing.Short() {
		t.Skip("runs fio for a few seconds")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	q, err := startQemuNBD(ctx, t.TempDir(), 16<<20, "none")
	if err != nil {
		t.Fatal(err)
	}
	defer q.stop()
	start := time.Now()
	out := mustStratus(t, "bench", "volume", "--uri", q.uri, "--size-bytes", "16MiB", "--duration", "200ms",
		"--baseline", "--tmp-dir", t.TempDir(), "--json")
	t.Logf("took %v", time.Since(start))
	v := checkMachineJSON(t, out)
	s, _ := v["stratus"].(map[string]any)
	res, _ := s["results"].([]any)
	b, _ := v["baseline"].(map[string]any)
	bres, _ := b["results"].([]any)
	targets, _ := v["targets"].([]any)
	if len(res) != 7 || len(bres) != 7 || len(targets) != 3 {
		t.Fatalf("want 7 results of each and 3 targets:\n%s", out)
	}
	for _, r := range res {
		r := r.(map[string]any)
		if ops, _ := r["ops_per_second"].(float64); ops <= 0 {
			t.Errorf("no ops/s: %v", r)
		}
		if p, _ := r["latency_p99_seconds"].(float64); p <= 0 {
			t.Errorf("no p99: %v", r)
		}
	}
}
