package bench

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

// EC2Config describes an instance-launch benchmark against an EC2 endpoint.
type EC2Config struct {
	Endpoint, Region, AccessKey, SecretKey string
	// ImageID is what RunInstances launches: an ami-, or an aki- for a kernel boot, with
	// KernelID and RamdiskID if the launch names them.
	ImageID, KernelID, RamdiskID string
	InstanceType                 string
	// Concurrencies are the numbers of launches kept in flight, one level each.
	Concurrencies []int
	// LaunchesPerLevel is how many instances each level launches; at least its concurrency.
	LaunchesPerLevel int
	// ConsoleMarker, if set, is a line the guest prints on its console: each launch is
	// also timed to GetConsoleOutput showing it, before it is terminated.
	ConsoleMarker string
	// ComputeMetrics, if set, is a compute host's /metrics URL: its launch-phase histogram
	// is read before and after each level.
	ComputeMetrics string
	// Timeout bounds each launch, to running and then to the console marker.
	Timeout time.Duration
	// Boot, if set, is measured first as the machine's ceiling.
	Boot *BootConfig
	Log  io.Writer
}

// EC2Result is one run of the launch benchmark.
type EC2Result struct {
	Date     time.Time      `json:"date"`
	Machine  Machine        `json:"machine"`
	Endpoint string         `json:"endpoint"`
	Image    string         `json:"image"`
	Type     string         `json:"instance_type"`
	Marker   string         `json:"console_marker,omitempty"`
	Ceiling  *BootCeiling   `json:"ceiling,omitempty"`
	First    *LaunchLevel   `json:"first_launch"`
	Levels   []*LaunchLevel `json:"levels"`
}

// LaunchLevel is what the launches of one concurrency did.
type LaunchLevel struct {
	Concurrency  int            `json:"concurrency"`
	Launches     int            `json:"launches"`
	Errors       int            `json:"errors"`
	ErrorsByCode map[string]int `json:"errors_by_code,omitempty"`
	// ElapsedSeconds runs from the first RunInstances to the last launch's end (running, or
	// its console marker).
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// LaunchesPerMinute counts the launches that reached running.
	LaunchesPerMinute float64 `json:"launches_per_minute"`
	// ToRunning is RunInstances's call to DescribeInstances first saying running.
	ToRunning Latency `json:"to_running"`
	// ToConsole is RunInstances's call to GetConsoleOutput first showing the marker.
	ToConsole *Latency `json:"to_console,omitempty"`
	// PollRetries counts DescribeInstances and GetConsoleOutput calls that failed in
	// transport (not with an EC2 error) and were tried again at the next poll.
	PollRetries int64 `json:"poll_retries"`
	// NotTerminated counts the level's instances still not terminated two minutes after
	// the level ended (a host that fails to tear instances down); the run goes on.
	NotTerminated int `json:"not_terminated"`
	// Phases are the compute host's phases of the launches in this level.
	Phases map[string]PhaseStats `json:"phases,omitempty"`
}

// pollRunning and pollConsole are how often a launch asks for its state and its console.
const (
	pollRunning = 100 * time.Millisecond
	pollConsole = 250 * time.Millisecond
)

// ec2Bench is a run in progress: the client and every instance it launched.
type ec2Bench struct {
	cfg EC2Config
	c   *ec2.Client
	mu  sync.Mutex
	// launched are the IDs of every instance launched, to terminate them all at the end.
	launched []string
	// pollRetries counts polls that failed in transport and were tried again.
	pollRetries atomic.Int64
}

// maxPollFailures is how many polls in a row may fail in transport before a launch fails.
const maxPollFailures = 5

// pollFailed decides after a failed poll: an EC2 error, or the failures in a row passing
// maxPollFailures, ends the launch; a transport failure is tried again at the next poll
// (on a machine saturated by booting guests an answer can be slow to come).
func (b *ec2Bench) pollFailed(err error, inARow *int) error {
	var api smithy.APIError
	*inARow++
	if errors.As(err, &api) || *inARow > maxPollFailures {
		return err
	}
	b.pollRetries.Add(1)
	return nil
}

// NewEC2Client is an aws-sdk-go-v2 EC2 client for endpoint, signing with the keys.
func NewEC2Client(endpoint, region, accessKey, secretKey string) *ec2.Client {
	return ec2.New(ec2.Options{Region: region, BaseEndpoint: aws.String(endpoint), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
		HTTPClient:  &http.Client{Timeout: time.Minute}})
}

