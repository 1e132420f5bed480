package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// BootCeiling is a bare QEMU boot of a kernel and initrd to a console line, with no
// libvirt, no API and no image fetch: the most a launch on this machine can hope for.
type BootCeiling struct {
	// Command is the QEMU command line, KERNEL and INITRD standing for the files.
	Command string `json:"command"`
	// ToMarker is the time from starting QEMU to the marker on its serial console.
	ToMarker Latency `json:"to_marker"`
	Samples  int     `json:"samples"`
}

// BootConfig describes the guest the ceiling boots.
type BootConfig struct {
	Kernel, Initrd, Cmdline string
	// Accel is QEMU's accelerator: tcg or kvm.
	Accel     string
	VCPUs     int
	MemoryMiB int
	// Marker is the console line waited for.
	Marker string
	// Runs is how many boots to measure, one after another.
	Runs    int
	Timeout time.Duration
}

// MeasureBootCeiling boots cfg.Runs times with qemu-system-x86_64, each to its marker.
func MeasureBootCeiling(ctx context.Context, cfg BootConfig) (*BootCeiling, error) {
	args := []string{"-machine", "pc,accel=" + cfg.Accel, "-smp", strconv.Itoa(max(cfg.VCPUs, 1)), "-m", strconv.Itoa(max(cfg.MemoryMiB, 128)),
		"-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot",
		"-kernel", cfg.Kernel, "-initrd", cfg.Initrd, "-append", cfg.Cmdline}
	show := strings.Join(args, " ")
	show = strings.Replace(show, cfg.Kernel, "KERNEL", 1)
	show = strings.Replace(show, cfg.Initrd, "INITRD", 1)
	res := &BootCeiling{Command: "qemu-system-x86_64 " + show}
	var samples []time.Duration
	for range max(cfg.Runs, 1) {
		d, err := bootOnce(ctx, args, cfg.Marker, cfg.Timeout)
		if err != nil {
			return nil, err
		}
		samples = append(samples, d)
	}
	res.Samples = len(samples)
	res.ToMarker = summarize(samples)
	return res, nil
}

// bootOnce starts QEMU, waits for marker on its console and kills it.
func bootOnce(ctx context.Context, args []string, marker string, timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	found := make(chan time.Duration, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), marker) {
				found <- time.Since(start)
				io.Copy(io.Discard, out)
				return
			}
		}
		close(found)
	}()
	select {
	case d, ok := <-found:
		if !ok {
			return 0, fmt.Errorf("qemu exited without printing %q: %s", marker, strings.TrimSpace(stderr.String()))
		}
		return d, nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return 0, fmt.Errorf("qemu did not print %q within %v", marker, timeout)
		}
		return 0, ctx.Err()
	}
}
