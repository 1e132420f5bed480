package nbd

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"stratus/internal/testutil"
)

// TestMain fails the package if goroutines of the server outlive the tests: Serve must
// wait for everything it started.
func TestMain(m *testing.M) { testutil.MainCheckingLeaks(m, "stratus/volumed/nbd.") }

// testServer is a Server on a loopback TCP port and a unix socket, stopped at cleanup.
type testServer struct {
	srv  *Server
	reg  *prometheus.Registry
	tcp  string // host:port
	sock string // unix socket path
	stop func() // cancels Serve and waits for it; idempotent, safe from any goroutine
}

func startServer(t testing.TB, exports Exports, mod func(*Config)) *testServer {
	t.Helper()
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	reg := prometheus.NewRegistry()
	var logger *slog.Logger // benchmarks: none, so the output stays readable
	if _, bench := t.(*testing.B); !bench {
		logger = testutil.Logger(t)
	}
	srv, err := New(cfg, exports, logger, reg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "nbd.sock")
	uln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() { errs <- srv.Serve(ctx, ln) }()
	go func() { errs <- srv.Serve(ctx, uln) }()
	var once sync.Once
	ts := &testServer{srv: srv, reg: reg, tcp: ln.Addr().String(), sock: sock}
	ts.stop = func() {
		once.Do(func() {
			cancel()
			for range 2 {
				if err := <-errs; err != nil {
					t.Errorf("Serve: %v", err)
				}
			}
		})
	}
	t.Cleanup(ts.stop)
	return ts
}

// testClient is a minimal NBD client for driving the server byte by byte.
type testClient struct {
	t          testing.TB
	nc         net.Conn
	br         *bufio.Reader
	bw         *bufio.Writer
	structured bool
	size       uint64
	flags      uint16
	handle     uint64
	reads      map[uint64]int // handle → length of each read in flight
}

// dial connects and reads the greeting.
func dial(t testing.TB, addr string) *testClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	// A deadline so a server that stops answering fails the test instead of hanging it.
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	c := &testClient{t: t, nc: nc, br: bufio.NewReader(nc), bw: bufio.NewWriter(nc)}
	var g [greetingLen]byte
	c.readFull(g[:])
	if binary.BigEndian.Uint64(g[0:]) != magicNBD || binary.BigEndian.Uint64(g[8:]) != magicOpt {
		t.Fatalf("greeting %x", g)
	}
	if f := binary.BigEndian.Uint16(g[16:]); f != flagFixedNewstyle|flagNoZeroes {
		t.Fatalf("handshake flags %#x", f)
	}
	return c
}

func (c *testClient) readFull(p []byte) {
	c.t.Helper()
	if _, err := io.ReadFull(c.br, p); err != nil {
		c.t.Fatalf("read: %v", err)
	}
}

func (c *testClient) write(parts ...[]byte) {
	c.t.Helper()
	for _, p := range parts {
		c.bw.Write(p)
	}
	if err := c.bw.Flush(); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *testClient) clientFlags(f uint32) {
	c.write(binary.BigEndian.AppendUint32(nil, f))
}

func (c *testClient) option(opt uint32, data []byte) {
	c.t.Helper()
	c.write(appendOptionHeader(nil, optionHeader{option: opt, length: uint32(len(data))}), data)
}

type optReply struct {
	opt, typ uint32
	data     []byte
}

func (c *testClient) optReply() optReply {
	c.t.Helper()
	var h [optReplyHeaderLen]byte
	c.readFull(h[:])
	if m := binary.BigEndian.Uint64(h[:]); m != magicOptReply {
		c.t.Fatalf("option reply magic %#x", m)
	}
	r := optReply{opt: binary.BigEndian.Uint32(h[8:]), typ: binary.BigEndian.Uint32(h[12:])}
	r.data = make([]byte, binary.BigEndian.Uint32(h[16:]))
	c.readFull(r.data)
	return r
}

// expectReply reads an option reply and checks its option and type.
func (c *testClient) expectReply(opt, typ uint32) optReply {
	c.t.Helper()
	r := c.optReply()
	if r.opt != opt || r.typ != typ {
		c.t.Fatalf("option reply (opt %d, type %#x, %q), want (opt %d, type %#x)", r.opt, r.typ, r.data, opt, typ)
	}
	return r
}

// infoData encodes the data of NBD_OPT_INFO or NBD_OPT_GO.
func infoData(name string, infos ...uint16) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(infos)))
	for _, i := range infos {
		b = binary.BigEndian.AppendUint16(b, i)
	}
	return b
}

// metaData encodes the data of the meta context options.
func metaData(name string, queries ...string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(queries)))
	for _, q := range queries {
		b = binary.BigEndian.AppendUint32(b, uint32(len(q)))
		b = append(b, q...)
	}
	return b
}

// goInfo reads the replies to a successful NBD_OPT_GO or NBD_OPT_INFO, by info type.
func (c *testClient) goInfo(opt uint32) map[uint16][]byte {
	c.t.Helper()
	infos := make(map[uint16][]byte)
	for {
		r := c.optReply()
		if r.opt != opt {
			c.t.Fatalf("reply to option %d, want %d", r.opt, opt)
		}
		switch r.typ {
		case repAck:
			return infos
		case repInfo:
			infos[binary.BigEndian.Uint16(r.data)] = r.data[2:]
		default:
			c.t.Fatalf("option %d: reply type %#x (%q)", opt, r.typ, r.data)
		}
	}
}

