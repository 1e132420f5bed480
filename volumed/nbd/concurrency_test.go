package nbd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"stratus/internal/testutil"
)

// gatedExport is a memExport whose reads at gated offsets wait until release is closed
// (or their ctx ends), and which records how many reads run at once.
type gatedExport struct {
	*memExport
	gated   map[uint64]bool // nil: every read waits
	release chan struct{}
	entered chan uint64 // offset of each read that starts waiting; buffered

	running, maxRunning atomic.Int64
	closes              atomic.Int64
}

func newGatedExport(gated ...uint64) *gatedExport {
	g := &gatedExport{memExport: newMemExport(1 << 20), release: make(chan struct{}), entered: make(chan uint64, 1024)}
	if len(gated) > 0 {
		g.gated = make(map[uint64]bool)
		for _, off := range gated {
			g.gated[off] = true
		}
	}
	return g
}

func (g *gatedExport) ReadAt(ctx context.Context, p []byte, off uint64) error {
	n := g.running.Add(1)
	defer g.running.Add(-1)
	for {
		m := g.maxRunning.Load()
		if n <= m || g.maxRunning.CompareAndSwap(m, n) {
			break
		}
	}
	if g.gated == nil || g.gated[off] {
		g.entered <- off
		select {
		case <-g.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return g.memExport.ReadAt(ctx, p, off)
}

// gatedView serves a gatedExport as an export that can only be read and written, so
// reads go through its ReadAt.
type gatedView struct{ g *gatedExport }

func (v gatedView) Size() uint64 { return v.g.Size() }
func (v gatedView) ReadAt(ctx context.Context, p []byte, off uint64) error {
	return v.g.ReadAt(ctx, p, off)
}
func (v gatedView) WriteAt(ctx context.Context, p []byte, off uint64, fua bool) error {
	return v.g.WriteAt(ctx, p, off, fua)
}

func gatedExports(g *gatedExport) *staticExports {
	var ex staticExports
	ex.add("g", gatedView{g}, ExportInfo{})
	return &ex
}

// TestOutOfOrderReplies: a slow read does not hold up the replies to later requests.
func TestOutOfOrderReplies(t *testing.T) {
	g := newGatedExport(0)
	ts := startServer(t, gatedExports(g), nil)
	data := testutil.Payload(4096, 5)
	g.memExport.WriteAt(context.Background(), data, 4096, false)
	for _, structured := range []bool{false, true} {
		c := connect(t, ts.tcp, "g", connectOpts{structured: structured})
		slow := c.send(cmdRead, 0, 0, 4096, nil)
		<-g.entered
		fast := c.send(cmdRead, 0, 4096, 4096, nil)
		w := c.send(cmdWrite, 0, 8192, 4096, data)
		got := map[uint64]bool{}
		for range 2 {
			ch, payload := c.next()
			got[ch.handle] = true
			if ch.handle == fast && ch.typ == simpleType && !bytes.Equal(payload, data) {
				t.Error("fast read data")
			}
		}
		if !got[fast] || !got[w] {
			t.Fatalf("replies before the slow read: %v (want %d and %d)", got, fast, w)
		}
		g.release <- struct{}{} // one waiter
		if e, _ := c.reply(slow, 0, 4096); e != errnoOK {
			t.Fatalf("slow read: %v", e)
		}
	}
}

// TestInFlightBounds: a connection never has more than MaxInFlight requests, nor more
// than MaxInFlightBytes of payload, in the export at once.
func TestInFlightBounds(t *testing.T) {
	tests := []struct {
		name    string
		cfg     func(*Config)
		readLen uint32
		want    int64
	}{
		{"requests", func(c *Config) { c.MaxInFlight = 4 }, 4096, 4},
		{"bytes", func(c *Config) { c.MaxBlockBytes = 64 << 10; c.MaxInFlightBytes = 64 << 10 }, 32 << 10, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGatedExport()
			ts := startServer(t, gatedExports(g), tc.cfg)
			c := connect(t, ts.tcp, "g", connectOpts{})
			const n = 12
			for i := range n {
				c.send(cmdRead, 0, uint64(i)*uint64(tc.readLen), tc.readLen, nil)
			}
			for range tc.want {
				<-g.entered
			}
			// The reader is now blocked: the next request enters only when one finishes.
			if got := g.running.Load(); got != tc.want {
				t.Fatalf("%d reads running, want %d", got, tc.want)
			}
			close(g.release)
			for range n {
				ch, _ := c.next()
				if ch.errno != errnoOK {
					t.Fatalf("reply %+v", ch)
				}
			}
			if got := g.maxRunning.Load(); got != tc.want {
				t.Errorf("at most %d reads ran at once, want %d", got, tc.want)
			}
		})
	}
}

// TestGracefulShutdown: when Serve's ctx ends, requests in flight finish and are
// answered, new connections are refused, and Serve returns once the connection closes.
func TestGracefulShutdown(t *testing.T) {
	g := newGatedExport(0)
	ts := startServer(t, gatedExports(g), nil)
	negotiating := dial(t, ts.tcp) // still in negotiation: closed at once
	c := connect(t, ts.tcp, "g", connectOpts{structured: true})
	h := c.send(cmdRead, 0, 0, 4096, nil)
	<-g.entered

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		ts.stop()
	}()
	negotiating.expectClosed()
	testutil.Eventually(t, 10*time.Second, func() error {
		nc, err := net.Dial("tcp", ts.tcp)
		if err == nil {
			nc.Close()
			return errors.New("listener still accepting")
		}
		return nil
	})
	select {
	case <-stopped:
		t.Fatal("Serve returned with a request in flight")
	default:
	}
	close(g.release)
	if e, _ := c.reply(h, 0, 4096); e != errnoOK {
		t.Fatalf("in-flight read: %v", e)
	}
	c.expectClosed()
	<-stopped
}

