package nbd

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var updateSeeds = flag.Bool("update", false, "rewrite the seed corpora in testdata/fuzz")

// fuzzConn is a net.Conn whose reads replay a fixed client stream and whose writes are
// kept. Deadlines are ignored: the stream ends, so nothing blocks.
type fuzzConn struct {
	r      *bytes.Reader // the reader goroutine's only
	closed atomic.Bool
	mu     sync.Mutex
	out    bytes.Buffer
}

func (c *fuzzConn) Read(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	return c.r.Read(p)
}

func (c *fuzzConn) Write(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}

func (c *fuzzConn) Close() error                     { c.closed.Store(true); return nil }
func (c *fuzzConn) LocalAddr() net.Addr              { return &net.UnixAddr{Name: "fuzz", Net: "unix"} }
func (c *fuzzConn) RemoteAddr() net.Addr             { return &net.UnixAddr{Name: "fuzz-client", Net: "unix"} }
func (c *fuzzConn) SetDeadline(time.Time) error      { return nil }
func (c *fuzzConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fuzzConn) SetWriteDeadline(time.Time) error { return nil }

// sessionSeeds are client streams (everything the client sends after the greeting) that
// reach the interesting states: each option, each command, structured replies with holes
// and block status, refusals, and broken framing.
func sessionSeeds() map[string][]byte {
	flags := binary.BigEndian.AppendUint32(nil, clientFixedNewstyle|clientNoZeroes)
	opt := func(b []byte, o uint32, data []byte) []byte {
		return append(appendOptionHeader(b, optionHeader{option: o, length: uint32(len(data))}), data...)
	}
	req := func(b []byte, typ, fl uint16, off uint64, n uint32, payload bool) []byte {
		b = appendRequest(b, request{flags: fl, typ: typ, handle: uint64(len(b)), offset: off, length: n})
		if payload {
			b = append(b, bytes.Repeat([]byte{0x5a}, int(n))...)
		}
		return b
	}
	seeds := map[string][]byte{}

	b := opt(flags, optGo, infoData("mem", infoBlockSize))
	b = req(b, cmdWrite, cmdFlagFUA, 4096, 8192, true)
	b = req(b, cmdRead, 0, 0, 16384, false)
	b = req(b, cmdFlush, 0, 0, 0, false)
	b = req(b, cmdTrim, 0, 0, 4096, false)
	b = req(b, cmdWriteZeroes, cmdFlagNoHole, 8192, 4096, false)
	b = req(b, cmdCache, 0, 0, 65536, false)
	seeds["simple"] = req(b, cmdDisc, 0, 0, 0, false)

	b = opt(flags, optStructuredReply, nil)
	b = opt(b, optListMetaContext, metaData("mem"))
	b = opt(b, optSetMetaContext, metaData("mem", "base:allocation", "qemu:dirty-bitmap:x"))
	b = opt(b, optGo, infoData("mem", infoName, infoDescription, infoBlockSize))
	b = req(b, cmdWrite, 0, 65536, 512, true)
	b = req(b, cmdRead, 0, 0, 3*65536, false)
	b = req(b, cmdRead, cmdFlagDF, 0, 3*65536, false)
	b = req(b, cmdBlockStatus, 0, 0, 1<<20, false)
	b = req(b, cmdBlockStatus, cmdFlagReqOne, 0, 1<<20, false)
	b = req(b, cmdWriteZeroes, cmdFlagFastZero, 0, 4096, false)
	seeds["structured"] = req(b, cmdDisc, 0, 0, 0, false)

	b = opt(flags, optList, nil)
	b = opt(b, optInfo, infoData("ro"))
	b = opt(b, optInfo, infoData("nope"))
	b = opt(b, optStartTLS, nil)
	b = opt(b, 77, []byte("junk"))
	seeds["options-abort"] = opt(b, optAbort, nil)

	b = opt(flags, optExportName, []byte("ro"))
	b = req(b, cmdWrite, 0, 0, 4096, true) // EPERM, payload dropped
	b = req(b, cmdRead, 0, 1<<20, 4096, false)
	b = req(b, cmdRead, 0, 0, 1<<20, false) // over MaxBlockBytes
	seeds["export-name-errors"] = req(b, 99, 0, 0, 0, false)

	b = opt(flags, optGo, infoData("aligned"))
	b = req(b, cmdRead, 0, 100, 512, false)
	seeds["unaligned-then-bad-magic"] = append(b, 0xde, 0xad, 0xbe, 0xef)

	b = opt(flags, optGo, infoData("mem"))
	seeds["huge-write"] = req(b, cmdWrite, 0, 0, 64<<20, false)

	seeds["huge-option"] = appendOptionHeader(flags, optionHeader{option: optGo, length: 1 << 31})
	seeds["not-fixed-newstyle"] = binary.BigEndian.AppendUint32(nil, 0)
	b = opt(flags, optStructuredReply, nil)
	seeds["bad-meta"] = opt(b, optSetMetaContext, []byte{0, 0, 0, 3, 'm', 'e', 'm', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1})
	return seeds
}

