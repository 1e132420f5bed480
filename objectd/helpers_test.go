package objectd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"stratus/internal/faultfs"
	"stratus/internal/hlc"
	"stratus/internal/pki"
	"stratus/internal/testutil"
	"stratus/objectd/client"
)

// testNode is one objectd running in the test process on 127.0.0.1.
type testNode struct {
	srv  *Server
	addr string
	dir  string // DevicesDir
	fs   *faultfs.Injector
	cl   *client.Client
	stop func() // stops the node and checks its disks; idempotent
}

// listen returns a listener on a random loopback port.
func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// listenOn listens on a given address again (a restarted node keeps its ring address).
func listenOn(t testing.TB, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// startNode runs a node with the given devices on ln (nil: a new listener) until the test
// ends. edit adjusts the config.
func startNode(t testing.TB, ln net.Listener, devices []string, edit func(*Config)) *testNode {
	t.Helper()
	return startNodeLog(t, ln, devices, testutil.Logger(t), edit)
}

// startNodeLog is startNode with the node logging to logger.
func startNodeLog(t testing.TB, ln net.Listener, devices []string, logger *slog.Logger, edit func(*Config)) *testNode {
	t.Helper()
	if ln == nil {
		ln = listen(t)
	}
	n := &testNode{addr: ln.Addr().String(), dir: t.TempDir(), fs: faultfs.New(faultfs.OS)}
	for _, d := range devices {
		if err := InitDevice(filepath.Join(n.dir, d)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := DefaultConfig()
	cfg.DevicesDir = n.dir
	cfg.MountCheck = false
	cfg.ReplicationInterval = 0
	cfg.AuditInterval = 0
	cfg.ReconstructInterval = 0
	cfg.AuditBytesPerSecond = 0
	cfg.ReplicationTimeout = 30 * time.Second
	cfg.FS = n.fs
	cfg.AdvertiseAddr = n.addr
	// STRATUS_TEST_SMALL_OBJECT_MAX runs the package's tests with the small-object log on,
	// so every behaviour the file layout is tested for is also tested on log records.
	if v := os.Getenv("STRATUS_TEST_SMALL_OBJECT_MAX"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("STRATUS_TEST_SMALL_OBJECT_MAX: %v", err)
		}
		cfg.SmallObjectMax = n
	}
	if edit != nil {
		edit(&cfg)
	}
	n.dir = cfg.DevicesDir
	srv, err := New(cfg, logger.With("node", n.addr), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	n.srv = srv
	ccfg := client.Config{Timeout: 30 * time.Second}
	if cfg.Identity != nil {
		ccfg.TLS = cfg.Identity.ClientTLS(pki.RoleObjectd) // the node's own certificate may call anything
	}
	n.cl = client.New(ccfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	var once sync.Once
	n.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			n.cl.CloseIdleConnections()
			fsck(t, srv.cfg.DevicesDir)
		})
	}
	t.Cleanup(n.stop)
	return n
}

func (n *testNode) target(dev string, part uint32) client.Target {
	return client.Target{Host: n.addr, Device: dev, Partition: part}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// payload is testutil.Payload, short for the many tests that use it.
func payload(n int, seed uint64) []byte { return testutil.Payload(n, seed) }

var tsBase = hlc.FromTime(time.Now())

func ts(i int) hlc.Timestamp { return tsBase + hlc.Timestamp(i) }

func put(t testing.TB, n *testNode, tg client.Target, name string, at hlc.Timestamp, body []byte) error {
	t.Helper()
	return n.cl.Put(ctxT(t), tg, client.PutRequest{Name: name, Timestamp: at, Length: int64(len(body))}, bytes.NewReader(body))
}

func mustPut(t testing.TB, n *testNode, tg client.Target, name string, at hlc.Timestamp, body []byte) {
	t.Helper()
	if err := put(t, n, tg, name, at, body); err != nil {
		t.Fatalf("put %q at %v on %v: %v", name, at, tg, err)
	}
}

// get reads a whole object.
func get(t testing.TB, n *testNode, tg client.Target, name string) (client.Info, []byte, error) {
	t.Helper()
	o, err := n.cl.Get(ctxT(t), tg, name, nil)
	if err != nil {
		return client.Info{}, nil, err
	}
	defer o.Body.Close()
	b, err := io.ReadAll(o.Body)
	return o.Info, b, err
}

// files lists every regular file under dir, relative to it.
func files(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// objectFiles lists the files of one name on one device.
func (n *testNode) objectFiles(t testing.TB, dev string, part uint32, name string) []string {
	t.Helper()
	ents, err := os.ReadDir(hashDir(filepath.Join(n.dir, dev), part, nameHash(name)))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	// A version in the small-object log counts as one of the name's files.
	if l, err := n.srv.store.loadedLog(filepath.Join(n.dir, dev)); err == nil {
		if e, ok := l.lookup(part, nameHash(name)); ok {
			out = append(out, e.version().file())
		}
	}
	return out
}

// corruptVersion flips one byte of a stored version, in its file or its log record; at
// picks the offset in the record from the header length.
func (n *testNode) corruptVersion(t testing.TB, dev string, part uint32, name string, v hlc.Timestamp, at func(hdrLen int64) int64) {
	t.Helper()
	devDir := filepath.Join(n.dir, dev)
	path := filepath.Join(hashDir(devDir, part, nameHash(name)), v.String()+dataExt)
	var base int64
	if l, err := n.srv.store.loadedLog(devDir); err == nil {
		if e, ok := l.lookup(part, nameHash(name)); ok && e.ts == v {
			path, base = l.segPath(e.seg), e.off+frameHeaderLen
		}
	}
	corruptRecordAt(t, path, base, at)
}

// logRecorder is a slog.Handler that keeps every record, with the attributes added by
// Logger.With, and passes it on to the test's log.
type logRecorder struct {
	mu   *sync.Mutex
	recs *[]logged
	pre  []slog.Attr
	next slog.Handler
}

// logged is one record a logRecorder kept.
type logged struct {
	level slog.Level
	msg   string
	attrs map[string]any
}

// newLogRecorder returns a logger that records what it logs, and the recorder.
func newLogRecorder(t testing.TB) (*slog.Logger, *logRecorder) {
	h := &logRecorder{mu: new(sync.Mutex), recs: new([]logged), next: testutil.Logger(t).Handler()}
	return slog.New(h), h
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *logRecorder) Handle(ctx context.Context, r slog.Record) error {
	e := logged{level: r.Level, msg: r.Message, attrs: map[string]any{}}
	for _, a := range h.pre {
		e.attrs[a.Key] = a.Value.Resolve().Any()
	}
	r.Attrs(func(a slog.Attr) bool {
		e.attrs[a.Key] = a.Value.Resolve().Any()
		return true
	})
	h.mu.Lock()
	*h.recs = append(*h.recs, e)
	h.mu.Unlock()
	return h.next.Handle(ctx, r)
}

func (h *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &logRecorder{mu: h.mu, recs: h.recs, pre: append(slices.Clip(h.pre), as...), next: h.next.WithAttrs(as)}
}

func (h *logRecorder) WithGroup(name string) slog.Handler {
	return &logRecorder{mu: h.mu, recs: h.recs, pre: h.pre, next: h.next.WithGroup(name)}
}

// take returns the records at level or above logged since the last take, and forgets them.
func (h *logRecorder) take(level slog.Level) []logged {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []logged
	for _, e := range *h.recs {
		if e.level >= level {
			out = append(out, e)
		}
	}
	*h.recs = nil
	return out
}

// fakeClock is a clock tests move by hand; it is safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Add(d time.Duration) { c.ns.Add(int64(d)) }
