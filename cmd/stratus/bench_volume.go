package main

import (
	"bytes"
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
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"stratus/bench"
)

// volumeBenchFlags are the flags the export run and the suite share.
type volumeBenchFlags struct {
	size     string
	duration time.Duration
	fill     bool
	fio      string
	tmpDir   string
	// baselineCache is qemu-nbd's --cache for the baseline.
	baselineCache string
}

func (v *volumeBenchFlags) addFlags(f *pflag.FlagSet) {
	f.StringVar(&v.size, "size-bytes", "1GiB", "bytes of the export the jobs touch from offset 0 (bytes, or with KiB, MiB, GiB)")
	f.DurationVar(&v.duration, "duration", 10*time.Second, "length of each measured job")
	f.BoolVar(&v.fill, "fill", true, "write the whole range once before measuring, so reads find data rather than holes")
	f.StringVar(&v.fio, "fio", "fio", "the fio binary")
	f.StringVar(&v.baselineCache, "baseline-cache", "none", "qemu-nbd --cache of the baseline: none (O_DIRECT, native AIO; falls back to qemu-nbd's default where refused) or writeback (through the page cache, as stratus's storage reads are)")
	f.StringVar(&v.tmpDir, "tmp-dir", "", "directory for the baseline's raw file and the suite's server (default $TMPDIR); put it on the disk under test")
}

func (v *volumeBenchFlags) config(uri string, log io.Writer) (bench.VolumeConfig, error) {
	n, err := parseSize(v.size)
	if err != nil {
		return bench.VolumeConfig{}, fmt.Errorf("--size-bytes: %w", err)
	}
	return bench.VolumeConfig{URI: uri, SizeBytes: n, Duration: v.duration, Fill: v.fill, Fio: v.fio, Log: log}, nil
}

func newBenchVolumeCmd() *cobra.Command {
	var vf volumeBenchFlags
	var uri string
	var baseline, asJSON bool
	cmd := &cobra.Command{
		Use:   "volume --uri nbd://HOST:PORT/EXPORT",
		Short: "Measure an NBD export with fio: 4 KiB random IOPS at QD1 and QD32, write+flush, 1 MiB sequential",
		Long: `Run fio's nbd engine against an NBD export: 1 MiB sequential write and read (QD8), 4 KiB
random read and write at queue depth 1 and 32, and 4 KiB writes each followed by a flush.
Reports ops/s, bytes/s and completion latency p50/p99 of each job. With --baseline it also
serves a raw file of the same size with qemu-nbd (in --tmp-dir: put it on the same disk as
the volume's data) and runs the same jobs against it. 'bench volume suite' starts a stratus
server of its own and does all of this. Needs fio (Debian: fio) and, for the baseline,
qemu-nbd (Debian: qemu-utils).`,
		Example: `  stratus bench volume --uri nbd://127.0.0.1:10809/vol-0123456789abcdef --size-bytes 1GiB --baseline
  stratus bench volume suite --duration 10s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if uri == "" {
				return errors.New("--uri is required (or run 'stratus bench volume suite')")
			}
			cfg, err := vf.config(uri, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			c, err := runVolumeComparison(cmd.Context(), cfg, baseline, vf.tmpDir, vf.baselineCache)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), c)
			}
			c.Markdown(cmd.OutOrStdout())
			return nil
		},
	}
	f := cmd.Flags()
	vf.addFlags(f)
	f.StringVar(&uri, "uri", "", "NBD export to measure, nbd://host:port/export")
	f.BoolVar(&baseline, "baseline", false, "also measure qemu-nbd serving a raw file of the same size in --tmp-dir, and compare")
	f.BoolVar(&asJSON, "json", false, "print the results as JSON")
	cmd.AddCommand(newBenchVolumeSuiteCmd())
	return cmd
}

func newBenchVolumeSuiteCmd() *cobra.Command {
	var vf volumeBenchFlags
	var out string
	var replicas int
	cmd := &cobra.Command{
		Use:   "suite",
		Short: "Start a stratus server, create and attach a volume, measure it beside qemu-nbd, save the results",
		Long: `Start 'stratus server' as a child process in a temporary directory (in --tmp-dir) with NBD on a
free loopback port, create a volume of --size-bytes and attach it to this host, then run the
'bench volume' jobs against it and against qemu-nbd serving a raw file in the same directory.
Results go to <out>/volume-<date>.json and .md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			tmp, err := os.MkdirTemp(vf.tmpDir, "stratus-bench-volume-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			cfg, err := vf.config("", cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			srv, err := spawnBenchServer(ctx, tmp, replicas, true, nil)
			if err != nil {
				return err
			}
			defer srv.stop()
			if cfg.URI, err = srv.attachVolume(ctx, cfg.SizeBytes, vf.fio); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "measuring %s\n", cfg.URI)
			c, err := runVolumeComparison(ctx, cfg, true, tmp, vf.baselineCache)
			if err != nil {
				return err
			}
			return saveResults(cmd.OutOrStdout(), out, "volume-"+c.Date.Format("2006-01-02T150405Z"), c)
		},
	}
	f := cmd.Flags()
	vf.addFlags(f)
	f.IntVar(&replicas, "replicas", 3, "replicas of the server the suite starts")
	f.StringVar(&out, "out", "bench/results", "directory for the results")
	return cmd
}

