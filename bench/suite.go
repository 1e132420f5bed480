package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"runtime"
	"slices"
	"time"
)

// SuiteConfig describes the standard set of runs.
type SuiteConfig struct {
	Endpoint, Region, AccessKey, SecretKey string
	// Peer, if its Endpoint is set, is another S3 endpoint every case also runs against,
	// right after Stratus's run of it (Stratus, peer, Stratus, peer …), so that both meet
	// the machine in the same state; the result then carries a ratio per case.
	Peer Target
	// Duration of each measured run, after Warmup (an unmeasured run of PUT and GET).
	Duration, Warmup time.Duration
	// Concurrencies to run each case at.
	Concurrencies []int
	// Cases picks "put", "get", "list" and "ec"; empty runs them all.
	Cases []string
	// EC, if its Policy is set, adds the erasure-coded cases (case "ec"; not run against
	// the peer).
	EC ECSuite
	// ListObjects is the size of the buckets the listing cases page through.
	ListObjects int
	// ListDuration is how long each listing case measures (zero: Duration, at least 5 s).
	ListDuration time.Duration
	// ServerMetrics, if set, is the server's Prometheus endpoint, for its CPU and
	// allocations per operation.
	ServerMetrics string
	// Dir is where the disk ceilings write: the disk the server stores on.
	Dir string
	// Log, if set, receives a line as each run starts.
	Log io.Writer
}

// Target is an S3 endpoint and the keys to sign for it with.
type Target struct {
	Endpoint, Region, AccessKey, SecretKey string
}

// ListPerPrefix is how many objects each prefix holds in the listing cases' main bucket.
const ListPerPrefix = 10

// SuiteResult is one standard run, ready to be saved and compared.
type SuiteResult struct {
	Date     time.Time `json:"date"`
	Machine  Machine   `json:"machine"`
	Ceilings Ceilings  `json:"ceilings"`
	Runs     []*Report `json:"runs"`
	// Peer is the endpoint the cases also ran against, if any; PeerRuns[i] is its run of the
	// case of Runs[i], and PeerRatios[i] Runs[i]'s operations/s over PeerRuns[i]'s (above
	// 1, Stratus was faster; null if the peer completed none).
	Peer       string     `json:"peer,omitempty"`
	PeerRuns   []*Report  `json:"peer_runs,omitempty"`
	PeerRatios []*float64 `json:"peer_ops_ratios,omitempty"`
	// ECMedians summarizes the erasure-coded cases' runs (those of Runs with a label);
	// ECReplicated is the label of their replicated counterparts.
	ECMedians    []ECMedian `json:"ec_medians,omitempty"`
	ECReplicated string     `json:"ec_replicated,omitempty"`
}

// Machine identifies where a result was measured.
type Machine struct {
	CPUs int    `json:"cpus"`
	Go   string `json:"go"`
	OS   string `json:"os"`
}

