package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"stratus/internal/testutil"
	"strings"
	"sync/atomic"
	"testing"
)

// checkMachineJSON fails unless out follows the machine-output convention, and returns it
// decoded as an object.
func checkMachineJSON(t *testing.T, out string) map[string]any {
	t.Helper()
	m, ok := testutil.MachineJSON(t, []byte(out)).(map[string]any)
	if !ok {
		t.Fatalf("output is not a JSON object:\n%s", out)
	}
	return m
}

// TestBenchJSON: bench s3 --json and bench ring --json parse, follow the convention and
// carry the names bench/scripts/storage-hop.sh reads.
func TestBenchJSON(t *testing.T) {
	var scrapes atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			n := float64(scrapes.Add(1))
			fmt.Fprintf(w, "go_memstats_alloc_bytes_total %g\nprocess_cpu_seconds_total %g\n", 3e6*n, 1.5*n)
			return
		}
		io.Copy(io.Discard, r.Body)
		if r.Method == http.MethodGet {
			w.Write(make([]byte, 1024))
		}
	}))
	defer srv.Close()
	for _, op := range []string{"put", "get"} {
		t.Run("s3 "+op, func(t *testing.T) {
			out := mustStratus(t, "bench", "s3", op, "--json", "--endpoint", srv.URL, "--access-key", "k", "--secret-key", "s",
				"--bucket", "b", "--size", "1KiB", "--concurrency", "2", "--count", "20", "--objects", "4", "--warmup", "0s",
				"--server-metrics", srv.URL+"/metrics")
			v := checkMachineJSON(t, out)
			cfg, _ := v["config"].(map[string]any)
			ops, _ := v["ops"].([]any)
			if len(ops) != 1 || cfg["timeout_seconds"] != 60.0 || cfg["warmup_seconds"] != 0.0 || v["elapsed_seconds"] == nil {
				t.Fatalf("report:\n%s", out)
			}
			first := ops[0].(map[string]any)
			lat, _ := first["latency"].(map[string]any)
			if first["ops_per_second"] == nil || first["bytes_per_second"] == nil || lat["p50_seconds"] == nil {
				t.Fatalf("report lacks what storage-hop.sh reads:\n%s", out)
			}
			if op == "get" && first["ttfb"] == nil {
				t.Fatalf("a get report without time to first byte:\n%s", out)
			}
			storageHopReads(t, out)
		})
	}
	t.Run("ring", func(t *testing.T) {
		out := mustStratus(t, "bench", "ring", "--json", "--part-power", "8", "--regions", "1", "--zones", "3", "--hosts", "2",
			"--devices", "1", "--lookups", "100")
		v := checkMachineJSON(t, out)
		for _, k := range []string{"rebalance_seconds", "balance_ratio", "dispersion_ratio", "add_host_seconds", "moved_to_ideal_ratio", "lookup_seconds"} {
			if _, ok := v[k].(float64); !ok {
				t.Errorf("no %s:\n%s", k, out)
			}
		}
	})
}

// storageHopReads runs the Python line of bench/scripts/storage-hop.sh on a report, so that
// the script fails here, not after minutes of measuring, when a name it reads changes.
func storageHopReads(t *testing.T, report string) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Log("no python3: storage-hop.sh's reading of the report not checked")
		return
	}
	script, err := os.ReadFile("../../bench/scripts/storage-hop.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`python3 -c '(import json[^']+)'`).FindSubmatch(script)
	if m == nil {
		t.Fatal("storage-hop.sh: no python3 -c '…' line")
	}
	cmd := exec.Command(py, "-c", string(m[1]), "1", "mtls", "put", "1KiB")
	cmd.Stdin = strings.NewReader(report)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("storage-hop.sh's python on the report: %v\n%s", err, out)
	}
	if n := len(strings.Split(strings.TrimSpace(string(out)), "\t")); n != 8 {
		t.Fatalf("storage-hop.sh's python printed %d columns, want 8: %q", n, out)
	}
}