// TestShutdownTimeout: requests still running at ShutdownTimeout are cancelled and
// answered ESHUTDOWN, and Serve returns.
func TestShutdownTimeout(t *testing.T) {
	g := newGatedExport(0)
	ts := startServer(t, gatedExports(g), func(c *Config) { c.ShutdownTimeout = 50 * time.Millisecond })
	for _, structured := range []bool{false, true} {
		t.Run(fmt.Sprint("structured=", structured), func(t *testing.T) {
			c := connect(t, ts.tcp, "g", connectOpts{structured: structured})
			h := c.send(cmdRead, 0, 0, 4096, nil)
			<-g.entered
			if structured {
				ts.stop() // the second run checks Serve returns
			} else {
				go ts.stop()
			}
			if e, _ := c.reply(h, 0, 4096); e != errnoShutdown {
				t.Fatalf("cancelled read: %v, want ESHUTDOWN", e)
			}
			c.expectClosed()
		})
		if !structured {
			// Start a fresh server for the second run.
			ts = startServer(t, gatedExports(g), func(c *Config) { c.ShutdownTimeout = 50 * time.Millisecond })
		}
	}
}

// closingExports hands out a fresh closable export per lookup and counts the closes.
type closingExports struct {
	opened, closed atomic.Int64
}

type closable struct {
	*memExport
	closed *atomic.Int64
	once   sync.Once
}

func (c *closable) Close() error {
	c.once.Do(func() { c.closed.Add(1) })
	return nil
}

func (e *closingExports) Lookup(context.Context, string) (Export, ExportInfo, error) {
	e.opened.Add(1)
	return &closable{memExport: newMemExport(1 << 20), closed: &e.closed}, ExportInfo{}, nil
}

func (e *closingExports) List(context.Context) ([]ExportInfo, error) { return nil, ErrRefused }

