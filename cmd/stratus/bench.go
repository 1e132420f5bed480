package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"stratus/bench"
)

func init() { register(newBenchCmd) }

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "Measure S3 endpoints (Stratus or any other) and the ring"}
	cmd.AddCommand(newBenchS3Cmd(), newBenchRingCmd(), newBenchSuiteCmd(), newBenchVolumeCmd(), newBenchEC2Cmd())
	return cmd
}

func newBenchS3Cmd() *cobra.Command {
	var cfg bench.S3Config
	var ep endpointFlags
	var size string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "s3 put|get|mixed|list|delete|multipart",
		Short: "Drive one S3 operation against an endpoint and report throughput and latency",
		Long: `Drive one S3 operation against any S3 endpoint and report operations/s, MiB/s, latency
percentiles (p50, p90, p99, p99.9, max), time to first byte for reads, and errors by S3 code.
Credentials come from --access-key/--secret-key, $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY,
or --credentials (the data/credentials.json 'stratus server' writes).`,
		Example: `  stratus bench s3 put --size 1MiB --concurrency 8 --duration 30s --credentials data/credentials.json
  stratus bench s3 get --endpoint http://127.0.0.1:9000 --size 4KiB --objects 1000 --json`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: bench.Ops,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg.Op = args[0]
			n, err := parseSize(size)
			if err != nil {
				return err
			}
			cfg.SizeBytes = n
			if cfg.Endpoint, cfg.Region, cfg.AccessKey, cfg.SecretKey, err = ep.resolve(); err != nil {
				return err
			}
			prog := newProgress(cmd.ErrOrStderr())
			prog.start = prog.start.Add(-time.Second) // a benchmark shows progress from the start
			cfg.Progress = func(done int, elapsed time.Duration) {
				if prog.tty {
					prog.shown = true
					fmt.Fprintf(prog.w, "\r%s: %d ops in %v (%.0f ops/s) ", cfg.Op, done, elapsed.Round(time.Second), float64(done)/elapsed.Seconds())
				}
			}
			rep, err := bench.RunS3(cmd.Context(), cfg)
			prog.done()
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			printS3Report(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	f := cmd.Flags()
	ep.addFlags(f, "http://127.0.0.1:9000", "S3 endpoint URL")
	f.StringVar(&cfg.Bucket, "bucket", "", "bucket to use (default: a new one per run)")
	f.StringVar(&size, "size", "1MiB", "object size: bytes, or with KiB, MiB, GiB")
	f.IntVar(&cfg.Concurrency, "concurrency", 8, "requests in flight")
	f.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to measure")
	f.IntVar(&cfg.Count, "count", 0, "stop after this many operations instead of --duration")
	f.IntVar(&cfg.Objects, "objects", 100, "objects that get, mixed, list and delete work on (written first)")
	f.IntVar(&cfg.Prefixes, "prefixes", 0, "spread the objects over this many prefixes; list then lists the prefixes with delimiter '/'")
	f.BoolVar(&cfg.FullListing, "full-listing", false, "with --prefixes, list every key, without a delimiter")
	f.BoolVar(&cfg.Reuse, "reuse", false, "the objects are in --bucket already (an earlier run with --cleanup=false wrote them): don't write them")
	f.IntVar(&cfg.GetPercent, "get-percent", 80, "share of reads in a mixed run")
	f.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "unmeasured run before measuring")
	f.StringVar(&cfg.ServerMetrics, "server-metrics", "", "the server's Prometheus /metrics URL: report its CPU time and allocations per operation")
	f.BoolVar(&cfg.Cleanup, "cleanup", true, "delete what the run wrote")
	f.DurationVar(&cfg.Timeout, "timeout", time.Minute, "deadline of each request")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// endpointFlags say which S3 endpoint to drive and with which keys.
type endpointFlags struct {
	endpoint, region, accessKey, secretKey, credsFile string
}

func (e *endpointFlags) addFlags(f *pflag.FlagSet, defaultEndpoint, usage string) {
	f.StringVar(&e.endpoint, "endpoint", defaultEndpoint, usage)
	f.StringVar(&e.region, "region", "us-east-1", "region to sign for")
	f.StringVar(&e.accessKey, "access-key", "", "access key (default $AWS_ACCESS_KEY_ID)")
	f.StringVar(&e.secretKey, "secret-key", "", "secret key (default $AWS_SECRET_ACCESS_KEY)")
	f.StringVar(&e.credsFile, "credentials", "", "JSON file with access_key and secret_key (as stratus server writes)")
}

// resolve fills the keys from flags, the environment, or a credentials file (whose
// endpoint, if any, wins over the default).
func (e *endpointFlags) resolve() (endpoint, region, accessKey, secretKey string, err error) {
	endpoint, region, accessKey, secretKey = e.endpoint, e.region, e.accessKey, e.secretKey
	if e.credsFile != "" {
		data, err := os.ReadFile(e.credsFile)
		if err != nil {
			return "", "", "", "", err
		}
		var c adminCredentials
		if err := json.Unmarshal(data, &c); err != nil {
			return "", "", "", "", fmt.Errorf("%s: %w", e.credsFile, err)
		}
		accessKey, secretKey = c.AccessKey, c.SecretKey
		if c.Endpoint != "" {
			endpoint = c.Endpoint
		}
	}
	if accessKey == "" {
		accessKey = os.Getenv("AWS_ACCESS_KEY_ID")
	}
	if secretKey == "" {
		secretKey = os.Getenv("AWS_SECRET_ACCESS_KEY")
	}
	if accessKey == "" || secretKey == "" {
		return "", "", "", "", fmt.Errorf("no credentials: give --access-key and --secret-key, set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or --credentials")
	}
	return endpoint, region, accessKey, secretKey, nil
}

// resolvePeer resolves the keys of a peer endpoint like resolve, except that an explicit
// endpoint wins over a credentials file's.
func (e *endpointFlags) resolvePeer() (bench.Target, error) {
	endpoint, region, accessKey, secretKey, err := e.resolve()
	if err != nil {
		return bench.Target{}, fmt.Errorf("--peer: %w", err)
	}
	if e.endpoint != "" {
		endpoint = e.endpoint
	}
	if endpoint == "" {
		return bench.Target{}, errors.New("--peer-credentials names no endpoint: give --peer")
	}
	return bench.Target{Endpoint: endpoint, Region: region, AccessKey: accessKey, SecretKey: secretKey}, nil
}

func printS3Report(w io.Writer, rep *bench.Report) {
	c := rep.Config
	fmt.Fprintf(w, "%s %s: %s objects, concurrency %d, %v against %s\n", rep.Tool, c.Op, formatSize(c.SizeBytes),
		c.Concurrency, rep.Elapsed.Round(time.Millisecond), c.Endpoint)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tops\terrors\tops/s\tMiB/s\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\tttfb p50 ms\tttfb p99 ms\t")
	for _, s := range rep.Ops {
		ttfb50, ttfb99 := "-", "-"
		if s.TTFB != nil {
			ttfb50, ttfb99 = fmt.Sprintf("%.2f", s.TTFB.P50*1e3), fmt.Sprintf("%.2f", s.TTFB.P99*1e3)
		}
		l := s.Latency
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t%s\t\n", s.Op, s.Count, s.Errors,
			s.OpsPerSecond, s.BytesPerSecond/(1<<20), l.P50*1e3, l.P90*1e3, l.P99*1e3, l.P999*1e3, l.Max*1e3, ttfb50, ttfb99)
	}
	tw.Flush()
	for _, s := range rep.Ops {
		for code, n := range s.ErrorsByCode {
			fmt.Fprintf(w, "  %s errors %s: %d\n", s.Op, code, n)
		}
	}
	if sc := rep.Server; sc != nil && sc.CPUSecondsPerOp != nil && sc.AllocBytesPerOp != nil {
		fmt.Fprintf(w, "  server: %.3f ms CPU and %.1f KiB allocated per operation (%.1f s CPU in all)\n",
			*sc.CPUSecondsPerOp*1e3, *sc.AllocBytesPerOp/1024, sc.CPUSeconds)
	}
}

