package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"time"
)

// VolumeJob is one fio job of the volume set: the shapes the volume targets are stated in.
type VolumeJob struct {
	Name       string `json:"name"`
	RW         string `json:"rw"` // fio's rw: read, write, randread, randwrite
	BlockBytes int64  `json:"block_size_bytes"`
	QueueDepth int    `json:"queue_depth"`
	// FsyncEveryWrite makes fio flush (NBD_CMD_FLUSH) after every write, as a database's
	// commit does.
	FsyncEveryWrite bool `json:"fsync_every_write"`
}

// VolumeJobs is the standard set, in the order it runs: sequential first, so that the
// random reads find written chunks rather than holes.
var VolumeJobs = []VolumeJob{
	{Name: "seq_write_1m_qd8", RW: "write", BlockBytes: 1 << 20, QueueDepth: 8},
	{Name: "seq_read_1m_qd8", RW: "read", BlockBytes: 1 << 20, QueueDepth: 8},
	{Name: "rand_read_4k_qd1", RW: "randread", BlockBytes: 4096, QueueDepth: 1},
	{Name: "rand_read_4k_qd32", RW: "randread", BlockBytes: 4096, QueueDepth: 32},
	{Name: "rand_write_4k_qd1", RW: "randwrite", BlockBytes: 4096, QueueDepth: 1},
	{Name: "rand_write_4k_qd32", RW: "randwrite", BlockBytes: 4096, QueueDepth: 32},
	{Name: "write_fsync_4k_qd1", RW: "randwrite", BlockBytes: 4096, QueueDepth: 1, FsyncEveryWrite: true},
}

// VolumeConfig says which NBD export to measure and for how long.
type VolumeConfig struct {
	URI       string        `json:"uri"`        // nbd://host:port/export
	SizeBytes int64         `json:"size_bytes"` // bytes of the export the jobs touch, from offset 0
	Duration  time.Duration `json:"-"`          // of each measured job
	// Fill writes the whole range once (unmeasured) before the jobs, so that reads of a
	// sparse volume read data, not holes.
	Fill bool `json:"fill"`
	// Fio is the fio binary; "" is "fio" on $PATH.
	Fio string `json:"-"`
	// Log receives a line per job; nil discards.
	Log io.Writer `json:"-"`
}

// VolumeResult is what one job measured.
type VolumeResult struct {
	Job            VolumeJob `json:"job"`
	OpsPerSecond   float64   `json:"ops_per_second"`
	BytesPerSecond float64   `json:"bytes_per_second"`
	// Latency is fio's completion latency of each I/O (for the fsync job, of the write;
	// FlushP50/P99 are of the flush that follows it).
	LatencyP50Seconds float64 `json:"latency_p50_seconds"`
	LatencyP99Seconds float64 `json:"latency_p99_seconds"`
	FlushP50Seconds   float64 `json:"flush_p50_seconds,omitempty"`
	FlushP99Seconds   float64 `json:"flush_p99_seconds,omitempty"`
	Ops               int64   `json:"ops"`
	ElapsedSeconds    float64 `json:"elapsed_seconds"`
}

// VolumeReport is one run of the set against one export.
type VolumeReport struct {
	Tool            string         `json:"tool"`
	FioVersion      string         `json:"fio_version"`
	Config          VolumeConfig   `json:"config"`
	DurationSeconds float64        `json:"duration_seconds"`
	Results         []VolumeResult `json:"results"`
}

// Result returns the result of the job named name, or nil.
func (r *VolumeReport) Result(name string) *VolumeResult {
	for i := range r.Results {
		if r.Results[i].Job.Name == name {
			return &r.Results[i]
		}
	}
	return nil
}

// fioOutput is the part of fio's --output-format=json this package reads.
type fioOutput struct {
	Version string `json:"fio version"`
	Jobs    []struct {
		Name  string  `json:"jobname"`
		Error int     `json:"error"`
		Read  fioDir  `json:"read"`
		Write fioDir  `json:"write"`
		Sync  fioSync `json:"sync"`
	} `json:"jobs"`
}

