package nbd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"stratus/internal/testutil"
)

// rawExports is the set most raw tests use: a writable sparse export, a read-only one,
// one with 512-byte blocks, and a minimal one (Size and ReadAt only).
func rawExports() (*staticExports, *memExport) {
	mem := newMemExport(1 << 20)
	var ex staticExports
	ex.add("mem", mem, ExportInfo{Description: "in-memory", MultiConn: true})
	ex.add("ro", newMemExport(1<<20), ExportInfo{ReadOnly: true})
	ex.add("aligned", newMemExport(1<<20), ExportInfo{MinBlockBytes: 512})
	ex.add("plain", readOnlyView{newMemExport(1 << 20)}, ExportInfo{})
	ex.add("writeonly", writeView{newMemExport(1 << 20)}, ExportInfo{})
	return &ex, mem
}

// readOnlyView hides everything of an export but Size and ReadAt.
type readOnlyView struct{ m *memExport }

func (v readOnlyView) Size() uint64 { return v.m.Size() }
func (v readOnlyView) ReadAt(ctx context.Context, p []byte, off uint64) error {
	return v.m.ReadAt(ctx, p, off)
}

// writeView is an export that can be read and written, and nothing more: it is zeroed by
// writing, and has no fast zero.
type writeView struct{ m *memExport }

func (v writeView) Size() uint64 { return v.m.Size() }
func (v writeView) ReadAt(ctx context.Context, p []byte, off uint64) error {
	return v.m.ReadAt(ctx, p, off)
}
func (v writeView) WriteAt(ctx context.Context, p []byte, off uint64, fua bool) error {
	return v.m.WriteAt(ctx, p, off, fua)
}

func TestHandshakeRefusals(t *testing.T) {
	ex, _ := rawExports()
	ts := startServer(t, ex, nil)
	tests := []struct {
		name string
		run  func(c *testClient)
	}{
		{"non-fixed newstyle client", func(c *testClient) { c.clientFlags(0) }},
		{"unknown client flag", func(c *testClient) { c.clientFlags(clientFixedNewstyle | 1<<5) }},
		{"bad option magic", func(c *testClient) {
			c.clientFlags(clientFixedNewstyle)
			b := appendOptionHeader(nil, optionHeader{option: optList})
			b[0] ^= 0xff
			c.write(b)
		}},
		{"absurd option length", func(c *testClient) {
			c.clientFlags(clientFixedNewstyle)
			c.write(appendOptionHeader(nil, optionHeader{option: optGo, length: 0xffffffff}))
		}},
		{"option just over the bound", func(c *testClient) {
			c.clientFlags(clientFixedNewstyle)
			c.write(appendOptionHeader(nil, optionHeader{option: 99, length: maxOptionBytes + 1}))
		}},
		{"unknown export by EXPORT_NAME", func(c *testClient) {
			c.clientFlags(clientFixedNewstyle)
			c.option(optExportName, []byte("nope"))
		}},
		{"export name too long", func(c *testClient) {
			c.clientFlags(clientFixedNewstyle)
			c.option(optExportName, bytes.Repeat([]byte("a"), maxStringLen+1))
		}},
		{"abort", func(c *testClient) {
			c.clientFlags(clientFixedNewstyle)
			c.option(optAbort, nil)
			c.expectReply(optAbort, repAck)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, ts.tcp)
			tc.run(c)
			c.expectClosed()
		})
	}
}

