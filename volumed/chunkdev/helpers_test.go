package chunkdev

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"stratus/internal/testcluster"
	"stratus/internal/testutil"
	objclient "stratus/objectd/client"
	"stratus/volumed/nbd"
)

const testVolume = "vol-0123456789abcdef"

// env is three storage nodes (three replicas) and a client to them.
type env struct {
	t  *testing.T
	st *testcluster.Storage
	cl *objclient.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st := testcluster.StartStorage(t, testcluster.StorageOptions{Nodes: 3, Replicas: 3})
	cl := objclient.New(objclient.Config{Timeout: 5 * time.Second})
	t.Cleanup(cl.CloseIdleConnections)
	return &env{t: t, st: st, cl: cl}
}

// device opens a device of size bytes with chunk bytes per chunk at generation gen; it is
// detached at cleanup.
func (e *env) device(size, chunk int64, gen uint64) *Device {
	e.t.Helper()
	cfg := DefaultConfig()
	cfg.Volume = testVolume
	cfg.SizeBytes = size
	cfg.ChunkSizeBytes = chunk
	cfg.Generation = gen
	cfg.CallTimeout = 5 * time.Second
	cfg.RepairRetryMax = 200 * time.Millisecond
	cfg.Logger = testutil.Logger(e.t).With("gen", gen)
	d, err := New(cfg, e.st.Ring, e.cl, prometheus.NewRegistry())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(d.Detach)
	return d
}

// replicaData reads [off, off+n) of chunk i straight from replica r.
func (e *env) replicaData(d *Device, i int64, r int, off int64, n int) ([]byte, error) {
	c := d.chunk(i)
	buf := make([]byte, n)
	_, err := e.cl.ReadChunk(context.Background(), c.targets[r], c.name, off, buf)
	return buf, err
}

// nodeOf returns the index in c.targets of the replica on node n.
func nodeOf(d *Device, i int64, n *testcluster.Node) int {
	for r, t := range d.chunk(i).targets {
		if t.Host == n.Addr {
			return r
		}
	}
	return -1
}

type oneExport struct{ d *Device }

func (x oneExport) Lookup(_ context.Context, name string) (nbd.Export, nbd.ExportInfo, error) {
	if name != testVolume && name != "" {
		return nil, nbd.ExportInfo{}, fmt.Errorf("%w: %q", nbd.ErrUnknownExport, name)
	}
	return x.d, x.d.Info(), nil
}

func (x oneExport) List(context.Context) ([]nbd.ExportInfo, error) {
	return []nbd.ExportInfo{x.d.Info()}, nil
}

// serve serves d over NBD on a unix socket and returns its qemu URI.
func serve(t *testing.T, d *Device) string {
	t.Helper()
	srv, err := nbd.New(nbd.DefaultConfig(), oneExport{d}, testutil.Logger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "nbd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "nbd+unix:///" + testVolume + "?socket=" + url.QueryEscape(sock)
}

func mustWrite(t *testing.T, d *Device, p []byte, off int64, fua bool) {
	t.Helper()
	if err := d.WriteAt(context.Background(), p, uint64(off), fua); err != nil {
		t.Fatalf("write %d bytes at %d: %v", len(p), off, err)
	}
}

func mustRead(t *testing.T, d *Device, want []byte, off int64) {
	t.Helper()
	got := make([]byte, len(want))
	if err := d.ReadAt(context.Background(), got, uint64(off)); err != nil {
		t.Fatalf("read %d bytes at %d: %v", len(want), off, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes at %d: data differs at byte %d", len(want), off, firstDiff(got, want))
	}
}

func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}
