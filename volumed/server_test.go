package volumed_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"stratus/internal/testcluster"
	"stratus/internal/testutil"
	objclient "stratus/objectd/client"
	"stratus/ring"
	"stratus/volumed"
)

// TestServerServesAttachments: the server exports a volume once it is attached to its host,
// qemu-io writes and reads it back through NBD, and when another host takes the volume over
// the server stops serving it.
func TestServerServesAttachments(t *testing.T) {
	qemuIO, err := exec.LookPath("qemu-io")
	if err != nil {
		t.Skip("qemu-io not installed (Debian package qemu-utils; make test installs it)")
	}
	_, mc, id, ctx := setup(t)
	st := testcluster.StartStorage(t, testcluster.StorageOptions{Nodes: 3, Replicas: 3})
	cl := objclient.New(objclient.Config{Timeout: 5 * time.Second})
	t.Cleanup(cl.CloseIdleConnections)

	cfg := volumed.DefaultConfig()
	cfg.Host, cfg.LeaseTTL, cfg.ResyncInterval = "h1", 3*time.Second, time.Second
	cfg.Logger = testutil.Logger(t)
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	srv, err := volumed.NewServer(cfg, mc, cl, func() *ring.Ring { return st.Ring })
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "nbd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(rctx, ln) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	lease, err := volumed.Attach(ctx, mc, id, "h1", false, cfg.LeaseTTL)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if g := srv.Serving()[id]; g != lease.Generation {
			return fmt.Errorf("serving generation %d, want %d", g, lease.Generation)
		}
		return nil
	})
	uri := fmt.Sprintf("nbd+unix:///%s?socket=%s", id, sock)
	io := func(cmds ...string) (string, error) {
		args := []string{"-f", "raw"}
		for _, c := range cmds {
			args = append(args, "-c", c)
		}
		out, err := exec.CommandContext(ctx, qemuIO, append(args, uri)...).CombinedOutput()
		return string(out), err
	}
	// Across a chunk boundary (4 MiB), flushed, then read back on a new connection.
	if out, err := io("write -P 0xab 4190208 8192", "flush"); err != nil {
		t.Fatalf("qemu-io write: %v\n%s", err, out)
	}
	if out, err := io("read -P 0xab 4190208 8192", "read -P 0 0 4096"); err != nil || strings.Contains(out, "Pattern verification failed") {
		t.Fatalf("qemu-io read back: %v\n%s", err, out)
	}
	// The device's metrics are on the server's registry, under the volume's label.
	if n := seriesValue(t, reg, "stratus_volumed_chunkdev_bytes_total", "volume", id, "op", "write"); n != 8192 {
		t.Fatalf("bytes written of %s: %v, want 8192", id, n)
	}
	if n := seriesValue(t, reg, "stratus_volumed_chunkdev_requests_total", "volume", id, "op", "read"); n != 2 {
		t.Fatalf("reads of %s: %v, want 2", id, n)
	}
	if n := seriesValue(t, reg, "stratus_volumed_chunkdev_flush_duration_seconds", "volume", id); n < 1 {
		t.Fatalf("flushes of %s: %v, want at least 1", id, n)
	}
	if n := seriesValue(t, reg, "stratus_volumed_chunkdev_degraded_chunks", "volume", id); n != 0 {
		t.Fatalf("degraded chunks of %s: %v", id, n)
	}
	if n := seriesValue(t, reg, "stratus_volumed_attachments"); n != 1 {
		t.Fatalf("attachments served: %v, want 1", n)
	}

	// The lease is renewed while served: it outlives its first TTL.
	testutil.Eventually(t, 3*cfg.LeaseTTL, func() error {
		v, _, err := mc.Volume(ctx, id)
		if err != nil {
			return err
		}
		if v.Attachment == nil || !v.Attachment.LeaseExpiresAt.After(lease.ExpiresAt) {
			return fmt.Errorf("lease not renewed: %+v", v.Attachment)
		}
		return nil
	})

	// Another host takes the volume: this server stops serving it.
	if _, err := volumed.Attach(ctx, mc, id, "h2", true, cfg.LeaseTTL); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if g, ok := srv.Serving()[id]; ok {
			return fmt.Errorf("still serving generation %d", g)
		}
		return nil
	})
	// The move counts as one attachment started and one ended, not as a lost lease.
	for _, c := range []struct {
		name string
		kv   []string
		want float64
	}{
		{"stratus_volumed_attachments", nil, 0},
		{"stratus_volumed_attachments_started_total", nil, 1},
		{"stratus_volumed_attachments_stopped_total", []string{"reason", "ended"}, 1},
		{"stratus_volumed_attachments_stopped_total", []string{"reason", "lease_lost"}, 0},
	} {
		if n := seriesValue(t, reg, c.name, c.kv...); n != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.kv, n, c.want)
		}
	}
	// Its series went with it.
	if n := seriesOf(t, reg, "volume", id); n != 0 {
		t.Fatalf("%d series of %s left after it moved away", n, id)
	}
	if out, err := io("read 0 4096"); err == nil || bytes.Contains([]byte(out), []byte("read 4096/4096")) {
		t.Fatalf("read after the volume moved to another host succeeded:\n%s", out)
	}
	if v, _, err := mc.Volume(ctx, id); err != nil || v.Attachment == nil || v.Attachment.Host != "h2" {
		t.Fatalf("volume after takeover: %+v, %v", v, err)
	}
}

// matches reports whether labels hold every label pair of kv (name, value, ...).
func matches[L interface {
	GetName() string
	GetValue() string
}](labels []L, kv ...string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		found := false
		for _, l := range labels {
			if l.GetName() == kv[i] && l.GetValue() == kv[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// seriesValue returns the value of the one series of family name that carries the labels kv
// (a histogram's count); it fails the test if there is not exactly one.
func seriesValue(t *testing.T, reg *prometheus.Registry, name string, kv ...string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var vals []float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if !matches(m.GetLabel(), kv...) {
				continue
			}
			switch {
			case m.Counter != nil:
				vals = append(vals, m.Counter.GetValue())
			case m.Gauge != nil:
				vals = append(vals, m.Gauge.GetValue())
			case m.Histogram != nil:
				vals = append(vals, float64(m.Histogram.GetSampleCount()))
			}
		}
	}
	if len(vals) != 1 {
		t.Fatalf("%d series of %s with %v, want 1", len(vals), name, kv)
	}
	return vals[0]
}

// seriesOf counts the series of every family that carry the labels kv.
func seriesOf(t *testing.T, reg *prometheus.Registry, kv ...string) int {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			if matches(m.GetLabel(), kv...) {
				n++
			}
		}
	}
	return n
}