// RunEC2 measures the ceiling, one launch alone (the image's first on a host just
// registered: a cache miss), then a level per concurrency. Every instance it launched is
// terminated before it returns, whether it succeeded, failed or was interrupted.
func RunEC2(ctx context.Context, cfg EC2Config) (res *EC2Result, err error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 3 * time.Minute
	}
	b := &ec2Bench{cfg: cfg, c: NewEC2Client(cfg.Endpoint, cfg.Region, cfg.AccessKey, cfg.SecretKey)}
	defer func() {
		if cerr := b.terminateAll(context.WithoutCancel(ctx)); cerr != nil && err == nil {
			err = cerr
		}
	}()
	logf := func(format string, args ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, format+"\n", args...)
		}
	}
	res = &EC2Result{Date: time.Now().UTC(), Machine: Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH},
		Endpoint: cfg.Endpoint, Image: cfg.ImageID, Type: cfg.InstanceType, Marker: cfg.ConsoleMarker}
	if cfg.Boot != nil {
		logf("ceiling: %d bare QEMU boots to %q", cfg.Boot.Runs, cfg.Boot.Marker)
		if res.Ceiling, err = MeasureBootCeiling(ctx, *cfg.Boot); err != nil {
			return nil, fmt.Errorf("ceiling: %w", err)
		}
	}
	logf("first launch of %s", cfg.ImageID)
	if res.First, err = b.level(ctx, 1, 1); err != nil {
		return nil, err
	}
	for _, conc := range cfg.Concurrencies {
		n := max(cfg.LaunchesPerLevel, conc)
		logf("%d launches, %d at a time", n, conc)
		lv, err := b.level(ctx, conc, n)
		if err != nil {
			return nil, err
		}
		res.Levels = append(res.Levels, lv)
	}
	return res, nil
}

