package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"stratus/bench"
	"stratus/computed/daemon"
	"stratus/ec2api"
	"stratus/internal/testguest"
)

// ec2BenchFlags are the flags 'bench ec2' and its suite share.
type ec2BenchFlags struct {
	instanceType   string
	concurrencies  []int
	launches       int
	marker         string
	timeout        time.Duration
	ceilingBoots   int
	ceilingCmdline string
	ceilingAccel   string
}

func (e *ec2BenchFlags) addFlags(f *pflag.FlagSet) {
	f.StringVar(&e.instanceType, "instance-type", "t3.nano", "instance type to launch")
	f.IntSliceVar(&e.concurrencies, "concurrency", []int{1, 4, 16}, "RunInstances calls kept in flight, one level each")
	f.IntVar(&e.launches, "launches", 8, "instances each level launches (at least its concurrency)")
	f.DurationVar(&e.timeout, "launch-timeout", 3*time.Minute, "bound on one launch, to running and then to its console marker")
	f.IntVar(&e.ceilingBoots, "ceiling-boots", 3, "bare QEMU boots of the kernel and initrd measured as the ceiling (0: none; needs --kernel and --initrd)")
	f.StringVar(&e.ceilingCmdline, "ceiling-cmdline", daemon.DefaultConfig().KernelCmdline, "kernel command line of the ceiling's boots (the compute daemon's default)")
	f.StringVar(&e.ceilingAccel, "ceiling-accel", "tcg", "QEMU accelerator of the ceiling: tcg (as --domain-type qemu) or kvm")
}

// config is the benchmark's configuration, with the ceiling when kernel and initrd are known.
func (e *ec2BenchFlags) config(kernel, initrd string, log io.Writer) (bench.EC2Config, error) {
	cfg := bench.EC2Config{InstanceType: e.instanceType, Concurrencies: e.concurrencies, LaunchesPerLevel: e.launches,
		ConsoleMarker: e.marker, Timeout: e.timeout, Log: log}
	for _, c := range e.concurrencies {
		if c < 1 || c > 256 {
			return cfg, fmt.Errorf("--concurrency %d: want 1 to 256", c)
		}
	}
	t, ok := ec2api.LookupInstanceType(e.instanceType)
	if !ok {
		return cfg, fmt.Errorf("--instance-type %s: not a type the EC2 API offers", e.instanceType)
	}
	if e.ceilingBoots > 0 && kernel != "" && initrd != "" {
		cfg.Boot = &bench.BootConfig{Kernel: kernel, Initrd: initrd, Cmdline: e.ceilingCmdline, Accel: e.ceilingAccel,
			VCPUs: t.VCPUs, MemoryMiB: t.MemoryMiB, Marker: e.marker, Runs: e.ceilingBoots, Timeout: e.timeout}
		if e.marker == "" {
			return cfg, errors.New("the ceiling needs --console-marker: the line its boots wait for")
		}
	}
	return cfg, nil
}

func newBenchEC2Cmd() *cobra.Command {
	var ef ec2BenchFlags
	var ep endpointFlags
	var imageID, kernelID, ramdiskID, kernel, initrd, s3Endpoint, metrics string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ec2",
		Short: "Measure instance launches through an EC2 endpoint: latency to running and to the console, launches/minute",
		Long: `Launch instances through any EC2 endpoint (SigV4, aws-sdk-go-v2): one alone first (the image's
first launch: a cache miss on a host that never ran it), then --launches instances at each
--concurrency. Each launch is timed from the RunInstances call to DescribeInstances saying
running and, with --console-marker, to GetConsoleOutput showing that line; then it is
terminated. Everything launched is terminated before the command ends, on failure and on
interrupt too. With --compute-metrics (a stratus compute host's /metrics) it reports where
the host's time went (stratus_computed_launch_phase_seconds). The image is --image-id
(with --kernel-id/--ramdisk-id), or --kernel and --initrd uploaded through --s3-endpoint and
registered as an aki and an ari; with those files it also measures the ceiling, bare
qemu-system-x86_64 boots of them to the marker. 'bench ec2 suite' starts a stratus server
with compute under TCG and does all of this with the test guest.`,
		Example: `  stratus bench ec2 --credentials data/credentials.json --kernel vmlinux --initrd initrd.img \
      --console-marker STRATUS-TESTGUEST-BOOTED --compute-metrics http://127.0.0.1:9100/metrics
  stratus bench ec2 suite`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s3ep, region, ak, sk, err := ep.resolve()
			if err != nil {
				return err
			}
			ec2ep := ep.endpoint
			if ep.credsFile != "" && !cmd.Flags().Changed("endpoint") {
				var c adminCredentials
				if data, err := os.ReadFile(ep.credsFile); err == nil && json.Unmarshal(data, &c) == nil && c.EC2Endpoint != "" {
					ec2ep = c.EC2Endpoint
				}
			}
			if s3Endpoint == "" {
				s3Endpoint = s3ep
			}
			cfg, err := ef.config(kernel, initrd, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			cfg.Endpoint, cfg.Region, cfg.AccessKey, cfg.SecretKey, cfg.ComputeMetrics = ec2ep, region, ak, sk, metrics
			cfg.ImageID, cfg.KernelID, cfg.RamdiskID = imageID, kernelID, ramdiskID
			if imageID == "" {
				if kernel == "" || initrd == "" {
					return errors.New("give --image-id, or --kernel and --initrd to register")
				}
				ki, err := bench.RegisterKernelImages(ctx, cfg, s3Endpoint, "stratus-bench-ec2-"+strconv.FormatInt(time.Now().UnixNano(), 36), kernel, initrd)
				if err != nil {
					return err
				}
				defer func() {
					if err := ki.Remove(context.WithoutCancel(ctx)); err != nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "cleaning up the images: %v\n", err)
					}
				}()
				cfg.ImageID, cfg.RamdiskID = ki.KernelID, ki.RamdiskID
			}
			res, err := bench.RunEC2(ctx, cfg)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			res.Markdown(cmd.OutOrStdout())
			return nil
		},
	}
	f := cmd.Flags()
	ef.addFlags(f)
	ep.addFlags(f, "http://127.0.0.1:8773", "EC2 endpoint to measure (default: the credentials file's ec2_endpoint, if given)")
	f.StringVar(&ef.marker, "console-marker", "", "a line the guest prints on its console: launches are also timed to it")
	f.StringVar(&imageID, "image-id", "", "image to launch (default: register --kernel and --initrd)")
	f.StringVar(&kernelID, "kernel-id", "", "kernel image the launches name")
	f.StringVar(&ramdiskID, "ramdisk-id", "", "ramdisk image the launches name")
	f.StringVar(&kernel, "kernel", "", "kernel file to register as an aki (and boot bare for the ceiling)")
	f.StringVar(&initrd, "initrd", "", "initrd file to register as an ari (and boot bare for the ceiling)")
	f.StringVar(&s3Endpoint, "s3-endpoint", "", "S3 endpoint the kernel and initrd are uploaded through (default: the credentials file's endpoint)")
	f.StringVar(&metrics, "compute-metrics", "", "a compute host's Prometheus /metrics URL, for the launch phases")
	f.BoolVar(&asJSON, "json", false, "print the results as JSON")
	cmd.AddCommand(newBenchEC2SuiteCmd())
	return cmd
}

