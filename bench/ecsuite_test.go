package bench

import (
	"strings"
	"testing"
)

// TestECBenchMedians: the erasure-coded cases' summary takes the median of each case's
// repeats and divides each EC case's throughput by the replicated one's of the same op
// and size.
func TestECBenchMedians(t *testing.T) {
	run := func(op, label string, size int64, mibps float64, heap float64) *Report {
		return &Report{Label: label, Config: S3Config{Op: op, SizeBytes: size},
			Ops:    []OpStats{{Op: op, Count: 1, BytesPerSecond: mibps * (1 << 20)}},
			Server: &ServerCost{HeapSysBytes: heap}}
	}
	var runs []*Report
	for _, v := range []float64{10, 30, 20} {
		runs = append(runs, run("put", "replicated-3", 64<<20, v, 50<<20), run("put", "ec-4-2", 64<<20, 3*v, 80<<20))
	}
	runs = append(runs, run("get", "ec-4-2, 1 fragment lost", 64<<20, 100, 0), &Report{Config: S3Config{Op: "put"}, Ops: []OpStats{{Op: "put"}}})
	meds := ecMedians(runs)
	if len(meds) != 3 {
		t.Fatalf("%d medians, want 3 (unlabelled runs left out): %+v", len(meds), meds)
	}
	if m := meds[1]; m.Label != "ec-4-2" || m.Runs != 3 || m.BytesPerSecond != 60*(1<<20) || m.HeapSysBytes != 80<<20 {
		t.Fatalf("EC PUT median: %+v", m)
	}
	var md strings.Builder
	ecMarkdown(&md, meds, "replicated-3")
	for _, want := range []string{"| put | 64MiB | ec-4-2 | 3 | 60.0 |", "| 3.00 | 80 |", "| get | 64MiB | ec-4-2, 1 fragment lost | 1 | 100.0 |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
}