// RunSuite measures the ceilings, then 1 MiB and 4 KiB PUT and GET at each concurrency,
// then listings: ListObjects objects, ListPerPrefix to a prefix, listed in full (every key,
// 1,000 a page) and with a delimiter (the prefixes), and as many objects each under a
// prefix of its own, listed with a delimiter; last the erasure-coded cases (ECSuite).
func RunSuite(ctx context.Context, cfg SuiteConfig) (*SuiteResult, error) {
	res := &SuiteResult{Date: time.Now().UTC(), Machine: Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH},
		Peer: cfg.Peer.Endpoint}
	logf := func(format string, args ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, format+"\n", args...)
		}
	}
	logf("measuring the machine's ceilings")
	var err error
	if res.Ceilings, err = MeasureCeilings(cfg.Dir); err != nil {
		return nil, fmt.Errorf("ceilings: %w", err)
	}
	base := S3Config{Endpoint: cfg.Endpoint, Region: cfg.Region, AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey,
		Duration: cfg.Duration, Warmup: cfg.Warmup, Objects: 200, Cleanup: true, ServerMetrics: cfg.ServerMetrics}
	// both runs a case against Stratus, then against the peer.
	both := func(run S3Config, what string) error {
		logf("%s", what)
		rep, err := RunS3(ctx, run)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		res.Runs = append(res.Runs, rep)
		if cfg.Peer.Endpoint == "" {
			return nil
		}
		p := cfg.Peer
		run.Endpoint, run.Region, run.AccessKey, run.SecretKey, run.ServerMetrics = p.Endpoint, p.Region, p.AccessKey, p.SecretKey, ""
		logf("%s, peer", what)
		peer, err := RunS3(ctx, run)
		if err != nil {
			return fmt.Errorf("%s, peer %s: %w", what, p.Endpoint, err)
		}
		res.PeerRuns = append(res.PeerRuns, peer)
		res.PeerRatios = append(res.PeerRatios, opsRatio(rep, peer))
		return nil
	}
	for _, size := range []int64{1 << 20, 4 << 10} {
		for _, conc := range cfg.Concurrencies {
			for _, op := range []string{"put", "get"} {
				if !cfg.runs(op) {
					continue
				}
				run := base
				run.Op, run.SizeBytes, run.Concurrency = op, size, conc
				if err := both(run, fmt.Sprintf("%s %s at concurrency %d", op, sizeLabel(size), conc)); err != nil {
					return nil, err
				}
			}
		}
	}
	if cfg.ListObjects > 0 && cfg.runs("list") {
		n := cfg.ListObjects
		run := base
		run.Op, run.SizeBytes, run.Concurrency, run.Objects, run.Warmup = "list", 0, 1, n, 0
		run.Duration = cfg.ListDuration
		if run.Duration == 0 {
			run.Duration = max(cfg.Duration, 5*time.Second)
		}
		// One bucket for two cases: written once (on each endpoint), listed in full, then
		// by its prefixes, and then emptied.
		run.Bucket, run.Prefixes, run.FullListing, run.Cleanup = newBucketName(), max(n/ListPerPrefix, 1), true, false
		if err := both(run, fmt.Sprintf("writing %d objects, %d a prefix, then listing them", n, ListPerPrefix)); err != nil {
			return nil, err
		}
		run.FullListing, run.Reuse, run.Cleanup, run.DeleteBucket = false, true, true, true
		if err := both(run, fmt.Sprintf("listing the %d prefixes of those objects", run.Prefixes)); err != nil {
			return nil, err
		}
		// One object a prefix: one op pages through n common prefixes.
		run.Bucket, run.Prefixes, run.Reuse, run.DeleteBucket = "", n, false, false
		if err := both(run, fmt.Sprintf("writing %d objects under as many prefixes, then listing the prefixes", n)); err != nil {
			return nil, err
		}
	}
	if cfg.EC.Policy != "" && cfg.runs("ec") {
		logf("erasure-coded cases (about %v)", ecElapsed(cfg.EC, cfg.Duration, cfg.Warmup).Round(time.Minute))
		reps, err := runEC(ctx, base, cfg.EC, logf)
		res.Runs = append(res.Runs, reps...)
		if err != nil {
			return nil, err
		}
		res.ECMedians, res.ECReplicated = ecMedians(reps), cfg.EC.withDefaults().Replicated
	}
	return res, nil
}

// runs reports whether the suite runs case op.
func (cfg SuiteConfig) runs(op string) bool { return cfg.Runs(op) }

// Runs reports whether the suite runs case op ("put", "get", "list", "ec").
func (cfg SuiteConfig) Runs(op string) bool {
	return len(cfg.Cases) == 0 || slices.Contains(cfg.Cases, op)
}

// opsRatio is a's operations/s over b's, for the first operation of each; nil if b has none.
func opsRatio(a, b *Report) *float64 {
	if len(a.Ops) == 0 || len(b.Ops) == 0 || b.Ops[0].OpsPerSecond == 0 {
		return nil
	}
	r := a.Ops[0].OpsPerSecond / b.Ops[0].OpsPerSecond
	return &r
}

func newBucketName() string {
	var b [4]byte
	rand.Read(b[:])
	return "stratus-bench-" + hex.EncodeToString(b[:])
}

func sizeLabel(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}