func TestHandshakeOptions(t *testing.T) {
	ex, _ := rawExports()
	ts := startServer(t, ex, nil)
	c := dial(t, ts.tcp)
	c.clientFlags(clientFixedNewstyle)

	for _, opt := range []uint32{99, optStartTLS, optExtendedHeaders, optPeekExport} {
		c.option(opt, nil)
		c.expectReply(opt, repErrUnsup)
	}
	c.option(optList, []byte("x"))
	c.expectReply(optList, repErrInvalid)
	c.option(optList, nil)
	var names []string
	for {
		r := c.optReply()
		if r.typ == repAck {
			break
		}
		if r.typ != repServer {
			t.Fatalf("list reply type %#x", r.typ)
		}
		n := binary.BigEndian.Uint32(r.data)
		names = append(names, string(r.data[4:4+n])+"|"+string(r.data[4+n:]))
	}
	want := []string{"aligned|", "mem|in-memory", "plain|", "ro|", "writeonly|"}
	if len(names) != len(want) {
		t.Fatalf("list = %q, want %q", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Errorf("list[%d] = %q, want %q", i, names[i], want[i])
		}
	}

	// NBD_OPT_INFO: unknown export, malformed data, then a good one with every info.
	c.option(optInfo, infoData("nope"))
	c.expectReply(optInfo, repErrUnknown)
	for _, bad := range [][]byte{
		{0, 0, 0},                               // shorter than the fixed fields
		{0, 0, 0, 9, 'm', 'e', 'm', 0, 0},       // name length past the data
		append(infoData("mem"), 0),              // trailing byte
		{0, 0, 0, 3, 'm', 'e', 'm', 0, 2, 0, 1}, // two requests announced, one sent
	} {
		c.option(optInfo, bad)
		c.expectReply(optInfo, repErrInvalid)
	}
	c.option(optInfo, infoData("mem", infoName, infoDescription, infoBlockSize, 77))
	infos := c.goInfo(optInfo)
	if got := binary.BigEndian.Uint64(infos[infoExport]); got != 1<<20 {
		t.Errorf("size = %d", got)
	}
	flags := binary.BigEndian.Uint16(infos[infoExport][8:])
	wantFlags := tflagHasFlags | tflagSendFlush | tflagSendFUA | tflagSendTrim | tflagSendWriteZeroes |
		tflagSendFastZero | tflagCanMultiConn | tflagSendCache
	if flags != wantFlags {
		t.Errorf("flags = %#x, want %#x", flags, wantFlags)
	}
	if got := string(infos[infoName]); got != "mem" {
		t.Errorf("name = %q", got)
	}
	if got := string(infos[infoDescription]); got != "in-memory" {
		t.Errorf("description = %q", got)
	}
	bs := infos[infoBlockSize]
	if len(bs) != 12 || binary.BigEndian.Uint32(bs) != 1 || binary.BigEndian.Uint32(bs[4:]) != 4096 ||
		binary.BigEndian.Uint32(bs[8:]) != 32<<20 {
		t.Errorf("block size info %x", bs)
	}

	// Meta contexts need structured replies first.
	c.option(optSetMetaContext, metaData("mem", "base:allocation"))
	c.expectReply(optSetMetaContext, repErrInvalid)
	c.option(optStructuredReply, []byte("x"))
	c.expectReply(optStructuredReply, repErrInvalid)
	c.option(optStructuredReply, nil)
	c.expectReply(optStructuredReply, repAck)
	for _, q := range [][]string{nil, {"base:"}, {"base:allocation"}, {"qemu:dirty-bitmap:x", "base:allocation"}} {
		c.option(optListMetaContext, metaData("mem", q...))
		r := c.expectReply(optListMetaContext, repMetaContext)
		if string(r.data[4:]) != "base:allocation" {
			t.Errorf("list %q: context %q", q, r.data[4:])
		}
		c.expectReply(optListMetaContext, repAck)
	}
	c.option(optListMetaContext, metaData("mem", "qemu:allocation-depth", "base:nothing"))
	c.expectReply(optListMetaContext, repAck)
	c.option(optSetMetaContext, metaData("mem", "base:"))
	c.expectReply(optSetMetaContext, repAck) // "base:" selects nothing when setting
	c.option(optSetMetaContext, metaData("mem", "nocolon"))
	c.expectReply(optSetMetaContext, repErrInvalid)
	bad := metaData("mem", "base:allocation")
	c.option(optSetMetaContext, bad[:len(bad)-1])
	c.expectReply(optSetMetaContext, repErrInvalid)
	c.option(optSetMetaContext, metaData("mem", "base:allocation"))
	r := c.expectReply(optSetMetaContext, repMetaContext)
	if id := binary.BigEndian.Uint32(r.data); id != baseAllocationID {
		t.Errorf("context id %d", id)
	}
	c.expectReply(optSetMetaContext, repAck)

	// GO on an unknown export fails and negotiation goes on.
	c.option(optGo, infoData("nope"))
	c.expectReply(optGo, repErrUnknown)
	c.option(optGo, infoData("mem"))
	infos = c.goInfo(optGo)
	if f := binary.BigEndian.Uint16(infos[infoExport][8:]); f != wantFlags|tflagSendDF {
		t.Errorf("flags with structured replies = %#x, want %#x", f, wantFlags|tflagSendDF)
	}
	c.structured = true
	h := c.send(cmdBlockStatus, 0, 0, 4096, nil)
	ch, _ := c.next()
	if ch.handle != h || ch.typ != replyBlockStatus || ch.flags != replyFlagDone {
		t.Fatalf("block status reply %+v", ch)
	}
	c.send(cmdDisc, 0, 0, 0, nil)
	c.expectClosed()
}