func newBenchEC2SuiteCmd() *cobra.Command {
	var ef ec2BenchFlags
	var out, tmpDir, serverLogLevel string
	var replicas int
	cmd := &cobra.Command{
		Use:   "suite",
		Short: "Start a stratus server with compute under TCG, launch the test guest, save the results",
		Long: `Build the test guest (a Debian cloud kernel and a busybox initrd, cached per machine), make
sure libvirtd and virtlogd run (starting them as root if they do not, and stopping what it
started), start 'stratus server --compute-domain-type qemu' as a child process with room
for every level's instances, register the guest and run 'bench ec2' against it with the
guest's boot line as the console marker and the server's metrics for the phases.
Results go to <out>/ec2-<date>.json and .md. Without libvirt or QEMU it says so and does
nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			log := cmd.ErrOrStderr()
			uri, started, err := testguest.UseDaemons()
			defer testguest.StopDaemons()
			if errors.Is(err, testguest.ErrUnavailable) {
				fmt.Fprintf(log, "bench ec2 suite skipped: %v\n", err)
				return nil
			}
			if err != nil {
				return err
			}
			for _, s := range started {
				fmt.Fprintf(log, "started %s\n", s)
			}
			root, err := testguest.CacheRoot()
			if err != nil {
				fmt.Fprintf(log, "bench ec2 suite skipped: %v\n", err)
				return nil
			}
			bctx, bcancel := context.WithTimeout(ctx, 5*time.Minute)
			g, _, err := testguest.BuildIn(bctx, root)
			bcancel()
			if errors.Is(err, testguest.ErrUnavailable) {
				fmt.Fprintf(log, "bench ec2 suite skipped: %v\n", err)
				return nil
			}
			if err != nil {
				return fmt.Errorf("test guest: %w", err)
			}
			tmp, err := os.MkdirTemp(tmpDir, "stratus-bench-ec2-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			// QEMU runs as libvirt's user and must reach the instance files under it.
			if err := os.Chmod(tmp, 0o755); err != nil {
				return err
			}
			ef.marker = testguest.BootMarker
			cfg, err := ef.config(g.Kernel, g.Initrd, log)
			if err != nil {
				return err
			}
			t, _ := ec2api.LookupInstanceType(ef.instanceType)
			most := max(slicesMax(ef.concurrencies), 1)
			srv, err := spawnBenchServer(ctx, tmp, replicas, true, nil, "--compute-domain-type", "qemu", "--compute-libvirt-uri", uri,
				"--compute-vcpus", strconv.Itoa(most*t.VCPUs), "--compute-memory-mib", strconv.Itoa(most*t.MemoryMiB), "--log-level", serverLogLevel)
			if err != nil {
				return err
			}
			defer srv.stop()
			c := srv.creds
			cfg.Endpoint, cfg.Region, cfg.AccessKey, cfg.SecretKey, cfg.ComputeMetrics = c.EC2Endpoint, c.Region, c.AccessKey, c.SecretKey, srv.metrics
			ki, err := bench.RegisterKernelImages(ctx, cfg, c.Endpoint, "bench-ec2", g.Kernel, g.Initrd)
			if err != nil {
				return err
			}
			cfg.ImageID, cfg.RamdiskID = ki.KernelID, ki.RamdiskID
			res, err := bench.RunEC2(ctx, cfg)
			if err != nil {
				return err
			}
			if err := ki.Remove(ctx); err != nil {
				return err
			}
			return saveResults(cmd.OutOrStdout(), out, "ec2-"+res.Date.Format("2006-01-02T150405Z"), res)
		},
	}
	f := cmd.Flags()
	ef.addFlags(f)
	f.IntVar(&replicas, "replicas", 3, "replicas of the server the suite starts")
	f.StringVar(&out, "out", "bench/results", "directory for the results")
	f.StringVar(&tmpDir, "tmp-dir", "", "directory for the server's data (default $TMPDIR)")
	f.StringVar(&serverLogLevel, "server-log-level", "warn", "log level of the server the suite starts (its log goes to stderr)")
	return cmd
}

func slicesMax(s []int) int {
	m := 0
	for _, v := range s {
		m = max(m, v)
	}
	return m
}
