package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stratus/internal/testutil"
)

func TestParseFio(t *testing.T) {
	tests := []struct {
		name, file, rw string
		wantIOPS       float64
		wantP50, p99   float64
		wantFlush      bool
	}{
		{name: "randread", file: "fio-randread.json", rw: "randread", wantIOPS: 21147.852148, wantP50: 40704e-9, p99: 66048e-9},
		{name: "write_fsync", file: "fio-write-fsync.json", rw: "randwrite", wantIOPS: 1636.726547, wantP50: 92672e-9, wantFlush: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			ver, res, err := ParseFio(data, tc.rw)
			if err != nil {
				t.Fatal(err)
			}
			if ver != "fio-3.33" {
				t.Errorf("version = %q", ver)
			}
			if res.OpsPerSecond != tc.wantIOPS {
				t.Errorf("ops/s = %v, want %v", res.OpsPerSecond, tc.wantIOPS)
			}
			if res.LatencyP50Seconds != tc.wantP50 {
				t.Errorf("p50 = %v, want %v", res.LatencyP50Seconds, tc.wantP50)
			}
			if tc.p99 != 0 && res.LatencyP99Seconds != tc.p99 {
				t.Errorf("p99 = %v, want %v", res.LatencyP99Seconds, tc.p99)
			}
			if res.BytesPerSecond <= 0 || res.Ops <= 0 || res.ElapsedSeconds <= 0 {
				t.Errorf("empty fields: %+v", res)
			}
			if got := res.FlushP99Seconds > 0; got != tc.wantFlush {
				t.Errorf("flush p99 = %v, want reported %v", res.FlushP99Seconds, tc.wantFlush)
			}
		})
	}
}

func TestParseFioErrors(t *testing.T) {
	for _, in := range []string{"", "fio: connection refused\n", `{"jobs": []}`, `{"jobs": [{"jobname": "x", "error": 5}]}`} {
		if _, _, err := ParseFio([]byte(in), "read"); err == nil {
			t.Errorf("ParseFio(%q) = nil error", in)
		}
	}
}

func TestVolumeComparisonJSON(t *testing.T) {
	rep := func(scale float64) *VolumeReport {
		r := &VolumeReport{Tool: "fio", FioVersion: "fio-3.33", Config: VolumeConfig{URI: "nbd://127.0.0.1:1/x", SizeBytes: 1 << 30}, DurationSeconds: 10}
		for _, j := range VolumeJobs {
			r.Results = append(r.Results, VolumeResult{Job: j, OpsPerSecond: 1000 * scale, BytesPerSecond: 4e6 * scale,
				LatencyP50Seconds: 1e-4, LatencyP99Seconds: 1e-3, FlushP99Seconds: 2e-3})
		}
		return r
	}
	c := VolumeComparison{Date: time.Unix(0, 0).UTC(), Stratus: rep(0.6), Baseline: rep(1), BaselineCommand: "qemu-nbd"}
	c.Judge()
	if len(c.Targets) != len(VolumeTargets) {
		t.Fatalf("targets = %d, want %d", len(c.Targets), len(VolumeTargets))
	}
	for _, v := range c.Targets {
		if want := v.MinRatio <= 0.6; v.Met != want {
			t.Errorf("%s met = %v, want %v", v.Job, v.Met, want)
		}
	}
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	testutil.MachineJSON(t, data)
	var md bytes.Buffer
	c.Markdown(&md)
	if !strings.Contains(md.String(), "seq_read_1m_qd8 bytes_per_second: 0.60 of qemu-nbd (target ≥ 0.70): MISSED") {
		t.Errorf("markdown:\n%s", md.String())
	}
}