type connectOpts struct {
	structured bool
	meta       bool // select base:allocation
}

// connect negotiates the export with NBD_OPT_GO.
func connect(t testing.TB, addr, name string, o connectOpts) *testClient {
	t.Helper()
	c := dial(t, addr)
	c.clientFlags(clientFixedNewstyle | clientNoZeroes)
	if o.structured {
		c.option(optStructuredReply, nil)
		c.expectReply(optStructuredReply, repAck)
		c.structured = true
	}
	if o.meta {
		c.option(optSetMetaContext, metaData(name, "base:allocation"))
		c.expectReply(optSetMetaContext, repMetaContext)
		c.expectReply(optSetMetaContext, repAck)
	}
	c.option(optGo, infoData(name, infoBlockSize))
	infos := c.goInfo(optGo)
	e := infos[infoExport]
	if len(e) != 10 {
		t.Fatalf("NBD_INFO_EXPORT %x", e)
	}
	c.size = binary.BigEndian.Uint64(e)
	c.flags = binary.BigEndian.Uint16(e[8:])
	return c
}

// send sends a request and returns its handle.
func (c *testClient) send(typ, flags uint16, off uint64, length uint32, payload []byte) uint64 {
	c.t.Helper()
	c.handle++
	if typ == cmdRead {
		if c.reads == nil {
			c.reads = make(map[uint64]int)
		}
		c.reads[c.handle] = int(length)
	}
	r := request{flags: flags, typ: typ, handle: c.handle, offset: off, length: length}
	c.write(appendRequest(nil, r), payload)
	return c.handle
}

// chunk is a reply message: a simple reply (typ 0xffff) or a structured chunk.
type chunk struct {
	flags, typ uint16
	handle     uint64
	errno      errno  // simple replies and error chunks
	payload    []byte // structured chunks
}

const simpleType = 0xffff

// next reads one reply message, with the data following a successful simple reply to a
// read.
func (c *testClient) next() (chunk, []byte) {
	c.t.Helper()
	var m [4]byte
	c.readFull(m[:])
	switch binary.BigEndian.Uint32(m[:]) {
	case magicSimpleReply:
		var h [12]byte
		c.readFull(h[:])
		ch := chunk{typ: simpleType, errno: errno(binary.BigEndian.Uint32(h[:])), handle: binary.BigEndian.Uint64(h[4:])}
		var data []byte
		dataLen := c.reads[ch.handle]
		delete(c.reads, ch.handle)
		if ch.errno == errnoOK && dataLen > 0 {
			data = make([]byte, dataLen)
			c.readFull(data)
		}
		return ch, data
	case magicStructuredReply:
		var h [structuredHeaderLen - 4]byte
		c.readFull(h[:])
		ch := chunk{flags: binary.BigEndian.Uint16(h[:]), typ: binary.BigEndian.Uint16(h[2:]),
			handle: binary.BigEndian.Uint64(h[4:])}
		ch.payload = make([]byte, binary.BigEndian.Uint32(h[12:]))
		c.readFull(ch.payload)
		if ch.flags&replyFlagDone != 0 {
			delete(c.reads, ch.handle)
		}
		if ch.typ&(1<<15) != 0 {
			ch.errno = errno(binary.BigEndian.Uint32(ch.payload))
		}
		return ch, nil
	default:
		c.t.Fatalf("reply magic %x", m)
	}
	return chunk{}, nil
}

// reply reads the whole reply to handle h, which must be the next to arrive, and
// returns its error and, for a read of length n at off, the data (holes filled with
// zeroes).
func (c *testClient) reply(h uint64, off uint64, n int) (errno, []byte) {
	c.t.Helper()
	ch, data := c.next()
	if ch.handle != h {
		c.t.Fatalf("reply for handle %d, want %d", ch.handle, h)
	}
	if ch.typ == simpleType {
		return ch.errno, data
	}
	buf := make([]byte, n)
	e := errnoOK
	for {
		switch ch.typ {
		case replyOffsetData:
			o := binary.BigEndian.Uint64(ch.payload)
			copy(buf[o-off:], ch.payload[8:])
		case replyOffsetHole:
			// Already zero.
		case replyError, replyErrorOffset:
			e = ch.errno
		}
		if ch.flags&replyFlagDone != 0 {
			return e, buf
		}
		ch, _ = c.next()
		if ch.handle != h {
			c.t.Fatalf("chunk for handle %d, want %d", ch.handle, h)
		}
	}
}

// expectClosed checks that the server closes the connection without sending more.
func (c *testClient) expectClosed() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, c.br)
	if n != 0 {
		c.t.Errorf("server sent %d more bytes before closing", n)
	}
	if err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		c.t.Fatalf("connection not closed: %v", err)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// metricValue returns the value of the counter or gauge called name whose labels include
// the given name/value pairs (summed over the series that match), or 0.
func metricValue(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue series
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

func bufioReader(nc net.Conn) *bufio.Reader { return bufio.NewReader(nc) }
