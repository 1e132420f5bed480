package bench_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"stratus/bench"
	"stratus/internal/testcluster"
)

// TestSmoke runs every operation for a moment against a real cluster and checks that the
// reports are well formed and that the work was done without errors.
func TestSmoke(t *testing.T) {
	c := testcluster.StartS3(t, testcluster.S3Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, name := range append(bench.Ops, "list-prefixes") {
		op := strings.TrimSuffix(name, "-prefixes")
		t.Run(name, func(t *testing.T) {
			cfg := bench.S3Config{Endpoint: c.Endpoint, AccessKey: c.AccessKey, SecretKey: c.SecretKey,
				Op: op, SizeBytes: 64 << 10, Concurrency: 4, Count: 40, Objects: 20, Cleanup: true}
			if name == "list-prefixes" {
				cfg.Prefixes = 7
			}
			if op == "multipart" {
				cfg.SizeBytes, cfg.Count = 11<<20, 2
			}
			if op == "delete" {
				cfg.Count = 0
				cfg.Duration = 30 * time.Second // ends when the pool is gone
			}
			rep, err := bench.RunS3(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			data, err := json.Marshal(rep)
			if err != nil || strings.Contains(string(data), c.SecretKey) {
				t.Fatalf("report: %v (a report must never hold the secret)", err)
			}
			var back bench.Report
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, s := range back.Ops {
				if s.Errors != 0 {
					t.Fatalf("%s: %d errors: %v", s.Op, s.Errors, s.ErrorsByCode)
				}
				if s.Count > 0 && (s.Latency.P50 <= 0 || s.Latency.P50 > s.Latency.P99 || s.Latency.P99 > s.Latency.Max) {
					t.Fatalf("%s: latency percentiles out of order: %+v", s.Op, s.Latency)
				}
				if s.Op == "get" && (s.TTFB == nil || s.BytesPerSecond <= 0) {
					t.Fatalf("get: no time to first byte or throughput: %+v", s)
				}
				total += s.Count
			}
			want := cfg.Count
			if op == "delete" {
				want = cfg.Objects
			}
			if total != want {
				t.Fatalf("%d operations recorded, want %d", total, want)
			}
		})
	}
}

// ceilingEndpoint is an S3 endpoint that does no work: it accepts any request, drains
// PUT bodies and answers GETs from memory. It bounds what the tool itself can drive.
func ceilingEndpoint(size int) *httptest.Server {
	body := make([]byte, size)
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.Method == http.MethodGet {
			w.Write(body)
		}
	}))
}

// BenchmarkCeiling reports what the tool drives against an endpoint that does nothing:
//
//	go test -run '^$' -bench Ceiling ./bench/
func BenchmarkCeiling(b *testing.B) {
	for _, tc := range []struct {
		op   string
		size int64
	}{{"put", 4 << 10}, {"get", 4 << 10}, {"put", 1 << 20}, {"get", 1 << 20}} {
		b.Run(tc.op+"-"+sizeName(tc.size), func(b *testing.B) {
			srv := ceilingEndpoint(int(tc.size))
			defer srv.Close()
			var rep *bench.Report
			for b.Loop() {
				var err error
				rep, err = bench.RunS3(context.Background(), bench.S3Config{Endpoint: srv.URL, AccessKey: "k", SecretKey: "s",
					Bucket: "ceiling", Op: tc.op, SizeBytes: tc.size, Concurrency: 8, Duration: 2 * time.Second, Objects: 8})
				if err != nil {
					b.Fatal(err)
				}
			}
			for _, s := range rep.Ops {
				b.ReportMetric(s.OpsPerSecond, "ops/s")
				b.ReportMetric(s.BytesPerSecond/(1<<20), "MiB/s")
				b.ReportMetric(s.Latency.P99*1e3, "p99-ms")
			}
		})
	}
}

func sizeName(n int64) string {
	if n >= 1<<20 {
		return "1MiB"
	}
	return "4KiB"
}