// Markdown renders a result as the table BENCHMARKS.md shows, in units for people: MB/s
// for the ceilings, MiB/s, milliseconds, and KiB allocated per operation. With a peer, each
// row also shows the peer's operations/s and p50, and Stratus's operations/s over the peer's.
func (r *SuiteResult) Markdown(w io.Writer) {
	c := r.Ceilings
	fmt.Fprintf(w, "Measured %s on %d CPUs (%s, %s).\n\n", r.Date.Format("2006-01-02 15:04 UTC"), r.Machine.CPUs, r.Machine.OS, r.Machine.Go)
	fmt.Fprintf(w, "Ceilings in the same run: fsync'd sequential write %.0f MB/s; 4 KiB O_DSYNC writes (8 writers) %.0f/s; loopback TCP %.0f MB/s.\n\n",
		c.DiskSeqWriteBytesPerSecond/1e6, c.DSync4KWritesPerSecond, c.LoopbackTCPBytesPerSecond/1e6)
	// The peer ran the cases before the erasure-coded ones, which come last.
	peer := len(r.PeerRuns) > 0 && r.Peer != ""
	head, rule := "| op | size | concurrency | ops/s | MiB/s | p50 ms | p99 ms | p99.9 ms | errors | server CPU ms/op | server alloc KiB/op |", "|---|---|---|---|---|---|---|---|---|---|---|"
	if peer {
		fmt.Fprintf(w, "Each case ran against Stratus, then against the peer %s.\n\n", r.Peer)
		head, rule = head+" peer ops/s | peer p50 ms | × peer |", rule+"---|---|---|"
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, rule)
	for i, rep := range r.Runs {
		for j, s := range rep.Ops {
			size := caseLabel(rep.Config, s.Op)
			if rep.Label != "" {
				size += " " + rep.Label
			}
			cpu, alloc := "-", "-"
			if c := rep.Server; c != nil && c.CPUSecondsPerOp != nil && c.AllocBytesPerOp != nil {
				cpu, alloc = fmt.Sprintf("%.2f", *c.CPUSecondsPerOp*1e3), fmt.Sprintf("%.1f", *c.AllocBytesPerOp/1024)
			}
			fmt.Fprintf(w, "| %s | %s | %d | %.1f | %.1f | %.2f | %.2f | %.2f | %d | %s | %s |", s.Op, size, rep.Config.Concurrency,
				s.OpsPerSecond, s.BytesPerSecond/(1<<20), s.Latency.P50*1e3, s.Latency.P99*1e3, s.Latency.P999*1e3, s.Errors, cpu, alloc)
			if peer {
				pops, pp50, ratio := "-", "-", "-"
				if i >= len(r.PeerRuns) {
					// an erasure-coded case: Stratus only
				} else if p := r.PeerRuns[i]; j < len(p.Ops) {
					pops, pp50 = fmt.Sprintf("%.1f", p.Ops[j].OpsPerSecond), fmt.Sprintf("%.2f", p.Ops[j].Latency.P50*1e3)
				}
				if j == 0 && i < len(r.PeerRatios) && r.PeerRatios[i] != nil {
					ratio = fmt.Sprintf("%.2f", *r.PeerRatios[i])
				}
				fmt.Fprintf(w, " %s | %s | %s |", pops, pp50, ratio)
			}
			fmt.Fprintln(w)
		}
	}
	ecMarkdown(w, r.ECMedians, r.ECReplicated)
}

// caseLabel is the size column of a case: the object size, or what a listing lists.
func caseLabel(c S3Config, op string) string {
	if op != "list" {
		return sizeLabel(c.SizeBytes)
	}
	switch {
	case c.Prefixes == 0:
		return fmt.Sprintf("%d objects", c.Objects)
	case c.FullListing:
		return fmt.Sprintf("%d objects in %d prefixes, full", c.Objects, c.Prefixes)
	case c.Prefixes == c.Objects:
		return fmt.Sprintf("%d prefixes, delimiter", c.Prefixes)
	}
	return fmt.Sprintf("%d objects in %d prefixes, delimiter", c.Objects, c.Prefixes)
}