// runVolumeComparison measures cfg.URI and, with baseline, qemu-nbd serving a raw file of
// the same size in dir with qemu-nbd's --cache=cache.
func runVolumeComparison(ctx context.Context, cfg bench.VolumeConfig, baseline bool, dir, cache string) (*bench.VolumeComparison, error) {
	c := &bench.VolumeComparison{Date: time.Now().UTC()}
	rep, err := bench.RunVolume(ctx, cfg)
	if err != nil {
		return nil, err
	}
	c.Stratus = rep
	if !baseline {
		return c, nil
	}
	q, err := startQemuNBD(ctx, dir, cfg.SizeBytes, cache)
	if err != nil {
		return nil, err
	}
	defer q.stop()
	bcfg := cfg
	bcfg.URI = q.uri
	if c.Baseline, err = bench.RunVolume(ctx, bcfg); err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	c.BaselineCommand = q.command
	c.Judge()
	return c, nil
}

// qemuNBD is a qemu-nbd process serving a raw file.
type qemuNBD struct {
	uri, command string
	stop         func()
}

// startQemuNBD serves a new sparse raw file of size bytes in dir with qemu-nbd on a free
// loopback port. With cache "none" it asks for O_DIRECT and native AIO first (what a VM
// host would use) and falls back to qemu-nbd's defaults where the file system refuses
// them; any other cache is passed as qemu-nbd's --cache.
func startQemuNBD(ctx context.Context, dir string, size int64, cache string) (*qemuNBD, error) {
	tries := [][]string{{"--cache=none", "--aio=native"}, nil}
	if cache != "none" {
		tries = [][]string{{"--cache=" + cache}}
	}
	f, err := os.CreateTemp(dir, "qemu-nbd-*.raw")
	if err != nil {
		return nil, err
	}
	path := f.Name()
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	var lastErr error
	for _, extra := range tries {
		addr, err := freeLoopbackAddr()
		if err != nil {
			os.Remove(path)
			return nil, err
		}
		host, port, _ := net.SplitHostPort(addr)
		args := append([]string{"-f", "raw", "-b", host, "-p", port, "--persistent", "--shared=64"}, extra...)
		args = append(args, path)
		stop, err := startChild(ctx, "qemu-nbd", args, addr)
		if err != nil {
			lastErr = err
			continue
		}
		return &qemuNBD{uri: "nbd://" + addr + "/", command: "qemu-nbd " + strings.Join(args[:len(args)-1], " ") + " FILE",
			stop: func() { stop(); os.Remove(path) }}, nil
	}
	os.Remove(path)
	return nil, fmt.Errorf("qemu-nbd: %w", lastErr)
}

// startChild starts name with args and waits up to 10 s until addr accepts a connection. The
// returned stop ends it with SIGTERM, then SIGKILL.
func startChild(ctx context.Context, name string, args []string, addr string) (stop func(), err error) {
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop = func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return stop, nil
		}
		select {
		case err := <-exited:
			exited <- err // stop's receive must not block
			return nil, fmt.Errorf("%s exited: %v: %s", name, err, bytes.TrimSpace(stderr.Bytes()))
		case <-ctx.Done():
			stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("%s did not listen on %s within 10s", name, addr)
		}
	}
}

// operator runs `stratus args…` as an operator of s (STRATUS_META_ADDR, STRATUS_PKI_DIR),
// with a deadline, and returns its stdout.
func (s *benchServer) operator(ctx context.Context, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.exe, args...)
	cmd.Env = append(os.Environ(), "STRATUS_META_ADDR="+s.creds.MetaAddr, "STRATUS_PKI_DIR="+filepath.Join(s.data, "pki"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("stratus %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// attachVolume creates a volume of size bytes, attaches it to this host, and waits until
// the server's NBD export of it answers a read. It returns the export's URI.
func (s *benchServer) attachVolume(ctx context.Context, size int64, fio string) (string, error) {
	out, err := s.operator(ctx, "volume", "create", "--size", strconv.FormatInt(size, 10), "--json")
	if err != nil {
		return "", err
	}
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(out, &v); err != nil || v.ID == "" {
		return "", fmt.Errorf("volume create printed %q: %v", out, err)
	}
	if _, err := s.operator(ctx, "volume", "attach", v.ID, "--json"); err != nil {
		return "", err
	}
	uri := "nbd://" + s.creds.NBDAddr + "/" + v.ID
	deadline := time.Now().Add(time.Minute)
	for {
		err := bench.ProbeNBD(ctx, fio, uri, 10*time.Second)
		if err == nil {
			return uri, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s not served within a minute: %w", uri, err)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