// level launches n instances, conc at a time, then waits until they are all terminated.
func (b *ec2Bench) level(ctx context.Context, conc, n int) (*LaunchLevel, error) {
	var before phaseHistograms
	if b.cfg.ComputeMetrics != "" {
		var err error
		if before, err = scrapePhases(ctx, b.cfg.ComputeMetrics); err != nil {
			return nil, err
		}
	}
	lv := &LaunchLevel{Concurrency: conc, Launches: n}
	retriesBefore := b.pollRetries.Load()
	var mu sync.Mutex
	var toRunning, toConsole []time.Duration
	var ids []string
	next := make(chan struct{}, n)
	for range n {
		next <- struct{}{}
	}
	close(next)
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for range next {
				if ctx.Err() != nil {
					return
				}
				id, run, console, err := b.launchOne(ctx)
				mu.Lock()
				if id != "" {
					ids = append(ids, id)
				}
				if run > 0 {
					toRunning = append(toRunning, run)
				}
				if console > 0 {
					toConsole = append(toConsole, console)
				}
				if err != nil {
					lv.Errors++
					if lv.ErrorsByCode == nil {
						lv.ErrorsByCode = map[string]int{}
					}
					lv.ErrorsByCode[ec2ErrorCode(err)]++
					if b.cfg.Log != nil {
						fmt.Fprintf(b.cfg.Log, "launch %s: %v\n", id, err)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	lv.ElapsedSeconds = elapsed.Seconds()
	lv.PollRetries = b.pollRetries.Load() - retriesBefore
	lv.LaunchesPerMinute = float64(len(toRunning)) / elapsed.Minutes()
	lv.ToRunning = summarize(toRunning)
	if len(toConsole) > 0 {
		l := summarize(toConsole)
		lv.ToConsole = &l
	}
	left, err := b.waitTerminated(ctx, ids)
	if err != nil {
		return nil, err
	}
	lv.NotTerminated = left
	if left > 0 && b.cfg.Log != nil {
		fmt.Fprintf(b.cfg.Log, "%d instances of the level not terminated within two minutes\n", left)
	}
	if b.cfg.ComputeMetrics != "" {
		after, err := scrapePhases(ctx, b.cfg.ComputeMetrics)
		if err != nil {
			return nil, err
		}
		lv.Phases = phaseDelta(before, after)
	}
	return lv, nil
}

// launchOne runs one instance, times it to running and to its console marker, and asks
// for its termination. It returns the instance's ID as soon as there is one.
func (b *ec2Bench) launchOne(ctx context.Context) (id string, toRunning, toConsole time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	in := &ec2.RunInstancesInput{ImageId: aws.String(b.cfg.ImageID), InstanceType: types.InstanceType(b.cfg.InstanceType),
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}
	if b.cfg.KernelID != "" {
		in.KernelId = aws.String(b.cfg.KernelID)
	}
	if b.cfg.RamdiskID != "" {
		in.RamdiskId = aws.String(b.cfg.RamdiskID)
	}
	start := time.Now()
	out, err := b.c.RunInstances(ctx, in)
	if err != nil {
		return "", 0, 0, err
	}
	if len(out.Instances) != 1 {
		return "", 0, 0, fmt.Errorf("RunInstances returned %d instances", len(out.Instances))
	}
	id = aws.ToString(out.Instances[0].InstanceId)
	b.mu.Lock()
	b.launched = append(b.launched, id)
	b.mu.Unlock()
	defer func() {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, terr := b.c.TerminateInstances(tctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); terr != nil && err == nil {
			err = fmt.Errorf("terminate: %w", terr)
		}
	}()
	failures := 0
	for {
		d, err := b.c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			if err := b.pollFailed(err, &failures); err != nil {
				return id, 0, 0, err
			}
			if err := sleepCtx(ctx, pollRunning); err != nil {
				return id, 0, 0, err
			}
			continue
		}
		failures = 0
		if len(d.Reservations) != 1 || len(d.Reservations[0].Instances) != 1 {
			return id, 0, 0, fmt.Errorf("DescribeInstances %s: %d reservations", id, len(d.Reservations))
		}
		inst := d.Reservations[0].Instances[0]
		switch inst.State.Name {
		case types.InstanceStateNameRunning:
			toRunning = time.Since(start)
		case types.InstanceStateNamePending:
		default:
			reason := ""
			if inst.StateReason != nil {
				reason = aws.ToString(inst.StateReason.Code) + ": " + aws.ToString(inst.StateReason.Message)
			}
			return id, 0, 0, &launchFailure{state: string(inst.State.Name), reason: reason}
		}
		if toRunning > 0 {
			break
		}
		if err := sleepCtx(ctx, pollRunning); err != nil {
			return id, 0, 0, err
		}
	}
	if b.cfg.ConsoleMarker == "" {
		return id, toRunning, 0, nil
	}
	failures = 0
	for {
		c, err := b.c.GetConsoleOutput(ctx, &ec2.GetConsoleOutputInput{InstanceId: aws.String(id)})
		if err != nil {
			if err := b.pollFailed(err, &failures); err != nil {
				return id, toRunning, 0, err
			}
			if err := sleepCtx(ctx, pollConsole); err != nil {
				return id, toRunning, 0, err
			}
			continue
		}
		failures = 0
		text, _ := base64.StdEncoding.DecodeString(aws.ToString(c.Output))
		if strings.Contains(string(text), b.cfg.ConsoleMarker) {
			return id, toRunning, time.Since(start), nil
		}
		if err := sleepCtx(ctx, pollConsole); err != nil {
			return id, toRunning, 0, fmt.Errorf("console marker: %w", err)
		}
	}
}

// launchFailure is an instance that left pending for something other than running.
type launchFailure struct{ state, reason string }

func (f *launchFailure) Error() string { return "instance became " + f.state + " " + f.reason }

// ec2ErrorCode is an EC2 error's code, or the kind of a failure.
func ec2ErrorCode(err error) string {
	var api smithy.APIError
	var lf *launchFailure
	switch {
	case errors.As(err, &api):
		return api.ErrorCode()
	case errors.As(err, &lf):
		return "Instance" + strings.ToUpper(lf.state[:1]) + lf.state[1:]
	case errors.Is(err, context.DeadlineExceeded):
		return "Timeout"
	}
	return "Other"
}

// waitTerminated waits (at most two minutes) until every instance of ids is terminated, so
// the next level starts on an idle host, and returns how many were not.
func (b *ec2Bench) waitTerminated(ctx context.Context, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		d, err := b.c.DescribeInstances(wctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
		if err != nil {
			if ctx.Err() == nil && wctx.Err() != nil {
				return len(ids), nil
			}
			return 0, fmt.Errorf("waiting for terminations: %w", err)
		}
		left := 0
		for _, r := range d.Reservations {
			for _, in := range r.Instances {
				if in.State.Name != types.InstanceStateNameTerminated {
					left++
				}
			}
		}
		if left == 0 {
			return 0, nil
		}
		if err := sleepCtx(wctx, 250*time.Millisecond); err != nil {
			if ctx.Err() != nil {
				return left, ctx.Err()
			}
			return left, nil
		}
	}
}

// terminateAll asks for the termination of every instance launched (terminating a
// terminated instance is fine), in batches, and waits until the hosts have torn them down,
// with deadlines of its own: it runs after an interrupt too, and a server the caller stops
// next must not be left with instances it never tore down.
func (b *ec2Bench) terminateAll(ctx context.Context) error {
	b.mu.Lock()
	all := append([]string(nil), b.launched...)
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for ids := all; len(ids) > 0; {
		n := min(len(ids), 100)
		if _, err := b.c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids[:n]}); err != nil {
			return fmt.Errorf("terminating what the benchmark launched (%s…): %w", ids[0], err)
		}
		ids = ids[n:]
	}
	left, err := b.waitTerminated(ctx, all)
	if err == nil && left > 0 {
		err = errors.New("still shutting down")
	}
	if err != nil {
		return fmt.Errorf("%d of the %d instances the benchmark launched not terminated yet: %w", left, len(all), err)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// phaseOrder is the order phases are shown in.
var phaseOrder = []string{"pickup", "image_fetch_miss", "image_fetch_hit", "disks", "define", "start", "record"}

// Markdown renders the result as BENCHMARKS.md shows it: seconds, medians and p90.
func (r *EC2Result) Markdown(w io.Writer) {
	fmt.Fprintf(w, "Measured %s on %d CPUs (%s, %s) against %s: %s, %s.\n\n", r.Date.Format("2006-01-02 15:04 UTC"), r.Machine.CPUs,
		r.Machine.OS, r.Machine.Go, r.Endpoint, r.Image, r.Type)
	if c := r.Ceiling; c != nil {
		fmt.Fprintf(w, "Ceiling in the same run: a bare QEMU boot to %q, median %.2f s, p90 %.2f s (%d boots): `%s`.\n\n",
			r.Marker, c.ToMarker.P50, c.ToMarker.P90, c.Samples, c.Command)
	}
	fmt.Fprintln(w, "| launches | concurrency | launches/min | to running p50 s | p90 s | to console p50 s | p90 s | errors | polls retried | not terminated |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	rows := append([]*LaunchLevel{r.First}, r.Levels...)
	for i, lv := range rows {
		if lv == nil {
			continue
		}
		label := fmt.Sprint(lv.Launches)
		if i == 0 {
			label = "first (cold cache)"
		}
		console := "- | -"
		if lv.ToConsole != nil {
			console = fmt.Sprintf("%.2f | %.2f", lv.ToConsole.P50, lv.ToConsole.P90)
		}
		fmt.Fprintf(w, "| %s | %d | %.1f | %.2f | %.2f | %s | %d | %d | %d |\n", label, lv.Concurrency, lv.LaunchesPerMinute,
			lv.ToRunning.P50, lv.ToRunning.P90, console, lv.Errors, lv.PollRetries, lv.NotTerminated)
	}
	if r.First == nil || r.First.Phases == nil {
		return
	}
	fmt.Fprint(w, "\nWhere a launch's time goes on the host (stratus_computed_launch_phase_seconds; median / p90 estimated from the buckets, s):\n\n")
	fmt.Fprint(w, "| phase |")
	for _, lv := range rows {
		fmt.Fprintf(w, " c=%d |", lv.Concurrency)
	}
	fmt.Fprint(w, "\n|---|")
	for range rows {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w)
	for _, ph := range phaseOrder {
		fmt.Fprintf(w, "| %s |", ph)
		for _, lv := range rows {
			if s, ok := lv.Phases[ph]; ok {
				fmt.Fprintf(w, " %.3f / %.3f |", s.P50Seconds, s.P90Seconds)
			} else {
				fmt.Fprint(w, " - |")
			}
		}
		fmt.Fprintln(w)
	}
}
