package volumed_test

import (
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

// TestServerGrowsAttachedVolume: a volume resized while attached is served at its new size
// to new NBD connections, and the new tail can be written and read back.
func TestServerGrowsAttachedVolume(t *testing.T) {
	qemuIO, err := exec.LookPath("qemu-io")
	if err != nil {
		t.Skip("qemu-io not installed (Debian package qemu-utils; make test installs it)")
	}
	_, mc, id, ctx := setup(t) // 1 GiB
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
	if _, err := volumed.Attach(ctx, mc, id, "h1", false, cfg.LeaseTTL); err != nil {
		t.Fatal(err)
	}
	uri := fmt.Sprintf("nbd+unix:///%s?socket=%s", id, sock)
	io := func(cmds ...string) (string, error) {
		args := []string{"-f", "raw"}
		for _, c := range cmds {
			args = append(args, "-c", c)
		}
		out, err := exec.CommandContext(ctx, qemuIO, append(args, uri)...).CombinedOutput()
		return string(out), err
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if out, err := io("length"); err != nil || !strings.Contains(out, "1 GiB") {
			return fmt.Errorf("length before the resize: %v %s", err, out)
		}
		return nil
	})
	const grown = 1<<30 + 8<<20
	if out, err := io(fmt.Sprintf("write -P 0x5a %d 4096", 1<<30)); err == nil && !strings.Contains(out, "error") {
		t.Fatalf("write past the end before the resize succeeded:\n%s", out)
	}
	if _, err := volumed.Resize(ctx, mc, id, grown); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if out, err := io("length"); err != nil || !strings.Contains(out, "1.008 GiB") {
			return fmt.Errorf("length after the resize: %v %s", err, out)
		}
		return nil
	})
	// The new tail, across the old end and in the last block.
	if out, err := io(fmt.Sprintf("write -P 0x5a %d 8192", 1<<30-4096), fmt.Sprintf("write -P 0xa5 %d 4096", grown-4096), "flush"); err != nil || strings.Contains(out, "error") {
		t.Fatalf("write the new tail: %v\n%s", err, out)
	}
	if out, err := io(fmt.Sprintf("read -P 0x5a %d 8192", 1<<30-4096), fmt.Sprintf("read -P 0xa5 %d 4096", grown-4096), fmt.Sprintf("read -P 0 %d 4096", 1<<30+4096)); err != nil || strings.Contains(out, "Pattern verification failed") || strings.Contains(out, "error") {
		t.Fatalf("read the new tail back: %v\n%s", err, out)
	}
	if g := srv.Serving()[id]; g == 0 {
		t.Fatal("no longer serving after the resize")
	}
}
