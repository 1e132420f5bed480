package bench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"
)

// ECSuite describes the suite's erasure-coded cases: PUT and GET of large objects on a
// bucket of an erasure-coded policy beside a replicated bucket, on the same server in the
// same run, and GET with fragments lost.
type ECSuite struct {
	// Policy is the erasure-coded storage policy (the LocationConstraint) of the EC
	// buckets, e.g. ec-4-2; empty: no EC cases.
	Policy string
	// Replicated labels the replicated bucket's runs (the server's default policy), e.g.
	// replicated-3.
	Replicated string
	// Sizes are the object sizes (default 1 MiB and 64 MiB).
	Sizes []int64
	// Concurrency of every EC case (default 4).
	Concurrency int
	// Repeats is how many times each case runs, interleaved with the others, for medians
	// on a noisy machine (default 3).
	Repeats int
	// LoseFragments, if set, makes the fragments on the first n devices of every
	// erasure-coded object stored so far unreadable (the suite's own server stores them on
	// this machine): the degraded GET cases run only with it.
	LoseFragments func(n int) error
}

// ECMedian is the median of the repeats of one erasure-coded case (or its replicated
// counterpart).
type ECMedian struct {
	Op             string  `json:"op"`
	SizeBytes      int64   `json:"size_bytes"`
	Label          string  `json:"label"`
	Runs           int     `json:"runs"`
	BytesPerSecond float64 `json:"bytes_per_second"`
	P50Seconds     float64 `json:"p50_seconds"`
	P99Seconds     float64 `json:"p99_seconds"`
	Errors         int     `json:"errors"`
	// HeapSysBytes is the largest server heap (ServerCost.HeapSysBytes) after any of the
	// runs, 0 if unknown.
	HeapSysBytes float64 `json:"heap_sys_bytes,omitempty"`
}

func (e ECSuite) withDefaults() ECSuite {
	if len(e.Sizes) == 0 {
		e.Sizes = []int64{1 << 20, 64 << 20}
	}
	if e.Concurrency == 0 {
		e.Concurrency = 4
	}
	if e.Repeats == 0 {
		e.Repeats = 3
	}
	if e.Replicated == "" {
		e.Replicated = "replicated"
	}
	return e
}

// ecPoolObjects is how many objects a GET case reads from: enough to spread over the
// partitions, few enough that 64 MiB ones are written in seconds.
func ecPoolObjects(size int64) int {
	return int(min(50, max(6, (512<<20)/size)))
}