type fioDir struct {
	IOBytes   int64   `json:"io_bytes"`
	BWBytes   float64 `json:"bw_bytes"`
	IOPS      float64 `json:"iops"`
	RuntimeMS int64   `json:"runtime"`
	TotalIOs  int64   `json:"total_ios"`
	Clat      fioLat  `json:"clat_ns"`
}

type fioSync struct {
	TotalIOs int64  `json:"total_ios"`
	Lat      fioLat `json:"lat_ns"`
}

type fioLat struct {
	N          int64              `json:"N"`
	Percentile map[string]float64 `json:"percentile"`
}

// p returns percentile q (e.g. "99.000000") in seconds, 0 if fio did not report it.
func (l fioLat) p(q string) float64 { return l.Percentile[q] / 1e9 }

// ParseFio reads the JSON fio printed for one job of rw. fio's nbd engine prints a line
// ("fio: connected to NBD server") before the JSON on the same stream, so anything before
// the first '{' is skipped.
func ParseFio(data []byte, rw string) (version string, res VolumeResult, err error) {
	i := bytes.IndexByte(data, '{')
	if i < 0 {
		return "", res, errors.New("fio printed no JSON")
	}
	var out fioOutput
	if err := json.Unmarshal(data[i:], &out); err != nil {
		return "", res, fmt.Errorf("fio JSON: %w", err)
	}
	if len(out.Jobs) != 1 {
		return "", res, fmt.Errorf("fio JSON: %d jobs, want 1", len(out.Jobs))
	}
	j := out.Jobs[0]
	if j.Error != 0 {
		return "", res, fmt.Errorf("fio job %s: error %d", j.Name, j.Error)
	}
	d := j.Read
	if rw == "write" || rw == "randwrite" {
		d = j.Write
	}
	res = VolumeResult{OpsPerSecond: d.IOPS, BytesPerSecond: d.BWBytes, Ops: d.TotalIOs,
		ElapsedSeconds:    float64(d.RuntimeMS) / 1e3,
		LatencyP50Seconds: d.Clat.p("50.000000"), LatencyP99Seconds: d.Clat.p("99.000000")}
	if j.Sync.TotalIOs > 0 {
		res.FlushP50Seconds, res.FlushP99Seconds = j.Sync.Lat.p("50.000000"), j.Sync.Lat.p("99.000000")
	}
	return out.Version, res, nil
}

// fioArgs returns fio's arguments for job against cfg. timed runs for cfg.Duration; an
// untimed job covers the range once.
func fioArgs(cfg VolumeConfig, job VolumeJob, timed bool) []string {
	args := []string{"--name=" + job.Name, "--ioengine=nbd", "--uri=" + cfg.URI,
		"--rw=" + job.RW, "--bs=" + strconv.FormatInt(job.BlockBytes, 10),
		"--iodepth=" + strconv.Itoa(job.QueueDepth), "--size=" + strconv.FormatInt(cfg.SizeBytes, 10),
		"--output-format=json", "--randrepeat=0", "--norandommap"}
	if job.FsyncEveryWrite {
		args = append(args, "--fsync=1")
	}
	if timed {
		args = append(args, "--time_based", "--runtime="+strconv.FormatInt(int64(cfg.Duration/time.Millisecond), 10)+"ms")
	}
	return args
}

// runFio runs fio with a deadline and returns what it printed on stdout.
func runFio(ctx context.Context, fio string, timeout time.Duration, args []string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, fio, args...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return nil, fmt.Errorf("fio did not finish within %v", timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("fio: %w: %s%s", err, bytes.TrimSpace(stderr.Bytes()), bytes.TrimSpace(stdout.Bytes()))
	}
	return stdout.Bytes(), nil
}

// ProbeNBD reports whether a 4 KiB read of uri succeeds within timeout.
func ProbeNBD(ctx context.Context, fio, uri string, timeout time.Duration) error {
	if fio == "" {
		fio = "fio"
	}
	_, err := runFio(ctx, fio, timeout, []string{"--name=probe", "--ioengine=nbd", "--uri=" + uri,
		"--rw=read", "--bs=4096", "--size=4096", "--output-format=json"})
	return err
}