func TestExportName(t *testing.T) {
	ex, _ := rawExports()
	ts := startServer(t, ex, nil)
	for _, noZeroes := range []bool{false, true} {
		c := dial(t, ts.tcp)
		f := clientFixedNewstyle
		if noZeroes {
			f |= clientNoZeroes
		}
		c.clientFlags(f)
		c.option(optExportName, []byte("ro"))
		n := 8 + 2 + 124
		if noZeroes {
			n = 8 + 2
		}
		b := make([]byte, n)
		c.readFull(b)
		if size := binary.BigEndian.Uint64(b); size != 1<<20 {
			t.Errorf("size %d", size)
		}
		if flags := binary.BigEndian.Uint16(b[8:]); flags != tflagHasFlags|tflagReadOnly|tflagSendFlush|tflagSendCache {
			t.Errorf("flags %#x", flags)
		}
		if !bytes.Equal(b[10:], make([]byte, n-10)) {
			t.Error("padding not zero")
		}
		// Transmission works right after.
		h := c.send(cmdRead, 0, 0, 512, nil)
		if e, _ := c.reply(h, 0, 512); e != errnoOK {
			t.Errorf("read: %v", e)
		}
	}
}

// TestRequestErrors sends requests the server must refuse, with simple and structured
// replies, and checks the error and that the connection still works after each.
func TestRequestErrors(t *testing.T) {
	ex, _ := rawExports()
	ts := startServer(t, ex, func(c *Config) { c.MaxBlockBytes = 64 << 10 })
	type req struct {
		typ, flags uint16
		off        uint64
		length     uint32
		payload    bool // send length bytes after the header
	}
	tests := []struct {
		name   string
		export string
		r      req
		want   errno
	}{
		{"read past end", "mem", req{typ: cmdRead, off: 1<<20 - 512, length: 1024}, errnoInval},
		{"read offset overflow", "mem", req{typ: cmdRead, off: 1<<64 - 512, length: 1024}, errnoInval},
		{"read over max block", "mem", req{typ: cmdRead, length: 64<<10 + 512}, errnoInval},
		{"write past end", "mem", req{typ: cmdWrite, off: 1 << 20, length: 512, payload: true}, errnoNoSpace},
		{"write over max block", "mem", req{typ: cmdWrite, length: 128 << 10, payload: true}, errnoInval},
		{"write to read-only", "ro", req{typ: cmdWrite, length: 4096, payload: true}, errnoPerm},
		{"trim read-only", "ro", req{typ: cmdTrim, length: 4096}, errnoPerm},
		{"zero read-only", "ro", req{typ: cmdWriteZeroes, length: 4096}, errnoPerm},
		{"zero past end", "mem", req{typ: cmdWriteZeroes, off: 1 << 20, length: 4096}, errnoNoSpace},
		{"trim past end", "mem", req{typ: cmdTrim, off: 1<<20 - 4096, length: 8192}, errnoInval},
		{"trim unsupported", "writeonly", req{typ: cmdTrim, length: 4096}, errnoInval},
		{"cache past end", "mem", req{typ: cmdCache, off: 1 << 20, length: 1}, errnoInval},
		{"flush with offset", "mem", req{typ: cmdFlush, off: 512}, errnoInval},
		{"flush unsupported", "plain", req{typ: cmdFlush}, errnoInval},
		{"unknown command", "mem", req{typ: 42, length: 512}, errnoInval},
		{"unknown flag", "mem", req{typ: cmdRead, flags: 1 << 9, length: 512}, errnoInval},
		{"flag of another command", "mem", req{typ: cmdRead, flags: cmdFlagReqOne, length: 512}, errnoInval},
		{"FUA not advertised", "ro", req{typ: cmdRead, flags: cmdFlagFUA, length: 512}, errnoInval},
		{"no hole on write", "mem", req{typ: cmdWrite, flags: cmdFlagNoHole, length: 512, payload: true}, errnoInval},
		{"block status not negotiated", "mem", req{typ: cmdBlockStatus, length: 4096}, errnoInval},
		{"unaligned read", "aligned", req{typ: cmdRead, off: 100, length: 512}, errnoInval},
		{"unaligned write", "aligned", req{typ: cmdWrite, length: 100, payload: true}, errnoInval},
		{"fast zero not fast", "writeonly", req{typ: cmdWriteZeroes, flags: cmdFlagFastZero, length: 4096}, errnoNotSup},
	}
	for _, structured := range []bool{false, true} {
		for _, tc := range tests {
			name := tc.name + "/simple"
			if structured {
				name = tc.name + "/structured"
			}
			t.Run(name, func(t *testing.T) {
				c := connect(t, ts.tcp, tc.export, connectOpts{structured: structured})
				var payload []byte
				if tc.r.payload {
					payload = testutil.Payload(int(tc.r.length), 1)
				}
				h := c.send(tc.r.typ, tc.r.flags, tc.r.off, tc.r.length, payload)
				ch, _ := c.next()
				if ch.handle != h || ch.errno != tc.want {
					t.Fatalf("reply %+v, want errno %d", ch, tc.want)
				}
				if structured && tc.r.typ == cmdRead && ch.typ == simpleType {
					t.Error("simple reply to a read with structured replies")
				}
				if ch.typ != simpleType && (ch.typ != replyError || ch.flags != replyFlagDone) {
					t.Errorf("error chunk %+v", ch)
				}
				// Still usable: a good read follows.
				h = c.send(cmdRead, 0, 0, 512, nil)
				if e, _ := c.reply(h, 0, 512); e != errnoOK {
					t.Errorf("read after error: %v", e)
				}
			})
		}
	}
}