func TestRing(t *testing.T) {
	rep, err := bench.RunRing(bench.RingConfig{PartPower: 12, Replicas: 3, Regions: 1, Zones: 3, Hosts: 4, Devices: 2, Lookups: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if rep.RebalanceSeconds <= 0 || rep.LookupSeconds <= 0 || rep.BalanceRatio > 0.01 || rep.MovedToIdealRatio < 0.9 || rep.MovedToIdealRatio > 1.1 {
		t.Fatalf("ring report: %+v", rep)
	}
}

func TestSuiteMarkdown(t *testing.T) {
	res := &bench.SuiteResult{Machine: bench.Machine{CPUs: 2, Go: "go", OS: "linux/amd64"},
		Ceilings: bench.Ceilings{DiskSeqWriteBytesPerSecond: 1000e6, DSync4KWritesPerSecond: 5000, LoopbackTCPBytesPerSecond: 4000e6},
		Runs: []*bench.Report{{Config: bench.S3Config{Op: "put", SizeBytes: 1 << 20, Concurrency: 8},
			Ops:    []bench.OpStats{{Op: "put", Count: 10, OpsPerSecond: 120.5, BytesPerSecond: 120.5 * (1 << 20), Latency: bench.Latency{P50: 0.060, P99: 0.090, P999: 0.095}}},
			Server: &bench.ServerCost{CPUSecondsPerOp: ptr(0.00125), AllocBytesPerOp: ptr(2048.0)}}}}
	var sb strings.Builder
	res.Markdown(&sb)
	for _, want := range []string{"fsync'd sequential write 1000 MB/s", "loopback TCP 4000 MB/s", "| put | 1MiB | 8 | 120.5 | 120.5 | 60.00 | 90.00 | 95.00 | 0 | 1.25 | 2.0 |"} {
		if !strings.Contains(sb.String(), want) {
			t.Fatalf("markdown lacks %q:\n%s", want, sb.String())
		}
	}
}

func TestCeilings(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 256 MiB and sends 1 GiB over loopback")
	}
	c, err := bench.MeasureCeilings(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if c.DiskSeqWriteBytesPerSecond <= 0 || c.DSync4KWritesPerSecond <= 0 || c.LoopbackTCPBytesPerSecond <= 0 {
		t.Fatalf("ceilings: %+v", c)
	}
}

// TestServerCost: with ServerMetrics, a report carries the server's CPU time and
// allocations over the measured phase, per operation.
func TestServerCost(t *testing.T) {
	var scrapes atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			// Each scrape the process has spent 1.5 s more CPU and 3 MB more allocations.
			n := float64(scrapes.Add(1))
			fmt.Fprintf(w, "# HELP x\ngo_memstats_alloc_bytes_total %g\nprocess_cpu_seconds_total %g\nprocess_cpu_seconds_totally 9\n", 3e6*n, 1.5*n)
			return
		}
		io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	rep, err := bench.RunS3(context.Background(), bench.S3Config{Endpoint: srv.URL, AccessKey: "k", SecretKey: "s",
		Bucket: "cost", Op: "put", SizeBytes: 1024, Concurrency: 2, Count: 30, ServerMetrics: srv.URL + "/metrics"})
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Server
	if c == nil || c.CPUSeconds != 1.5 || c.AllocBytes != 3e6 || c.CPUSecondsPerOp == nil || *c.CPUSecondsPerOp != 0.05 ||
		c.AllocBytesPerOp == nil || *c.AllocBytesPerOp != 1e5 {
		t.Fatalf("server cost %+v, want 1.5 s and 3 MB over 30 ops", c)
	}
	if _, err := bench.RunS3(context.Background(), bench.S3Config{Endpoint: srv.URL, AccessKey: "k", SecretKey: "s",
		Bucket: "cost", Op: "put", SizeBytes: 1024, Count: 1, ServerMetrics: srv.URL + "/nothing"}); err == nil {
		t.Fatal("a metrics URL without the counters was accepted")
	}
}
