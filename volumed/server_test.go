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
	if out, err := io("read 0 4096"); err == nil || bytes.Contains([]byte(out), []byte("read 4096/4096")) {
		t.Fatalf("read after the volume moved to another host succeeded:\n%s", out)
	}
	if v, _, err := mc.Volume(ctx, id); err != nil || v.Attachment == nil || v.Attachment.Host != "h2" {
		t.Fatalf("volume after takeover: %+v, %v", v, err)
	}
}