func newBenchRingCmd() *cobra.Command {
	var cfg bench.RingConfig
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ring",
		Short: "Time a rebalance from scratch, adding a host, and lookups, for a ring of a given size",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := bench.RunRing(cfg)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(rep)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ring of 2^%d partitions, %d replicas, %d devices\n", cfg.PartPower, cfg.Replicas,
				cfg.Regions*cfg.Zones*cfg.Hosts*cfg.Devices)
			fmt.Fprintf(cmd.OutOrStdout(), "rebalance from scratch  %.3f s (balance %.2f%%, dispersion %.2f%%)\n", rep.RebalanceSeconds,
				rep.BalanceRatio*100, rep.DispersionRatio*100)
			fmt.Fprintf(cmd.OutOrStdout(), "add one host            %.3f s, moved %.3f× the ideal\n", rep.AddHostSeconds, rep.MovedToIdealRatio)
			fmt.Fprintf(cmd.OutOrStdout(), "lookup                  %.0f ns\n", rep.LookupSeconds*1e9)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.PartPower, "part-power", 18, "log2 of the partition count")
	f.IntVar(&cfg.Replicas, "replicas", 3, "replicas")
	f.IntVar(&cfg.Regions, "regions", 2, "regions")
	f.IntVar(&cfg.Zones, "zones", 4, "zones per region")
	f.IntVar(&cfg.Hosts, "hosts", 16, "hosts per zone")
	f.IntVar(&cfg.Devices, "devices", 8, "devices per host")
	f.IntVar(&cfg.Lookups, "lookups", 1_000_000, "lookups to time")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// parseSize reads "4096", "4KiB", "1MiB", "2GiB" (also KB/MB/GB as powers of 1,000).
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			n, err := strconv.ParseFloat(num, 64)
			if err != nil || n < 0 {
				return 0, fmt.Errorf("size %q: want a number with an optional unit (KiB, MiB, GiB)", s)
			}
			return int64(n * float64(u.mult)), nil
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q: want a number with an optional unit (KiB, MiB, GiB)", s)
	}
	return n, nil
}

func formatSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

func newBenchSuiteCmd() *cobra.Command {
	var cfg bench.SuiteConfig
	var ep, peer endpointFlags
	var out string
	var replicas int
	var ecLayout, ecPolicyName, ecSizes string
	var ecDevices int
	cmd := &cobra.Command{
		Use:   "suite",
		Short: "Run the standard set against a fresh stratus server (or --endpoint) and save the results",
		Long: `Measure the machine's ceilings (fsync'd sequential write, 4 KiB O_DSYNC writes, loopback TCP),
then 1 MiB and 4 KiB PUT and GET at each --concurrency, then listings: --list-objects
objects, 10 to a prefix, listed in full and by their prefixes (delimiter '/'), and as many
objects each under a prefix of its own, listed by prefix. Without --endpoint it
starts a stratus server of its own, as a separate process in a temporary directory, and
reports that process's CPU time and allocations per operation. With --peer (and its keys:
--peer-credentials, or --peer-access-key and --peer-secret-key) every case also runs
against that S3 endpoint, right after Stratus's run of it, and the results show the peer's
numbers and Stratus's operations/s over the peer's. Last, the erasure-coded cases (not
against the peer): the server it starts has --ec-devices devices and an EC --ec policy
(4+2: ec-4-2) beside its replicated one; each --ec-sizes object size is written (PUT) to
a replicated and to an EC bucket and read back (GET), then read from the EC bucket with
the fragments on one and on two devices deleted; --ec-repeats times each, interleaved, and
the medians are tabled. Against --endpoint the EC cases need --ec-policy and skip the
degraded reads. Results go to <out>/<date>.json and <out>/<date>.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			tmp, err := os.MkdirTemp("", "stratus-bench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			cfg.Dir, cfg.Log = tmp, cmd.ErrOrStderr()
			if cfg.EC.Sizes, err = parseSizes(ecSizes); err != nil {
				return fmt.Errorf("--ec-sizes: %w", err)
			}
			if ep.endpoint == "" {
				var extra []string
				if ecLayout != "" && cfg.Runs("ec") {
					if extra, err = ecServerArgs(ecLayout, ecDevices); err != nil {
						return err
					}
				}
				srv, err := spawnBenchServer(ctx, tmp, replicas, false, extra)
				if err != nil {
					return err
				}
				defer srv.stop()
				c := srv.creds
				cfg.Endpoint, cfg.AccessKey, cfg.SecretKey, cfg.Region = c.Endpoint, c.AccessKey, c.SecretKey, c.Region
				cfg.ServerMetrics = srv.metrics
				if extra != nil {
					k, m, _ := parseECLayout(ecLayout)
					cfg.EC.Policy = fmt.Sprintf("ec-%d-%d", k, m)
					cfg.EC.LoseFragments = srv.loseFragments(cfg.EC.Policy)
				}
			} else if cfg.Endpoint, cfg.Region, cfg.AccessKey, cfg.SecretKey, err = ep.resolve(); err != nil {
				return err
			} else {
				cfg.EC.Policy = ecPolicyName // a policy the endpoint has; no degraded reads
			}
			cfg.EC.Replicated = fmt.Sprintf("replicated-%d", replicas)
			if peer.endpoint != "" || peer.credsFile != "" {
				if cfg.Peer, err = peer.resolvePeer(); err != nil {
					return err
				}
			}
			res, err := bench.RunSuite(ctx, cfg)
			if err != nil {
				return err
			}
			return saveResults(cmd.OutOrStdout(), out, res.Date.Format("2006-01-02T150405Z"), res)
		},
	}
	f := cmd.Flags()
	ep.addFlags(f, "", "S3 endpoint to measure (default: start a stratus server)")
	f.IntVar(&replicas, "replicas", 3, "replicas of the server the suite starts")
	f.StringVar(&peer.endpoint, "peer", "", "another S3 endpoint to run every case against too, interleaved, for ratios")
	f.StringVar(&peer.region, "peer-region", "us-east-1", "region to sign for at --peer")
	f.StringVar(&peer.accessKey, "peer-access-key", "", "access key at --peer")
	f.StringVar(&peer.secretKey, "peer-secret-key", "", "secret key at --peer")
	f.StringVar(&peer.credsFile, "peer-credentials", "", "JSON file with the keys (and endpoint) of --peer, as stratus server writes")
	f.DurationVar(&cfg.Duration, "duration", 10*time.Second, "length of each measured run")
	f.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "unmeasured run before each PUT and GET run (0s: none)")
	f.IntSliceVar(&cfg.Concurrencies, "concurrency", []int{8, 32}, "concurrencies to run each case at")
	f.StringSliceVar(&cfg.Cases, "cases", []string{"put", "get", "list", "ec"}, "cases to run: put, get, list, ec")
	f.StringVar(&ecLayout, "ec", "4+2", "K+M of the erasure-coded policy of the server the suite starts (empty: no EC cases)")
	f.IntVar(&ecDevices, "ec-devices", 6, "devices of the server the suite starts, with --ec (at least K+M)")
	f.StringVar(&ecPolicyName, "ec-policy", "", "with --endpoint: the erasure-coded policy (location constraint) for the EC cases")
	f.StringVar(&ecSizes, "ec-sizes", "1MiB,64MiB", "object sizes of the EC cases")
	f.IntVar(&cfg.EC.Repeats, "ec-repeats", 3, "runs of each EC case, for medians")
	f.IntVar(&cfg.EC.Concurrency, "ec-concurrency", 4, "requests in flight in the EC cases")
	f.IntVar(&cfg.ListObjects, "list-objects", 10000, "objects in each listed bucket (0: skip the listing)")
	f.DurationVar(&cfg.ListDuration, "list-duration", 0, "length of each listing run (default: --duration, at least 5s)")
	f.StringVar(&out, "out", "bench/results", "directory for the results")
	f.StringVar(&cfg.ServerMetrics, "server-metrics", "", "with --endpoint: the server's Prometheus /metrics URL, for its CPU and allocations per operation")
	return cmd
}

// benchServer is a stratus server process started for a suite.
type benchServer struct {
	creds   adminCredentials // with the addresses it bound
	metrics string           // its /metrics URL
	exe     string           // the stratus binary
	data    string           // its data directory
	stop    func()
}

// spawnBenchServer starts `stratus server` as a child process under dir, on free loopback
// ports (serving volumes over NBD too if volumes; with the extra flags), and waits until
// it serves. With compute flags (the EC2 benchmark's) it also serves the EC2 API and runs
// instances as those flags say. A process of its own keeps the load tool's CPU and
// allocations out of the server's.
func spawnBenchServer(ctx context.Context, dir string, replicas int, volumes bool, extra []string, compute ...string) (*benchServer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	// Every listener binds a port of its own choosing, read back from credentials.json,
	// except metrics, whose address is not recorded there.
	metrics, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	nbd := ""
	if volumes {
		nbd = "127.0.0.1:0"
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(exe, "--log-level", "warn", "server", "--data", data, "--replicas", strconv.Itoa(replicas),
		"--listen", "127.0.0.1:0", "--meta-listen", "127.0.0.1:0", "--objectd-listen", "127.0.0.1:0", "--metrics-listen", metrics,
		"--nbd-listen", nbd, "--console-listen", "",
		"--ec2-listen", "") // the S3 and volume benchmarks need no EC2 API
	cmd.Args = append(cmd.Args, extra...)
	if len(compute) > 0 {
		// A later flag wins over the --ec2-listen "" above.
		cmd.Args = append(cmd.Args, "--ec2-listen", "127.0.0.1:0")
		cmd.Args = append(cmd.Args, compute...)
	}
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		raw, err := os.ReadFile(filepath.Join(data, "credentials.json"))
		var c adminCredentials
		if err == nil && json.Unmarshal(raw, &c) == nil && c.AccessKey != "" {
			return &benchServer{creds: c, metrics: "http://" + metrics + "/metrics", exe: exe, data: data, stop: stop}, nil
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("stratus server exited before serving: %v", err)
		case <-ctx.Done():
			stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, errors.New("stratus server did not start within a minute")
		}
	}
}

// freeLoopbackAddr returns a 127.0.0.1 address whose port was free a moment ago.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// saveResults writes v as <stem>.json and its markdown as <stem>.md under out, prints the
// markdown and where both went.
func saveResults(w io.Writer, out, stem string, v interface{ Markdown(io.Writer) }) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	stem = filepath.Join(out, stem)
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	if err := os.WriteFile(stem+".json", append(data, '\n'), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	v.Markdown(&md)
	if err := os.WriteFile(stem+".md", []byte(md.String()), 0o644); err != nil {
		return err
	}
	fmt.Fprint(w, md.String())
	fmt.Fprintf(w, "\nsaved %s.json and %s.md\n", stem, stem)
	return nil
}
