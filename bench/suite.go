package bench

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"time"
)

// SuiteConfig describes the standard set of runs.
type SuiteConfig struct {
	Endpoint, Region, AccessKey, SecretKey string
	// Duration of each measured run.
	Duration time.Duration
	// Concurrencies to run each case at.
	Concurrencies []int
	// ListObjects is the size of the bucket the listing case pages through.
	ListObjects int
	// ServerMetrics, if set, is the server's Prometheus endpoint, for its CPU and
	// allocations per operation.
	ServerMetrics string
	// Dir is where the disk ceilings write: the disk the server stores on.
	Dir string
	// Log, if set, receives a line as each run starts.
	Log io.Writer
}

// SuiteResult is one standard run, ready to be saved and compared.
type SuiteResult struct {
	Date     time.Time `json:"date"`
	Machine  Machine   `json:"machine"`
	Ceilings Ceilings  `json:"ceilings"`
	Runs     []*Report `json:"runs"`
}

// Machine identifies where a result was measured.
type Machine struct {
	CPUs int    `json:"cpus"`
	Go   string `json:"go"`
	OS   string `json:"os"`
}

// RunSuite measures the ceilings, then 1 MiB and 4 KiB PUT and GET at each concurrency,
// then a full listing of a ListObjects-object bucket, 1,000 keys a page, and a delimiter
// listing of as many common prefixes.
func RunSuite(ctx context.Context, cfg SuiteConfig) (*SuiteResult, error) {
	res := &SuiteResult{Date: time.Now().UTC(), Machine: Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}}
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
		Duration: cfg.Duration, Warmup: 2 * time.Second, Objects: 200, Cleanup: true, ServerMetrics: cfg.ServerMetrics}
	for _, size := range []int64{1 << 20, 4 << 10} {
		for _, conc := range cfg.Concurrencies {
			for _, op := range []string{"put", "get"} {
				run := base
				run.Op, run.SizeBytes, run.Concurrency = op, size, conc
				logf("%s %s at concurrency %d", op, sizeLabel(size), conc)
				rep, err := RunS3(ctx, run)
				if err != nil {
					return nil, fmt.Errorf("%s %s c=%d: %w", op, sizeLabel(size), conc, err)
				}
				res.Runs = append(res.Runs, rep)
			}
		}
	}
	if cfg.ListObjects > 0 {
		run := base
		run.Op, run.SizeBytes, run.Concurrency, run.Objects, run.Warmup = "list", 0, 1, cfg.ListObjects, 0
		run.Duration = max(cfg.Duration, 5*time.Second)
		logf("writing %d objects, then listing them", cfg.ListObjects)
		rep, err := RunS3(ctx, run)
		if err != nil {
			return nil, fmt.Errorf("list: %w", err)
		}
		res.Runs = append(res.Runs, rep)
		// The same number of objects, each under a prefix of its own, listed with a
		// delimiter: one op pages through ListObjects common prefixes.
		run.Prefixes = cfg.ListObjects
		logf("writing %d objects under as many prefixes, then listing the prefixes", cfg.ListObjects)
		if rep, err = RunS3(ctx, run); err != nil {
			return nil, fmt.Errorf("list with delimiter: %w", err)
		}
		res.Runs = append(res.Runs, rep)
	}
	return res, nil
}

func sizeLabel(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}

// Markdown renders a result as the table BENCHMARKS.md shows, in units for people: MB/s
// for the ceilings, MiB/s, milliseconds, and KiB allocated per operation.
func (r *SuiteResult) Markdown(w io.Writer) {
	c := r.Ceilings
	fmt.Fprintf(w, "Measured %s on %d CPUs (%s, %s).\n\n", r.Date.Format("2006-01-02 15:04 UTC"), r.Machine.CPUs, r.Machine.OS, r.Machine.Go)
	fmt.Fprintf(w, "Ceilings in the same run: fsync'd sequential write %.0f MB/s; 4 KiB O_DSYNC writes (8 writers) %.0f/s; loopback TCP %.0f MB/s.\n\n",
		c.DiskSeqWriteBytesPerSecond/1e6, c.DSync4KWritesPerSecond, c.LoopbackTCPBytesPerSecond/1e6)
	fmt.Fprintln(w, "| op | size | concurrency | ops/s | MiB/s | p50 ms | p99 ms | p99.9 ms | errors | server CPU ms/op | server alloc KiB/op |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, rep := range r.Runs {
		for _, s := range rep.Ops {
			size := sizeLabel(rep.Config.SizeBytes)
			if s.Op == "list" {
				size = fmt.Sprintf("%d objects", rep.Config.Objects)
				if rep.Config.Prefixes > 0 {
					size = fmt.Sprintf("%d prefixes, delimiter", rep.Config.Prefixes)
				}
			}
			cpu, alloc := "-", "-"
			if c := rep.Server; c != nil && c.CPUSecondsPerOp != nil && c.AllocBytesPerOp != nil {
				cpu, alloc = fmt.Sprintf("%.2f", *c.CPUSecondsPerOp*1e3), fmt.Sprintf("%.1f", *c.AllocBytesPerOp/1024)
			}
			fmt.Fprintf(w, "| %s | %s | %d | %.1f | %.1f | %.2f | %.2f | %.2f | %d | %s | %s |\n", s.Op, size, rep.Config.Concurrency,
				s.OpsPerSecond, s.BytesPerSecond/(1<<20), s.Latency.P50*1e3, s.Latency.P99*1e3, s.Latency.P999*1e3, s.Errors, cpu, alloc)
		}
	}
}