// runEC runs the erasure-coded cases: for each size, Repeats times, PUT on the replicated
// and the EC bucket, GET from each, and GET from the EC bucket with one and two fragments
// of every object lost.
func runEC(ctx context.Context, base S3Config, ec ECSuite, logf func(string, ...any)) ([]*Report, error) {
	ec = ec.withDefaults()
	ecLabel := ec.Policy
	var reps []*Report
	one := func(run S3Config, label string) error {
		logf("%s %s %s at concurrency %d", run.Op, sizeLabel(run.SizeBytes), label, run.Concurrency)
		rep, err := RunS3(ctx, run)
		if err != nil {
			return fmt.Errorf("%s %s %s: %w", run.Op, sizeLabel(run.SizeBytes), label, err)
		}
		rep.Label = label
		reps = append(reps, rep)
		return nil
	}
	for _, size := range ec.Sizes {
		for range ec.Repeats {
			run := base
			run.SizeBytes, run.Concurrency, run.Objects = size, ec.Concurrency, ecPoolObjects(size)
			run.Op = "put"
			if err := one(run, ec.Replicated); err != nil {
				return reps, err
			}
			run.Location = ec.Policy
			if err := one(run, ecLabel); err != nil {
				return reps, err
			}
			run.Op, run.Location = "get", ""
			if err := one(run, ec.Replicated); err != nil {
				return reps, err
			}
			run.Location = ec.Policy
			if ec.LoseFragments == nil {
				if err := one(run, ecLabel); err != nil {
					return reps, err
				}
				continue
			}
			// One pool read whole, then with one and two fragments of each object lost.
			run.Bucket, run.Cleanup = newBucketName(), false
			if err := one(run, ecLabel); err != nil {
				return reps, err
			}
			run.Reuse = true
			for lost := 1; lost <= 2; lost++ {
				if err := ec.LoseFragments(lost); err != nil {
					return reps, fmt.Errorf("lose %d fragments: %w", lost, err)
				}
				if lost == 2 {
					run.Cleanup, run.DeleteBucket = true, true
				}
				if err := one(run, fmt.Sprintf("%s, %d fragment%s lost", ecLabel, lost, plural(lost))); err != nil {
					return reps, err
				}
			}
		}
	}
	return reps, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// ecMedians summarizes the labelled runs: per op, size and label, the median throughput
// and latencies over the repeats.
func ecMedians(runs []*Report) []ECMedian {
	type key struct {
		op    string
		size  int64
		label string
	}
	groups := map[key][]OpStats{}
	heaps := map[key]float64{}
	var order []key
	for _, r := range runs {
		if r.Label == "" || len(r.Ops) == 0 {
			continue
		}
		k := key{r.Ops[0].Op, r.Config.SizeBytes, r.Label}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r.Ops[0])
		if r.Server != nil {
			heaps[k] = max(heaps[k], r.Server.HeapSysBytes)
		}
	}
	out := make([]ECMedian, 0, len(order))
	for _, k := range order {
		g := groups[k]
		m := ECMedian{Op: k.op, SizeBytes: k.size, Label: k.label, Runs: len(g), HeapSysBytes: heaps[k]}
		m.BytesPerSecond = median(g, func(s OpStats) float64 { return s.BytesPerSecond })
		m.P50Seconds = median(g, func(s OpStats) float64 { return s.Latency.P50 })
		m.P99Seconds = median(g, func(s OpStats) float64 { return s.Latency.P99 })
		for _, s := range g {
			m.Errors += s.Errors
		}
		out = append(out, m)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].SizeBytes != out[j].SizeBytes {
			return out[i].SizeBytes < out[j].SizeBytes
		}
		return out[i].Op > out[j].Op // put before get
	})
	return out
}

func median(g []OpStats, f func(OpStats) float64) float64 {
	v := make([]float64, len(g))
	for i, s := range g {
		v[i] = f(s)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// ecMarkdown renders the medians, with each EC PUT's throughput over the replicated PUT's
// of the same size.
func ecMarkdown(w io.Writer, meds []ECMedian, repl string) {
	if len(meds) == 0 {
		return
	}
	fmt.Fprintf(w, "\nErasure-coded cases: medians of %d interleaved runs each (object MiB/s; p50, p99 ms):\n\n", meds[0].Runs)
	fmt.Fprintln(w, "| op | size | policy | runs | MiB/s | p50 ms | p99 ms | errors | × "+repl+" | server heap MiB |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, m := range meds {
		ratio := "-"
		for _, b := range meds {
			if b.Op == m.Op && b.SizeBytes == m.SizeBytes && b.Label == repl && m.Label != repl && b.BytesPerSecond > 0 {
				ratio = fmt.Sprintf("%.2f", m.BytesPerSecond/b.BytesPerSecond)
			}
		}
		heap := "-"
		if m.HeapSysBytes > 0 {
			heap = fmt.Sprintf("%.0f", m.HeapSysBytes/(1<<20))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %d | %.1f | %.1f | %.1f | %d | %s | %s |\n", m.Op, sizeLabel(m.SizeBytes), m.Label, m.Runs,
			m.BytesPerSecond/(1<<20), m.P50Seconds*1e3, m.P99Seconds*1e3, m.Errors, ratio, heap)
	}
}

// ecElapsed estimates how long the EC cases take, for the log.
func ecElapsed(ec ECSuite, d, warmup time.Duration) time.Duration {
	ec = ec.withDefaults()
	per := 4
	if ec.LoseFragments != nil {
		per = 6
	}
	return time.Duration(len(ec.Sizes)*ec.Repeats*per) * (d + warmup)
}