// TestProtocolViolations checks the requests after which the server must drop the
// connection rather than answer.
func TestProtocolViolations(t *testing.T) {
	ex, _ := rawExports()
	ts := startServer(t, ex, func(c *Config) { c.MaxBlockBytes = 64 << 10 })
	t.Run("bad request magic", func(t *testing.T) {
		c := connect(t, ts.tcp, "mem", connectOpts{})
		b := appendRequest(nil, request{typ: cmdRead, handle: 1, length: 512})
		b[3] ^= 1
		c.write(b)
		c.expectClosed()
	})
	t.Run("write payload too large to read", func(t *testing.T) {
		c := connect(t, ts.tcp, "mem", connectOpts{})
		// Header only: the server must not wait for (or allocate) 64 MiB.
		c.write(appendRequest(nil, request{typ: cmdWrite, handle: 1, length: 64 << 20}))
		c.expectClosed()
	})
	t.Run("disc", func(t *testing.T) {
		c := connect(t, ts.tcp, "mem", connectOpts{})
		c.send(cmdDisc, 0, 0, 0, nil)
		c.expectClosed()
	})
}

func TestReadWrite(t *testing.T) {
	ex, mem := rawExports()
	ts := startServer(t, ex, nil)
	for _, structured := range []bool{false, true} {
		c := connect(t, ts.tcp, "mem", connectOpts{structured: structured})
		data := testutil.Payload(200<<10, 7)
		off := uint64(64<<10 + 512)
		h := c.send(cmdWrite, cmdFlagFUA, off, uint32(len(data)), data)
		if e, _ := c.reply(h, 0, 0); e != errnoOK {
			t.Fatalf("write: %v", e)
		}
		h = c.send(cmdRead, 0, off, uint32(len(data)), nil)
		e, got := c.reply(h, off, len(data))
		if e != errnoOK || !bytes.Equal(got, data) {
			t.Fatalf("read back: errno %v, equal %v", e, bytes.Equal(got, data))
		}
		h = c.send(cmdFlush, 0, 0, 0, nil)
		if e, _ := c.reply(h, 0, 0); e != errnoOK {
			t.Fatalf("flush: %v", e)
		}
		h = c.send(cmdRead, 0, 0, 0, nil)
		if e, _ := c.reply(h, 0, 0); e != errnoOK {
			t.Fatalf("zero-length read: %v", e)
		}
	}
	if mem.fuaWrites.Load() != 2 || mem.flushes.Load() != 2 {
		t.Errorf("fua writes %d, flushes %d", mem.fuaWrites.Load(), mem.flushes.Load())
	}
}