func TestExportClose(t *testing.T) {
	var ex closingExports
	ts := startServer(t, &ex, nil)
	c := dial(t, ts.tcp)
	c.clientFlags(clientFixedNewstyle)
	c.option(optList, nil)
	c.expectReply(optList, repErrPolicy)
	c.option(optInfo, infoData("x"))
	c.goInfo(optInfo)
	if ex.opened.Load() != 1 || ex.closed.Load() != 1 {
		t.Fatalf("after INFO: opened %d closed %d", ex.opened.Load(), ex.closed.Load())
	}
	c.option(optGo, infoData("x"))
	c.goInfo(optGo)
	c.send(cmdDisc, 0, 0, 0, nil)
	c.expectClosed()
	if ex.opened.Load() != 2 || ex.closed.Load() != 2 {
		t.Fatalf("after DISC: opened %d closed %d", ex.opened.Load(), ex.closed.Load())
	}
	// A client that vanishes mid-transmission releases its export too.
	c = connect(t, ts.tcp, "x", connectOpts{})
	c.nc.Close()
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := ex.closed.Load(); n != 3 {
			return fmt.Errorf("closed %d, want 3", n)
		}
		return nil
	})
}

func TestMaxConnections(t *testing.T) {
	ex, _ := rawExports()
	ts := startServer(t, ex, func(c *Config) { c.MaxConnections = 1 })
	first := connect(t, ts.tcp, "mem", connectOpts{})
	nc, err := net.Dial("tcp", ts.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	second := &testClient{t: t, nc: nc, br: bufioReader(nc)}
	second.expectClosed()
	first.send(cmdDisc, 0, 0, 0, nil)
	first.expectClosed()
	testutil.Eventually(t, 10*time.Second, func() error {
		if v := metricValue(t, ts.reg, "stratus_volumed_nbd_connections"); v != 0 {
			return fmt.Errorf("connections gauge %v", v)
		}
		return nil
	})
	connect(t, ts.tcp, "mem", connectOpts{}) // room again
}

func TestMetrics(t *testing.T) {
	ex, _ := rawExports()
	ts := startServer(t, ex, nil)
	c := connect(t, ts.tcp, "mem", connectOpts{structured: true})
	h := c.send(cmdWrite, 0, 0, 8192, make([]byte, 8192))
	c.reply(h, 0, 0)
	for range 3 {
		h = c.send(cmdRead, 0, 0, 4096, nil)
		c.reply(h, 0, 4096)
	}
	h = c.send(cmdRead, 0, 1<<20, 4096, nil)
	c.reply(h, 1<<20, 4096)
	c.send(cmdDisc, 0, 0, 0, nil)
	c.expectClosed()

	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"stratus_volumed_nbd_requests_total", []string{"op", "read", "result", "ok"}, 3},
		{"stratus_volumed_nbd_requests_total", []string{"op", "read", "result", "einval"}, 1},
		{"stratus_volumed_nbd_requests_total", []string{"op", "write", "result", "ok"}, 1},
		{"stratus_volumed_nbd_bytes_total", []string{"op", "read"}, 3 * 4096},
		{"stratus_volumed_nbd_bytes_total", []string{"op", "write"}, 8192},
		{"stratus_volumed_nbd_inflight_requests", nil, 0},
		{"stratus_volumed_nbd_handshakes_total", []string{"result", "ok"}, 1},
	}
	for _, ck := range checks {
		if got := metricValue(t, ts.reg, ck.name, ck.labels...); got != ck.want {
			t.Errorf("%s%v = %v, want %v", ck.name, ck.labels, got, ck.want)
		}
	}
	mfs, _ := ts.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "stratus_volumed_nbd_request_seconds" {
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == "read" && m.GetHistogram().GetSampleCount() != 4 {
					t.Errorf("read latency samples %d, want 4", m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
}

// TestRequestTimeout: an Export call that outlives RequestTimeout has its ctx ended and
// the client is told EIO; the connection goes on.
func TestRequestTimeout(t *testing.T) {
	g := newGatedExport(0)
	ts := startServer(t, gatedExports(g), func(c *Config) { c.RequestTimeout = 50 * time.Millisecond })
	c := connect(t, ts.tcp, "g", connectOpts{structured: true})
	start := time.Now()
	h := c.send(cmdRead, 0, 0, 4096, nil)
	if e, _ := c.reply(h, 0, 4096); e != errnoIO {
		t.Fatalf("read past its deadline: %v, want EIO", e)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("deadline after %v, want at least 50ms", d)
	}
	h = c.send(cmdRead, 0, 4096, 4096, nil)
	if e, _ := c.reply(h, 4096, 4096); e != errnoOK {
		t.Fatalf("next read: %v", e)
	}
}