// RunVolume runs VolumeJobs against cfg.URI with fio's nbd engine, each job for
// cfg.Duration under a deadline of that plus a minute.
func RunVolume(ctx context.Context, cfg VolumeConfig) (*VolumeReport, error) {
	if cfg.URI == "" {
		return nil, errors.New("no NBD URI")
	}
	if cfg.SizeBytes < 1<<20 || cfg.SizeBytes%4096 != 0 {
		return nil, fmt.Errorf("size (%d bytes) must be a multiple of 4096 and at least 1MiB", cfg.SizeBytes)
	}
	if cfg.Duration <= 0 {
		return nil, fmt.Errorf("duration (%v) must be positive", cfg.Duration)
	}
	if cfg.Fio == "" {
		cfg.Fio = "fio"
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	rep := &VolumeReport{Tool: "fio", Config: cfg, DurationSeconds: cfg.Duration.Seconds()}
	if cfg.Fill {
		fill := VolumeJob{Name: "fill", RW: "write", BlockBytes: 1 << 20, QueueDepth: 8}
		start := time.Now()
		// A generous deadline: the fill writes the whole range at whatever the export takes.
		if _, err := runFio(ctx, cfg.Fio, 10*time.Minute, fioArgs(cfg, fill, false)); err != nil {
			return nil, fmt.Errorf("fill %s: %w", cfg.URI, err)
		}
		fmt.Fprintf(cfg.Log, "%s: filled %d bytes in %v\n", cfg.URI, cfg.SizeBytes, time.Since(start).Round(time.Millisecond))
	}
	for _, job := range VolumeJobs {
		out, err := runFio(ctx, cfg.Fio, cfg.Duration+time.Minute, fioArgs(cfg, job, true))
		if err != nil {
			return nil, fmt.Errorf("%s against %s: %w", job.Name, cfg.URI, err)
		}
		ver, res, err := ParseFio(out, job.RW)
		if err != nil {
			return nil, fmt.Errorf("%s against %s: %w", job.Name, cfg.URI, err)
		}
		res.Job = job
		rep.FioVersion = ver
		rep.Results = append(rep.Results, res)
		fmt.Fprintf(cfg.Log, "%s: %s %.0f ops/s %.1f MiB/s p50 %.3f ms p99 %.3f ms\n", cfg.URI, job.Name,
			res.OpsPerSecond, res.BytesPerSecond/(1<<20), res.LatencyP50Seconds*1e3, res.LatencyP99Seconds*1e3)
	}
	return rep, nil
}

// VolumeTarget is one of the volume targets, stated as a share of the baseline's number.
type VolumeTarget struct {
	Job  string `json:"job"`
	What string `json:"what"` // "ops_per_second" or "bytes_per_second"
	// MinRatio is the least share of the baseline's number that meets the target.
	MinRatio float64 `json:"min_ratio"`
}

// VolumeTargets are the targets: half of qemu-nbd's 4 KiB random IOPS at QD32, 70% of its
// 1 MiB sequential read.
var VolumeTargets = []VolumeTarget{
	{Job: "rand_read_4k_qd32", What: "ops_per_second", MinRatio: 0.5},
	{Job: "rand_write_4k_qd32", What: "ops_per_second", MinRatio: 0.5},
	{Job: "seq_read_1m_qd8", What: "bytes_per_second", MinRatio: 0.7},
}

// VolumeComparison is a run against an export and the same jobs against a baseline export
// (qemu-nbd serving a raw file on the same disk).
type VolumeComparison struct {
	Date     time.Time     `json:"date"`
	Stratus  *VolumeReport `json:"stratus"`
	Baseline *VolumeReport `json:"baseline,omitempty"`
	// BaselineCommand is how the baseline was served.
	BaselineCommand string          `json:"baseline_command,omitempty"`
	Targets         []VolumeVerdict `json:"targets,omitempty"`
}

// VolumeVerdict says whether a target was met in this run.
type VolumeVerdict struct {
	VolumeTarget
	Ratio float64 `json:"ratio"`
	Met   bool    `json:"met"`
}

// Judge fills c.Targets from the two reports.
func (c *VolumeComparison) Judge() {
	c.Targets = nil
	if c.Stratus == nil || c.Baseline == nil {
		return
	}
	for _, t := range VolumeTargets {
		s, b := c.Stratus.Result(t.Job), c.Baseline.Result(t.Job)
		if s == nil || b == nil {
			continue
		}
		r := ratio(s.pick(t.What), b.pick(t.What))
		c.Targets = append(c.Targets, VolumeVerdict{VolumeTarget: t, Ratio: r, Met: r >= t.MinRatio})
	}
}

func (r *VolumeResult) pick(what string) float64 {
	if what == "bytes_per_second" {
		return r.BytesPerSecond
	}
	return r.OpsPerSecond
}

// ratio is a/b, 0 when b is 0 (JSON cannot hold +Inf).
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Markdown writes the comparison as a table, one row per job.
func (c *VolumeComparison) Markdown(w io.Writer) {
	s := c.Stratus
	fmt.Fprintf(w, "## Volume over NBD, %s\n\n", c.Date.Format(time.RFC3339))
	fmt.Fprintf(w, "fio %s, nbd engine, %d MiB range, %v per job; stratus at `%s`", s.FioVersion, s.Config.SizeBytes>>20, time.Duration(s.DurationSeconds*float64(time.Second)), s.Config.URI)
	if c.Baseline != nil {
		fmt.Fprintf(w, "; baseline `%s`", c.BaselineCommand)
	}
	fmt.Fprint(w, ".\n\n")
	if c.Baseline == nil {
		fmt.Fprintln(w, "| job | ops/s | MiB/s | p50 ms | p99 ms | flush p99 ms |")
		fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|")
		for _, r := range s.Results {
			fmt.Fprintf(w, "| %s | %.0f | %.1f | %.3f | %.3f | %s |\n", r.Job.Name, r.OpsPerSecond, r.BytesPerSecond/(1<<20),
				r.LatencyP50Seconds*1e3, r.LatencyP99Seconds*1e3, flushMS(r))
		}
		return
	}
	fmt.Fprintln(w, "| job | stratus ops/s | qemu-nbd ops/s | ratio | stratus MiB/s | qemu-nbd MiB/s | stratus p50/p99 ms | qemu-nbd p50/p99 ms | stratus flush p99 ms | qemu-nbd flush p99 ms |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, r := range s.Results {
		b := c.Baseline.Result(r.Job.Name)
		if b == nil {
			continue
		}
		fmt.Fprintf(w, "| %s | %.0f | %.0f | %.2f | %.1f | %.1f | %.3f / %.3f | %.3f / %.3f | %s | %s |\n", r.Job.Name,
			r.OpsPerSecond, b.OpsPerSecond, ratio(r.OpsPerSecond, b.OpsPerSecond), r.BytesPerSecond/(1<<20), b.BytesPerSecond/(1<<20),
			r.LatencyP50Seconds*1e3, r.LatencyP99Seconds*1e3, b.LatencyP50Seconds*1e3, b.LatencyP99Seconds*1e3, flushMS(r), flushMS(*b))
	}
	if len(c.Targets) > 0 {
		fmt.Fprintln(w)
		for _, t := range c.Targets {
			verdict := "MISSED"
			if t.Met {
				verdict = "met"
			}
			fmt.Fprintf(w, "- %s %s: %.2f of qemu-nbd (target ≥ %.2f): %s\n", t.Job, t.What, t.Ratio, t.MinRatio, verdict)
		}
	}
}

func flushMS(r VolumeResult) string {
	if !r.Job.FsyncEveryWrite {
		return "-"
	}
	return fmt.Sprintf("%.3f", r.FlushP99Seconds*1e3)
}