// TestStructuredHoles checks that a sparse read is sent as data and hole chunks, and as
// one data chunk when the client asks for no fragmentation.
func TestStructuredHoles(t *testing.T) {
	ex, mem := rawExports()
	ts := startServer(t, ex, nil)
	data := testutil.Payload(memBlock, 3)
	mem.WriteAt(context.Background(), data, memBlock, false) // [64K,128K) data; the rest holes
	c := connect(t, ts.tcp, "mem", connectOpts{structured: true})

	h := c.send(cmdRead, 0, 0, 3*memBlock, nil)
	var kinds []uint16
	got := make([]byte, 3*memBlock)
	for {
		ch, _ := c.next()
		if ch.handle != h {
			t.Fatalf("handle %d", ch.handle)
		}
		kinds = append(kinds, ch.typ)
		switch ch.typ {
		case replyOffsetData:
			copy(got[binary.BigEndian.Uint64(ch.payload):], ch.payload[8:])
		case replyOffsetHole:
			if len(ch.payload) != 12 || binary.BigEndian.Uint32(ch.payload[8:]) != memBlock {
				t.Errorf("hole chunk %x", ch.payload)
			}
		default:
			t.Fatalf("chunk type %d", ch.typ)
		}
		if ch.flags&replyFlagDone != 0 {
			break
		}
	}
	if want := []uint16{replyOffsetHole, replyOffsetData, replyOffsetHole}; !equalU16(kinds, want) {
		t.Errorf("chunks %v, want %v", kinds, want)
	}
	if !bytes.Equal(got[memBlock:2*memBlock], data) || !bytes.Equal(got[:memBlock], make([]byte, memBlock)) {
		t.Error("data mismatch")
	}

	h = c.send(cmdRead, cmdFlagDF, 0, 3*memBlock, nil)
	ch, _ := c.next()
	if ch.typ != replyOffsetData || ch.flags != replyFlagDone || len(ch.payload) != 8+3*memBlock {
		t.Fatalf("DF read: %d-byte chunk type %d flags %d", len(ch.payload), ch.typ, ch.flags)
	}
	if !bytes.Equal(ch.payload[8+memBlock:8+2*memBlock], data) || !bytes.Equal(ch.payload[8:8+memBlock], make([]byte, memBlock)) {
		t.Error("DF data mismatch")
	}
	_ = h
}

