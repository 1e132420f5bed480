package volumed_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"stratus/internal/testcluster"
	"stratus/internal/testutil"
	"stratus/meta/client"
	objclient "stratus/objectd/client"
	"stratus/ring"
	"stratus/volumed"
)

// TestPeersThroughDaemon drives a volume served by the daemon (three storage nodes, an
// attach lease, TCP on loopback) with Debian's NBD tools: nbdinfo lists the export with its
// block sizes and base:allocation, a raw image goes in and comes out byte for byte with
// qemu-img convert and with nbdcopy, and the volume's unwritten tail reads as zeros.
func TestPeersThroughDaemon(t *testing.T) {
	const volSize = 64 << 20
	for _, tool := range []string{"nbdinfo", "nbdcopy", "qemu-img"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (Debian packages libnbd-bin, qemu-utils; make test installs them)", tool)
		}
	}
	_, mc, _, ctx := setup(t)
	id := client.NewVolumeID()
	if err := mc.CreateVolume(ctx, client.Volume{ID: id, SizeBytes: volSize}); err != nil {
		t.Fatal(err)
	}
	st := testcluster.StartStorage(t, testcluster.StorageOptions{Nodes: 3, Replicas: 3})
	cl := objclient.New(objclient.Config{Timeout: 5 * time.Second})
	t.Cleanup(cl.CloseIdleConnections)
	cfg := volumed.DefaultConfig()
	cfg.Host, cfg.Logger = "h1", testutil.Logger(t)
	srv, err := volumed.NewServer(cfg, mc, cl, func() *ring.Ring { return st.Ring })
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
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
	base := "nbd://" + ln.Addr().String()
	uri := base + "/" + id
	run := func(name string, args ...string) []byte {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(cctx, name, args...).CombinedOutput()
		if err != nil && cctx.Err() != nil {
			t.Fatalf("%s %v: %v\n%s\nthe server's goroutines:\n%s", name, args, err, out, testutil.Stacks())
		}
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return out
	}

	var list struct {
		Exports []struct {
			Name      string   `json:"export-name"`
			Size      uint64   `json:"export-size"`
			MultiConn bool     `json:"can_multi_conn"`
			CanFlush  bool     `json:"can_flush"`
			CanTrim   bool     `json:"can_trim"`
			CanZero   bool     `json:"can_zero"`
			CanFUA    bool     `json:"can_fua"`
			MinBlock  uint32   `json:"block_size_minimum"`
			PrefBlock uint32   `json:"block_size_preferred"`
			Contexts  []string `json:"contexts"`
		} `json:"exports"`
	}
	out := run("nbdinfo", "--list", "--json", base)
	if err := json.Unmarshal(out, &list); err != nil || len(list.Exports) != 1 {
		t.Fatalf("nbdinfo --list: %v\n%s", err, out)
	}
	e := list.Exports[0]
	if e.Name != id || e.Size != volSize || !e.MultiConn || !e.CanFlush || !e.CanTrim || !e.CanZero || !e.CanFUA ||
		e.MinBlock != 4096 || e.PrefBlock < 4096 || len(e.Contexts) != 1 || e.Contexts[0] != "base:allocation" {
		t.Fatalf("nbdinfo export: %+v", e)
	}

	// A raw image of 9 MiB (three chunks, the last partly), half of it random data.
	dir := t.TempDir()
	img := make([]byte, 9<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for off := 0; off < len(img); off += 8 << 10 {
		if off/(8<<10)%2 == 0 {
			for i := off; i < off+8<<10; i += 8 {
				v := rng.Uint64()
				for k := range 8 {
					img[i+k] = byte(v >> (8 * k))
				}
			}
		}
	}
	in := filepath.Join(dir, "in.raw")
	if err := os.WriteFile(in, img, 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(path, how string) {
		t.Helper()
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != volSize {
			t.Fatalf("%s: %d bytes out, want the volume's %d", how, len(got), volSize)
		}
		if !bytes.Equal(got[:len(img)], img) {
			t.Fatalf("%s: the image read back differs", how)
		}
		if !bytes.Equal(got[len(img):len(img)+1<<20], make([]byte, 1<<20)) {
			t.Fatalf("%s: the volume past the image is not zeros", how)
		}
	}

	run("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", in, uri)
	out1 := filepath.Join(dir, "out1.raw")
	run("qemu-img", "convert", "-f", "raw", "-O", "raw", uri, out1)
	check(out1, "qemu-img convert")

	// nbdcopy both ways, over the same data shifted by a chunk so every block changes.
	shifted := append(append([]byte{}, img[4<<20:]...), img[:4<<20]...)
	copy(img, shifted)
	if err := os.WriteFile(in, img, 0o644); err != nil {
		t.Fatal(err)
	}
	run("nbdcopy", "--flush", in, uri)
	out2 := filepath.Join(dir, "out2.raw")
	run("nbdcopy", uri, out2)
	check(out2, "nbdcopy")
}
