package bench_test

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"stratus/bench"
	"stratus/internal/testutil"
)

func ptr[T any](v T) *T { return &v }

// checkConvention fails unless data follows the machine-output convention, and returns it
// decoded as an object.
func checkConvention(t *testing.T, data []byte) map[string]any {
	t.Helper()
	m, _ := testutil.MachineJSON(t, data).(map[string]any)
	return m
}

// TestConventionProblems: the checker catches the names the convention replaced.
func TestConventionProblems(t *testing.T) {
	for _, bad := range []string{`{"p50_ms": 1}`, `{"ops": [{"ops_per_sec": 1}]}`, `{"mib_per_second": 1}`, `{"cpu_ms_per_op": 1}`,
		`{"duration_ns": 1}`, `{"balance_pct": 1}`, `{"Region": 1}`, `{"dispersionRatio": 1}`, `{"a": NaN}`, `{} {}`} {
		if _, problems := testutil.JSONProblems([]byte(bad)); len(problems) == 0 {
			t.Errorf("%s passed", bad)
		}
	}
	good := `{"p99_9_seconds": 0.1, "bytes_per_second": 2, "errors_by_code": {"SlowDown": 1}, "x": null}`
	if _, problems := testutil.JSONProblems([]byte(good)); len(problems) > 0 {
		t.Errorf("%s: %v", good, problems)
	}
}

// field returns the value at a dotted path of decoded JSON ("ops.0.latency.p50_seconds").
func field(t *testing.T, v any, path string) any {
	t.Helper()
	for _, p := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[p]; !ok {
				t.Fatalf("%s: no %q", path, p)
			}
		case []any:
			var i int
			if _, err := fmt.Sscan(p, &i); err != nil || i >= len(x) {
				t.Fatalf("%s: no element %q", path, p)
			}
			v = x[i]
		default:
			t.Fatalf("%s: %q is not in an object or a list", path, p)
		}
	}
	return v
}

func sampleReport() *bench.Report {
	lat := bench.Latency{P50: 0.004, P90: 0.009, P99: 0.012, P999: 0.016, Max: 0.020, Mean: 0.005}
	return &bench.Report{Tool: "stratus bench", Started: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
		Config: bench.S3Config{Endpoint: "http://127.0.0.1:9000", Region: "us-east-1", AccessKey: "AK", SecretKey: "top-secret",
			Bucket: "b", Op: "mixed", SizeBytes: 4096, Concurrency: 8, Duration: 10 * time.Second, Count: 0, Objects: 100,
			Prefixes: 7, GetPercent: 80, Warmup: 2 * time.Second, Cleanup: true, Timeout: time.Minute, ServerMetrics: "http://127.0.0.1:9100/metrics"},
		Elapsed: 10*time.Second + 3*time.Millisecond, Prepared: 100,
		Ops: []bench.OpStats{
			{Op: "get", Count: 800, Errors: 2, ErrorsByCode: map[string]int{"SlowDown": 1, "Timeout": 1}, Bytes: 800 * 4096,
				OpsPerSecond: 80, BytesPerSecond: 80 * 4096, Latency: lat, TTFB: &lat},
			{Op: "put", Count: 200, Bytes: 200 * 4096, OpsPerSecond: 20, BytesPerSecond: 20 * 4096, Latency: lat},
		},
		Server: &bench.ServerCost{CPUSeconds: 1.5, AllocBytes: 3e6, CPUSecondsPerOp: ptr(0.0015), AllocBytesPerOp: ptr(3000.0)}}
}

// TestReportJSON: a run's report and a suite's result follow the convention, name their
// units, and read back as they were written.
func TestReportJSON(t *testing.T) {
	rep := sampleReport()
	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "top-secret") {
		t.Fatalf("a report holds the secret key:\n%s", data)
	}
	v := checkConvention(t, data)
	for path, want := range map[string]any{
		"elapsed_seconds":               10.003,
		"config.duration_seconds":       10.0,
		"config.warmup_seconds":         2.0,
		"config.timeout_seconds":        60.0,
		"config.get_ratio":              0.8,
		"config.size_bytes":             4096.0,
		"ops.0.ops_per_second":          80.0,
		"ops.0.bytes_per_second":        80 * 4096.0,
		"ops.0.latency.p50_seconds":     0.004,
		"ops.0.latency.p99_9_seconds":   0.016,
		"ops.0.ttfb.max_seconds":        0.020,
		"ops.0.errors_by_code.SlowDown": 1.0,
		"server.cpu_seconds_per_op":     0.0015,
		"server.alloc_bytes_per_op":     3000.0,
	} {
		if got := field(t, v, path); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	var back bench.Report
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	want := *rep
	want.Config.SecretKey = ""
	if !reflect.DeepEqual(back, want) {
		t.Fatalf("read back\n%+v\nwant\n%+v", back, want)
	}

	// A cost per operation is undefined without operations: null, not 0 or NaN.
	rep.Server = &bench.ServerCost{CPUSeconds: 0.01}
	data, err = json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	v = checkConvention(t, data)
	if got := field(t, v, "server.cpu_seconds_per_op"); got != nil {
		t.Errorf("cpu_seconds_per_op = %v without operations, want null", got)
	}

	res := &bench.SuiteResult{Date: time.Now().UTC(), Machine: bench.Machine{CPUs: 2, Go: "go1", OS: "linux/amd64"},
		Ceilings: bench.Ceilings{DiskSeqWriteBytesPerSecond: 1.2e9, DSync4KWritesPerSecond: 35000, LoopbackTCPBytesPerSecond: 2.3e9},
		Runs:     []*bench.Report{sampleReport()}}
	data, err = json.MarshalIndent(res, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	v = checkConvention(t, data)
	if got := field(t, v, "ceilings.disk_seq_write_bytes_per_second"); got != 1.2e9 {
		t.Errorf("disk_seq_write_bytes_per_second = %v", got)
	}
	if got := field(t, v, "runs.0.ops.1.latency.mean_seconds"); got != 0.005 {
		t.Errorf("runs.0.ops.1.latency.mean_seconds = %v", got)
	}
}

// TestRingReportJSON: the ring benchmark's report follows the convention and holds only
// finite numbers.
func TestRingReportJSON(t *testing.T) {
	rep, err := bench.RunRing(bench.RingConfig{PartPower: 8, Replicas: 3, Regions: 1, Zones: 3, Hosts: 2, Devices: 1, Lookups: 100})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	v := checkConvention(t, data)
	for _, k := range []string{"rebalance_seconds", "balance_ratio", "dispersion_ratio", "add_host_seconds", "moved_to_ideal_ratio", "lookup_seconds"} {
		if x, ok := v[k].(float64); !ok || math.IsNaN(x) || x < 0 {
			t.Errorf("%s = %v", k, v[k])
		}
	}
	if _, err := bench.RunRing(bench.RingConfig{PartPower: 8, Replicas: 3, Regions: 1, Zones: 3, Hosts: 2}); err == nil {
		t.Error("a ring of no devices was measured")
	}
}