func equalU16(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBlockStatus(t *testing.T) {
	ex, mem := rawExports()
	ts := startServer(t, ex, nil)
	mem.WriteAt(context.Background(), []byte{1}, 2*memBlock, false)
	c := connect(t, ts.tcp, "mem", connectOpts{structured: true, meta: true})
	descs := func(flags uint16, off uint64, length uint32) [][2]uint32 {
		t.Helper()
		h := c.send(cmdBlockStatus, flags, off, length, nil)
		ch, _ := c.next()
		if ch.handle != h || ch.typ != replyBlockStatus || ch.flags != replyFlagDone {
			t.Fatalf("reply %+v", ch)
		}
		if id := binary.BigEndian.Uint32(ch.payload); id != baseAllocationID {
			t.Fatalf("context id %d", id)
		}
		var out [][2]uint32
		for p := ch.payload[4:]; len(p) > 0; p = p[8:] {
			out = append(out, [2]uint32{binary.BigEndian.Uint32(p), binary.BigEndian.Uint32(p[4:])})
		}
		return out
	}
	hz := uint32(ExtentHole | ExtentZero)
	got := descs(0, 0, 1<<20)
	want := [][2]uint32{{2 * memBlock, hz}, {memBlock, 0}, {1<<20 - 3*memBlock, hz}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("block status %v, want %v", got, want)
	}
	if got := descs(cmdFlagReqOne, 4096, 1<<20-4096); fmt.Sprint(got) != fmt.Sprint([][2]uint32{{2*memBlock - 4096, hz}}) {
		t.Errorf("REQ_ONE %v", got)
	}
	if got := descs(0, 2*memBlock+512, 1024); fmt.Sprint(got) != fmt.Sprint([][2]uint32{{1024, 0}}) {
		t.Errorf("inside a block %v", got)
	}
	h := c.send(cmdBlockStatus, 0, 1<<20-512, 1024, nil)
	if e, _ := c.reply(h, 0, 0); e != errnoInval {
		t.Errorf("past end: %v", e)
	}

	// An export without BlockStatuser reports everything allocated.
	c = connect(t, ts.tcp, "plain", connectOpts{structured: true, meta: true})
	if got := descs(0, 0, 8192); fmt.Sprint(got) != fmt.Sprint([][2]uint32{{8192, 0}}) {
		t.Errorf("plain export %v", got)
	}
}

func TestTrimZeroCache(t *testing.T) {
	ex, mem := rawExports()
	ts := startServer(t, ex, nil)
	c := connect(t, ts.tcp, "mem", connectOpts{})
	ctx := context.Background()
	mem.WriteAt(ctx, bytes.Repeat([]byte{0xaa}, 4*memBlock), 0, false)
	do := func(typ, flags uint16, off uint64, length uint32) {
		t.Helper()
		h := c.send(typ, flags, off, length, nil)
		if e, _ := c.reply(h, 0, 0); e != errnoOK {
			t.Fatalf("%s: %v", cmdName(typ), e)
		}
	}
	do(cmdTrim, cmdFlagFUA, 0, memBlock)
	do(cmdWriteZeroes, 0, memBlock, memBlock)
	do(cmdWriteZeroes, cmdFlagNoHole|cmdFlagFUA, 2*memBlock, memBlock)
	do(cmdWriteZeroes, cmdFlagFastZero, 3*memBlock, 512)
	do(cmdCache, 0, 0, 1<<20)
	if n := mem.allocated(); n != 2 {
		t.Errorf("allocated blocks %d, want 2 (zeroed without hole, partly zeroed)", n)
	}
	got := mem.bytes()
	want := append(make([]byte, 3*memBlock+512), bytes.Repeat([]byte{0xaa}, memBlock-512)...)
	if !bytes.Equal(got[:4*memBlock], want) {
		t.Error("contents after trim and zero")
	}
	if mem.trims.Load() != 1 || mem.zeroes.Load() != 3 || mem.caches.Load() != 1 {
		t.Errorf("trims %d zeroes %d caches %d", mem.trims.Load(), mem.zeroes.Load(), mem.caches.Load())
	}

	// An export without Zeroer is zeroed by writing.
	c = connect(t, ts.tcp, "writeonly", connectOpts{})
	h := c.send(cmdWrite, 0, 0, 8192, bytes.Repeat([]byte{1}, 8192))
	c.reply(h, 0, 0)
	h = c.send(cmdWriteZeroes, 0, 0, 8192, nil)
	if e, _ := c.reply(h, 0, 0); e != errnoOK {
		t.Fatalf("zero by writing: %v", e)
	}
	h = c.send(cmdRead, 0, 0, 8192, nil)
	if _, got := c.reply(h, 0, 8192); !bytes.Equal(got, make([]byte, 8192)) {
		t.Error("not zeroed")
	}
}

// failingExport fails reads that reach failFrom, as a disk with a bad sector would.
type failingExport struct {
	m        *memExport
	failFrom uint64
}

func (f failingExport) Size() uint64 { return f.m.Size() }
func (f failingExport) ReadAt(ctx context.Context, p []byte, off uint64) error {
	if off+uint64(len(p)) > f.failFrom {
		return errors.New("injected read error")
	}
	return f.m.ReadAt(ctx, p, off)
}

// TestStreamedRead: a read longer than two pieces goes out as pieces, holes as holes,
// then a final NONE chunk; an error after some pieces ends the reply with an error chunk.
func TestStreamedRead(t *testing.T) {
	mem := newMemExport(64 << 20)
	data := testutil.Payload(20<<20, 11)
	mem.WriteAt(context.Background(), data, 0, false)
	mem.Trim(context.Background(), 8<<20, 4<<20, false) // a hole: pieces 3 and 4 of 5 differ
	copy(data[8<<20:12<<20], make([]byte, 4<<20))
	var ex staticExports
	ex.add("mem", mem, ExportInfo{})
	ex.add("failing", failingExport{m: mem, failFrom: 13 << 20}, ExportInfo{})
	ts := startServer(t, &ex, nil)

	c := connect(t, ts.tcp, "mem", connectOpts{structured: true})
	h := c.send(cmdRead, 0, 0, 20<<20, nil)
	got := make([]byte, 20<<20)
	var kinds []uint16
	for {
		ch, _ := c.next()
		if ch.handle != h {
			t.Fatalf("handle %d", ch.handle)
		}
		kinds = append(kinds, ch.typ)
		if ch.typ == replyOffsetData {
			copy(got[binary.BigEndian.Uint64(ch.payload):], ch.payload[8:])
		}
		if ch.flags&replyFlagDone != 0 {
			break
		}
	}
	want := []uint16{replyOffsetData, replyOffsetData, replyOffsetHole, replyOffsetData, replyOffsetData, replyNone}
	if !equalU16(kinds, want) {
		t.Errorf("chunks %v, want %v", kinds, want)
	}
	if !bytes.Equal(got, data) {
		t.Error("streamed data differs")
	}

	c = connect(t, ts.tcp, "failing", connectOpts{structured: true})
	h = c.send(cmdRead, 0, 0, 20<<20, nil)
	if e, _ := c.reply(h, 0, 20<<20); e != errnoIO {
		t.Fatalf("failing streamed read: %v, want EIO", e)
	}
	h = c.send(cmdRead, 0, 0, 4096, nil)
	if e, _ := c.reply(h, 0, 4096); e != errnoOK {
		t.Fatalf("read after: %v", e)
	}
}