// fuzzServer serves the fuzz sessions: small limits so large lengths stay cheap.
func fuzzServer(t testing.TB) *Server {
	cfg := DefaultConfig()
	cfg.MaxBlockBytes = 64 << 10
	cfg.MaxInFlight = 8
	cfg.MaxInFlightBytes = 256 << 10
	var ex staticExports
	ex.add("mem", newMemExport(1<<20), ExportInfo{MultiConn: true})
	ex.add("ro", newMemExport(1<<20), ExportInfo{ReadOnly: true})
	ex.add("aligned", newMemExport(1<<20), ExportInfo{MinBlockBytes: 512, PreferredBlockBytes: 4096})
	srv, err := New(cfg, &ex, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// FuzzSession feeds arbitrary client streams to a connection: the server must not panic,
// must finish when the stream ends, must greet first, and must never answer a read with
// more than it was asked for (replies are bounded by the requests).
func FuzzSession(f *testing.F) {
	for _, s := range sessionSeeds() {
		f.Add(s)
	}
	srv := fuzzServer(f)
	f.Fuzz(func(t *testing.T, stream []byte) {
		fc := &fuzzConn{r: bytes.NewReader(stream)}
		c := newConn(srv, fc)
		ctx := context.Background()
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.serve(ctx, ctx)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			buf := make([]byte, 1<<20)
			t.Fatalf("session did not end: %q\n%s", stream, buf[:runtime.Stack(buf, true)])
		}
		out := fc.out.Bytes()
		if len(out) < greetingLen || binary.BigEndian.Uint64(out) != magicNBD {
			t.Fatalf("no greeting: %x", out[:min(len(out), greetingLen)])
		}
		if limit := greetingLen + 64*len(stream) + 2<<20; len(out) > limit {
			t.Fatalf("%d bytes out for %d in", len(out), len(stream))
		}
	})
}

// FuzzHeaders checks that request and option headers parse only with their magic and
// encode back to the same bytes.
func FuzzHeaders(f *testing.F) {
	f.Add(appendRequest(nil, request{flags: cmdFlagFUA, typ: cmdWrite, handle: 7, offset: 4096, length: 512}))
	f.Add(appendOptionHeader(nil, optionHeader{option: optGo, length: 12}))
	f.Add(make([]byte, requestLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= requestLen {
			var h [requestLen]byte
			copy(h[:], b)
			r, err := parseRequest(&h)
			if (err == nil) != (binary.BigEndian.Uint32(h[:]) == magicRequest) {
				t.Fatalf("parseRequest(%x) = %v", h, err)
			}
			if err == nil && !bytes.Equal(appendRequest(nil, r), h[:]) {
				t.Fatalf("request %x does not round-trip", h)
			}
		}
		if len(b) >= optHeaderLen {
			var h [optHeaderLen]byte
			copy(h[:], b)
			o, err := parseOptionHeader(&h)
			if (err == nil) != (binary.BigEndian.Uint64(h[:]) == magicOpt) {
				t.Fatalf("parseOptionHeader(%x) = %v", h, err)
			}
			if err == nil && !bytes.Equal(appendOptionHeader(nil, o), h[:]) {
				t.Fatalf("option header %x does not round-trip", h)
			}
		}
	})
}

// TestFuzzSeedCorpus keeps testdata/fuzz/FuzzSession in step with sessionSeeds; run with
// -update to rewrite it.
func TestFuzzSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzSession")
	for name, seed := range sessionSeeds() {
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(seed)))
		path := filepath.Join(dir, name)
		if *updateSeeds {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("seed %s is stale or missing (go test -run TestFuzzSeedCorpus -update): %v", path, err)
		}
	}
}
