package objectd

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"stratus/internal/faultfs"
	"stratus/internal/pki"
	"stratus/objectd/client"
)

const testChunk = ".vol/vol-00000000000000aa/0000000000000000"

const bs = client.ChunkBlockSize

// blockData is the content a test writes to block i of a chunk at sequence seq, so that a
// reader can tell which write it sees.
func blockData(name string, block int, seq uint64) []byte {
	h := uint64(block)*0x9e3779b97f4a7c15 ^ seq*0xbf58476d1ce4e5b9
	for _, c := range []byte(name) {
		h = h*31 + uint64(c)
	}
	return payload(bs, h)
}

// blocksData is blockData for n blocks from block first.
func blocksData(name string, first, n int, seq uint64) []byte {
	var out []byte
	for i := range n {
		out = append(out, blockData(name, first+i, seq)...)
	}
	return out
}

func mustWriteChunk(t testing.TB, n *testNode, tg client.Target, w client.ChunkWrite, data []byte) client.ChunkResult {
	t.Helper()
	res, err := n.cl.WriteChunk(ctxT(t), tg, w, data)
	if err != nil {
		t.Fatalf("write %q at %d, generation %d, sequence %d: %v", w.Name, w.Offset, w.Generation, w.Sequence, err)
	}
	return res
}

func readChunk(t testing.TB, n *testNode, tg client.Target, name string, off int64, length int) ([]byte, client.ChunkRead, error) {
	t.Helper()
	buf := make([]byte, length)
	info, err := n.cl.ReadChunk(ctxT(t), tg, name, off, buf)
	return buf, info, err
}

func mustReadChunk(t testing.TB, n *testNode, tg client.Target, name string, off int64, length int) ([]byte, client.ChunkRead) {
	t.Helper()
	b, info, err := readChunk(t, n, tg, name, off, length)
	if err != nil {
		t.Fatalf("read %q at %d+%d: %v", name, off, length, err)
	}
	return b, info
}

func chunkFile(n *testNode, dev string, part uint32, name string) string {
	return chunkFilePath(filepath.Join(n.dir, dev), part, nameHash(name))
}

func TestChunkWriteRead(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, nil)
	tg := n.target("d1", 5)

	if _, _, err := readChunk(t, n, tg, testChunk, 0, bs); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("read of a chunk never written: %v, want ErrNotFound", err)
	}
	res := mustWriteChunk(t, n, tg, client.ChunkWrite{Name: testChunk, Offset: 3 * bs, Generation: 1, Sequence: 10},
		blocksData(testChunk, 3, 2, 10))
	if res.Version != 10 || res.Skipped != 0 || len(res.Epoch) != 16 {
		t.Fatalf("write result %+v", res)
	}
	got, info := mustReadChunk(t, n, tg, testChunk, 0, 8*bs)
	want := append(make([]byte, 3*bs), blocksData(testChunk, 3, 2, 10)...)
	want = append(want, make([]byte, 3*bs)...)
	if !bytes.Equal(got, want) || info.Version != 10 || info.Epoch != res.Epoch {
		t.Fatalf("read back: equal %v, %+v", bytes.Equal(got, want), info)
	}
	// The last block of the chunk.
	last := int64(client.DefaultChunkSize - bs)
	mustWriteChunk(t, n, tg, client.ChunkWrite{Name: testChunk, Offset: last, Generation: 1, Sequence: 11}, blockData(testChunk, 1023, 11))
	if got, _ := mustReadChunk(t, n, tg, testChunk, last, bs); !bytes.Equal(got, blockData(testChunk, 1023, 11)) {
		t.Fatal("last block does not read back")
	}
	if st, err := os.Stat(chunkFile(n, "d1", 5, testChunk)); err != nil || st.Size() != chunkDataOffset(client.DefaultChunkSize)+client.DefaultChunkSize {
		t.Fatalf("chunk file: %v, %v", st, err)
	}

	bad := []struct {
		name string
		w    client.ChunkWrite
		len  int
		want error
	}{
		{"misaligned offset", client.ChunkWrite{Name: testChunk, Offset: 512, Generation: 1, Sequence: 12}, bs, client.ErrMisaligned},
		{"misaligned length", client.ChunkWrite{Name: testChunk, Offset: 0, Generation: 1, Sequence: 12}, bs + 1, client.ErrMisaligned},
		{"past the end", client.ChunkWrite{Name: testChunk, Offset: last, Generation: 1, Sequence: 12}, 2 * bs, client.ErrRange},
		{"sequence 0", client.ChunkWrite{Name: testChunk, Generation: 1}, bs, client.ErrInvalid},
		{"generation 0", client.ChunkWrite{Name: testChunk, Sequence: 12}, bs, client.ErrInvalid},
		{"other chunk size", client.ChunkWrite{Name: testChunk, Generation: 1, Sequence: 12, ChunkSize: 8 << 20}, bs, client.ErrInvalid},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := n.cl.WriteChunk(ctxT(t), tg, tc.w, make([]byte, tc.len)); !errors.Is(err, tc.want) {
				t.Fatalf("%v, want %v", err, tc.want)
			}
		})
	}
	// The node checks too, whatever a client sends.
	raw := []struct {
		name   string
		header map[string]string
		body   []byte
		code   string
	}{
		{"misaligned", map[string]string{client.HeaderChunkOffset: "100"}, make([]byte, bs), "misaligned"},
		{"bad checksum", map[string]string{client.HeaderChecksum: client.ChecksumOf([]byte("x")).String()}, make([]byte, bs), "checksum"},
		{"no sequence", map[string]string{client.HeaderChunkSequence: ""}, make([]byte, bs), "invalid"},
		{"sequence 0", map[string]string{client.HeaderChunkSequence: "0"}, make([]byte, bs), "invalid"},
		{"chunk size not a block multiple", map[string]string{client.HeaderChunkSize: "5000"}, make([]byte, bs), "misaligned"},
		{"body too long", nil, make([]byte, client.DefaultChunkSize+bs), "range"},
	}
	hc := &http.Client{}
	t.Cleanup(hc.CloseIdleConnections)
	for _, tc := range raw {
		t.Run("raw/"+tc.name, func(t *testing.T) {
			h := http.Header{}
			h.Set(client.HeaderChunkOffset, "0")
			h.Set(client.HeaderChunkGeneration, "1")
			h.Set(client.HeaderChunkSequence, "99")
			for k, v := range tc.header {
				h.Set(k, v)
			}
			resp, msg := call(t, hc, "PUT", "http://"+n.addr+"/v1/chunk/d1/5/"+client.EncodeName(testChunk), h, tc.body)
			if resp.Header.Get(client.HeaderError) != tc.code {
				t.Fatalf("%d %s: %s, want code %s", resp.StatusCode, resp.Header.Get(client.HeaderError), msg, tc.code)
			}
		})
	}
	if _, info := mustReadChunk(t, n, tg, testChunk, 0, bs); info.Version != 11 {
		t.Fatalf("version after refused writes: %d, want 11", info.Version)
	}
	if _, _, err := readChunk(t, n, tg, testChunk, bs/2, bs); !errors.Is(err, client.ErrMisaligned) {
		t.Fatalf("misaligned read: %v", err)
	}
	if _, _, err := readChunk(t, n, tg, testChunk, last, 2*bs); !errors.Is(err, client.ErrRange) {
		t.Fatalf("read past the end: %v", err)
	}
}

// TestChunkSequences checks that a write never undoes a newer one: blocks held at a newer
// sequence are skipped, an equal sequence rewrites (a retry), and the version is the
// highest sequence applied.
func TestChunkSequences(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, nil)
	tg := n.target("d1", 5)
	w := func(off int64, nblk int, seq uint64) client.ChunkResult {
		return mustWriteChunk(t, n, tg, client.ChunkWrite{Name: testChunk, Offset: off, Generation: 1, Sequence: seq},
			blocksData(testChunk, int(off/bs), nblk, seq))
	}
	w(bs, 1, 10)
	// A late write of blocks 0..2 at 5: only blocks 0 and 2 take it.
	if res := w(0, 3, 5); res.Skipped != 1 || res.Version != 10 {
		t.Fatalf("late write: %+v, want 1 skipped, version 10", res)
	}
	got, _ := mustReadChunk(t, n, tg, testChunk, 0, 3*bs)
	want := slices.Concat(blockData(testChunk, 0, 5), blockData(testChunk, 1, 10), blockData(testChunk, 2, 5))
	if !bytes.Equal(got, want) {
		t.Fatal("a late write changed a newer block")
	}
	// The retry of write 10 is applied again (same content), and nothing is skipped.
	if res := w(bs, 1, 10); res.Skipped != 0 || res.Version != 10 {
		t.Fatalf("retry: %+v", res)
	}
	m, err := n.cl.ChunkMeta(ctxT(t), tg, testChunk, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantBlocks := []client.ChunkBlockMeta{
		{OffsetBytes: 0, Sequence: 5, CRC32C: uint32(client.ChecksumOf(blockData(testChunk, 0, 5)))},
		{OffsetBytes: bs, Sequence: 10, CRC32C: uint32(client.ChecksumOf(blockData(testChunk, 1, 10)))},
		{OffsetBytes: 2 * bs, Sequence: 5, CRC32C: uint32(client.ChecksumOf(blockData(testChunk, 2, 5)))},
	}
	if m.Name != testChunk || m.Version != 10 || m.Generation != 1 || m.ChunkSizeBytes != client.DefaultChunkSize ||
		m.BlockSizeBytes != bs || m.FormatVersion != 1 || !slices.Equal(m.Blocks, wantBlocks) {
		t.Fatalf("meta %+v", m)
	}
	if m, _ := n.cl.ChunkMeta(ctxT(t), tg, testChunk, 5); len(m.Blocks) != 1 || m.Blocks[0].OffsetBytes != bs {
		t.Fatalf("meta since 5: %+v", m.Blocks)
	}
	if _, err := n.cl.ChunkMeta(ctxT(t), tg, "never", 0); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("meta of a missing chunk: %v", err)
	}
}

// TestChunkFencing checks that a change from an older generation is refused with nothing
// written, and that a newer generation raises the fence durably: across a restart, and
// across a power cut right after the write that raised it, with no flush.
func TestChunkFencing(t *testing.T) {
	var cfs *crashFS
	ln := listen(t)
	addr := ln.Addr().String()
	n := startNode(t, ln, []string{"d1"}, func(c *Config) {
		cfs = newCrashFS(t, c.DevicesDir, true)
		c.FS = cfs
	})
	tg := n.target("d1", 5)
	mustWriteChunk(t, n, tg, client.ChunkWrite{Name: testChunk, Generation: 2, Sequence: 1}, blockData(testChunk, 0, 1))
	path := chunkFile(n, "d1", 5, testChunk)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var se *client.StatusError
	_, err = n.cl.WriteChunk(ctxT(t), tg, client.ChunkWrite{Name: testChunk, Offset: bs, Generation: 1, Sequence: 2}, blockData(testChunk, 1, 2))
	if !errors.Is(err, client.ErrFenced) || !errors.As(err, &se) || se.Generation != 2 || se.Status != http.StatusConflict {
		t.Fatalf("older generation: %v, want 409 ErrFenced with fence 2", err)
	}
	for name, call := range map[string]func() error{
		"zero": func() error {
			_, err := n.cl.ZeroChunk(ctxT(t), tg, client.ChunkZero{Name: testChunk, Length: bs, Generation: 1, Sequence: 3})
			return err
		},
		"repair": func() error {
			_, err := n.cl.RepairChunk(ctxT(t), tg, client.ChunkRepair{Name: testChunk, Generation: 1},
				[]client.ChunkBlock{{Offset: 0, Sequence: 9, Data: blockData(testChunk, 0, 9)}})
			return err
		},
		"delete": func() error { return n.cl.DeleteChunk(ctxT(t), tg, testChunk, 1) },
	} {
		if err := call(); !errors.Is(err, client.ErrFenced) {
			t.Fatalf("%s with an older generation: %v, want ErrFenced", name, err)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
		t.Fatal("fenced calls changed the chunk file")
	}

	// Generation 3 raises the fence; no flush follows. The power goes at once.
	mustWriteChunk(t, n, tg, client.ChunkWrite{Name: testChunk, Offset: bs, Generation: 3, Sequence: 4}, blockData(testChunk, 1, 4))
	img := t.TempDir()
	cfs.image(t, img)
	n.stop()

	r := startNode(t, nil, nil, func(c *Config) { c.DevicesDir = img })
	if _, err := r.cl.WriteChunk(ctxT(t), r.target("d1", 5), client.ChunkWrite{Name: testChunk, Generation: 2, Sequence: 5},
		blockData(testChunk, 0, 5)); !errors.Is(err, client.ErrFenced) {
		t.Fatalf("after a power cut, generation 2: %v, want ErrFenced", err)
	}
	// And on the original disk, after a clean restart.
	n2 := startNode(t, listenOn(t, addr), nil, func(c *Config) { c.DevicesDir = n.dir })
	if _, err := n2.cl.WriteChunk(ctxT(t), tg, client.ChunkWrite{Name: testChunk, Generation: 2, Sequence: 5},
		blockData(testChunk, 0, 5)); !errors.Is(err, client.ErrFenced) {
		t.Fatalf("after a restart, generation 2: %v, want ErrFenced", err)
	}
	if m, err := n2.cl.ChunkMeta(ctxT(t), tg, testChunk, 0); err != nil || m.Generation != 3 || m.Version != 4 {
		t.Fatalf("after restart: %+v, %v; want generation 3, version 4", m, err)
	}
}

// writeLog is a file system that records every WriteAt, to see what a write touches. If
// onSync is set, every Sync calls it first.
type writeLog struct {
	faultfs.FS
	mu     sync.Mutex
	writes []fileWrite
	onSync func()
}

type fileWrite struct {
	off, n int64
}

func (w *writeLog) OpenFile(name string, flag int, perm fs.FileMode) (faultfs.File, error) {
	f, err := w.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &loggedFile{File: f, log: w}, nil
}

func (w *writeLog) take() []fileWrite {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.writes
	w.writes = nil
	return out
}

type loggedFile struct {
	faultfs.File
	log *writeLog
}

func (f *loggedFile) Sync() error {
	f.log.mu.Lock()
	hook := f.log.onSync
	f.log.mu.Unlock()
	if hook != nil {
		hook()
	}
	return f.File.Sync()
}

func (f *loggedFile) WriteAt(p []byte, off int64) (int, error) {
	f.log.mu.Lock()
	f.log.writes = append(f.log.writes, fileWrite{off, int64(len(p))})
	f.log.mu.Unlock()
	return f.File.WriteAt(p, off)
}

// TestChunkSubChunkWrite checks that a write touches its own blocks and their table entries,
// nothing else, and that a fence raise writes the header to the slot that does not hold the
// newest durable header, alternating, each fsynced before the change goes on.
func TestChunkSubChunkWrite(t *testing.T) {
	wl := &writeLog{FS: faultfs.OS}
	n := startNode(t, nil, []string{"d1"}, func(c *Config) { c.FS = wl })
	tg := n.target("d1", 5)
	mustWriteChunk(t, n, tg, client.ChunkWrite{Name: testChunk, Offset: 0, Generation: 1, Sequence: 1}, blockData(testChunk, 0, 1))
	wl.take()
	dataOff := chunkDataOffset(client.DefaultChunkSize)
	mustWriteChunk(t, n, tg, client.ChunkWrite{Name: testChunk, Offset: 700 * bs, Generation: 1, Sequence: 2}, blocksData(testChunk, 700, 2, 2))
	got := wl.take()
	want := []fileWrite{
		{dataOff + 700*bs, 2 * bs},                                 // the data
		{chunkHeaderSize + 700*chunkEntrySize, 2 * chunkEntrySize}, // its table entries
	}
	if !slices.Equal(got, want) {
		t.Fatalf("a two-block write wrote %v, want %v", got, want)
	}

	// Creation wrote slot 0; each fence raise writes the other slot, then fsyncs, then the
	// change. Syncs are counted to see the header's.
	var syncs atomic.Int32
	wl.mu.Lock()
	wl.onSync = func() { syncs.Add(1) }
	wl.mu.Unlock()
	for i, wantSlot := range []int64{1, 0, 1} {
		gen := uint64(2 + i)
		before := syncs.Load()
		mustWriteChunk(t, n, tg, client.ChunkWrite{Name: testChunk, Offset: 3 * bs, Generation: gen, Sequence: gen<<32 | 1}, blockData(testChunk, 3, gen<<32|1))
		got := wl.take()
		want := []fileWrite{{wantSlot * chunkSlotSize, chunkSlotSize}, {dataOff + 3*bs, bs}, {chunkHeaderSize + 3*chunkEntrySize, chunkEntrySize}}
		if !slices.Equal(got, want) {
			t.Fatalf("generation %d wrote %v, want %v (header in slot %d)", gen, got, want, wantSlot)
		}
		if syncs.Load() == before {
			t.Fatalf("generation %d: the raised fence was not fsynced before the change", gen)
		}
	}
}

// TestChunkSparse checks on the real file system that a chunk holds only what was written:
// a new chunk is its header and table, a block written adds a block, a zeroed range gives
// its space back.
func TestChunkSparse(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, func(c *Config) { c.FS = nil })
	tg := n.target("d1", 5)
	path := chunkFile(n, "d1", 5, testChunk)
	alloc := func() int64 {
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err != nil {
			t.Fatal(err)
		}
		return st.Blocks * 512
	}
	dataOff := chunkDataOffset(client.DefaultChunkSize)
	mustWriteChunk(t, n, tg, client.ChunkWrite{Name: testChunk, Offset: 512 * bs, Generation: 1, Sequence: 1}, blockData(testChunk, 512, 1))
	a1 := alloc()
	if a1 > dataOff+2*bs {
		t.Fatalf("a chunk with one block allocates %d bytes; header and table are %d", a1, dataOff)
	}
	mustWriteChunk(t, n, tg, client.ChunkWrite{Name: testChunk, Offset: 1000 * bs, Generation: 1, Sequence: 2}, blocksData(testChunk, 1000, 4, 2))
	a2 := alloc()
	if a2-a1 > 5*bs || a2-a1 < 4*bs {
		t.Fatalf("four more blocks allocated %d bytes", a2-a1)
	}
	if _, err := n.cl.ZeroChunk(ctxT(t), tg, client.ChunkZero{Name: testChunk, Offset: 1000 * bs, Length: 4 * bs, Generation: 1, Sequence: 3}); err != nil {
		t.Fatal(err)
	}
	if a3 := alloc(); a3 > a1+bs {
		t.Logf("zeroing 4 blocks left %d bytes allocated (was %d before they were written): this file system punches no holes", a3, a1)
	}
	if got, _ := mustReadChunk(t, n, tg, testChunk, 1000*bs, 4*bs); !bytes.Equal(got, make([]byte, 4*bs)) {
		t.Fatal("zeroed blocks do not read as zeros")
	}
}

// TestChunkZero checks zeroing (trim): the blocks read as zeros at the new sequence, a
// late zero does not undo a newer write, and zeroing a chunk the node lacks creates none.
func TestChunkZero(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, nil)
	tg := n.target("d1", 5)
	mustWriteChunk(t, n, tg, client.ChunkWrite{Name: testChunk, Generation: 1, Sequence: 1}, blocksData(testChunk, 0, 4, 1))
	mustWriteChunk(t, n, tg, client.ChunkWrite{Name: testChunk, Offset: 3 * bs, Generation: 1, Sequence: 5}, blockData(testChunk, 3, 5))
	res, err := n.cl.TrimChunk(ctxT(t), tg, client.ChunkZero{Name: testChunk, Offset: bs, Length: 3 * bs, Generation: 1, Sequence: 4})
	if err != nil || res.Skipped != 1 || res.Version != 5 {
		t.Fatalf("trim: %+v, %v; want 1 skipped, version 5", res, err)
	}
	got, _ := mustReadChunk(t, n, tg, testChunk, 0, 4*bs)
	want := slices.Concat(blockData(testChunk, 0, 1), make([]byte, 2*bs), blockData(testChunk, 3, 5))
	if !bytes.Equal(got, want) {
		t.Fatal("after trim: wrong content")
	}
	m, err := n.cl.ChunkMeta(ctxT(t), tg, testChunk, 1)
	if err != nil {
		t.Fatal(err)
	}
	wantMeta := []client.ChunkBlockMeta{{OffsetBytes: bs, Sequence: 4, Zero: true}, {OffsetBytes: 2 * bs, Sequence: 4, Zero: true},
		{OffsetBytes: 3 * bs, Sequence: 5, CRC32C: uint32(client.ChecksumOf(blockData(testChunk, 3, 5)))}}
	if !slices.Equal(m.Blocks, wantMeta) {
		t.Fatalf("meta after trim: %+v", m.Blocks)
	}
	// A write at a newer sequence brings a zeroed block back.
	mustWriteChunk(t, n, tg, client.ChunkWrite{Name: testChunk, Offset: bs, Generation: 1, Sequence: 6}, blockData(testChunk, 1, 6))
	if got, _ := mustReadChunk(t, n, tg, testChunk, bs, bs); !bytes.Equal(got, blockData(testChunk, 1, 6)) {
		t.Fatal("write after trim does not read back")
	}
	res, err = n.cl.ZeroChunk(ctxT(t), tg, client.ChunkZero{Name: "never", Length: client.DefaultChunkSize, Generation: 1, Sequence: 1, FUA: true})
	if err != nil || res.Version != 0 {
		t.Fatalf("zero of a missing chunk: %+v, %v", res, err)
	}
	if _, err := os.Stat(chunkFile(n, "d1", 5, "never")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("zeroing a missing chunk created it: %v", err)
	}
}

// corruptAt overwrites n bytes of a file at off with junk, as a disk might.
func corruptAt(t *testing.T, path string, off int64, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, n), off); err != nil {
		t.Fatal(err)
	}
}

// TestChunkTorn damages one block on disk: a read that covers it is refused with its
// offset and nothing served, reads of other blocks go on, and a repair from a good replica
// mends it. A damaged block table entry reads as torn too.
func TestChunkTorn(t *testing.T) {
	a := startNode(t, nil, []string{"d1"}, nil)
	b := startNode(t, nil, []string{"d1"}, nil)
	ta, tb := a.target("d1", 5), b.target("d1", 5)
	for _, nd := range []*testNode{a, b} {
		mustWriteChunk(t, nd, nd.target("d1", 5), client.ChunkWrite{Name: testChunk, Offset: 8 * bs, Generation: 1, Sequence: 7},
			blocksData(testChunk, 8, 3, 7))
	}
	path := chunkFile(a, "d1", 5, testChunk)
	corruptAt(t, path, chunkDataOffset(client.DefaultChunkSize)+9*bs+100, 10)

	var se *client.StatusError
	_, _, err := readChunk(t, a, ta, testChunk, 0, 16*bs)
	if !errors.Is(err, client.ErrTorn) || !errors.As(err, &se) || se.TornOffset != 9*bs {
		t.Fatalf("read over the torn block: %v, want ErrTorn at %d", err, 9*bs)
	}
	for _, blk := range []int{8, 10} {
		if got, _ := mustReadChunk(t, a, ta, testChunk, int64(blk)*bs, bs); !bytes.Equal(got, blockData(testChunk, blk, 7)) {
			t.Fatalf("block %d beside the torn one: wrong content", blk)
		}
	}
	if _, _, err := a.cl.ReadChunkBlocks(ctxT(t), ta, testChunk, 0, 0, 0); !errors.Is(err, client.ErrTorn) {
		t.Fatalf("blocks of a torn chunk: %v, want ErrTorn", err)
	}

	// Repair: copy the block, with its sequence, from the good replica.
	blocks, info, err := b.cl.ReadChunkBlocks(ctxT(t), tb, testChunk, 9*bs, bs, 0)
	if err != nil || len(blocks) != 1 || blocks[0].Sequence != 7 || info.Version != 7 {
		t.Fatalf("blocks from the good replica: %+v, %+v, %v", blocks, info, err)
	}
	if res, err := a.cl.RepairChunk(ctxT(t), ta, client.ChunkRepair{Name: testChunk, Generation: 1}, blocks); err != nil || res.Skipped != 0 {
		t.Fatalf("repair: %+v, %v", res, err)
	}
	if got, _ := mustReadChunk(t, a, ta, testChunk, 8*bs, 3*bs); !bytes.Equal(got, blocksData(testChunk, 8, 3, 7)) {
		t.Fatal("repaired chunk: wrong content")
	}

	// A block table entry damaged on disk: seen when the file is next opened.
	a.stop()
	corruptAt(t, path, chunkHeaderSize+10*chunkEntrySize+2, 1)
	a2 := startNode(t, nil, nil, func(c *Config) { c.DevicesDir = a.dir })
	ta2 := a2.target("d1", 5)
	if _, _, err := readChunk(t, a2, ta2, testChunk, 10*bs, bs); !errors.As(err, &se) || !errors.Is(err, client.ErrTorn) || se.TornOffset != 10*bs {
		t.Fatalf("read of a block with a damaged entry: %v", err)
	}
	m, err := a2.cl.ChunkMeta(ctxT(t), ta2, testChunk, 100)
	if err != nil || len(m.Blocks) != 1 || !m.Blocks[0].Damaged || m.Blocks[0].OffsetBytes != 10*bs {
		t.Fatalf("meta lists the damaged entry: %+v, %v", m.Blocks, err)
	}
	blocks, _, err = b.cl.ReadChunkBlocks(ctxT(t), tb, testChunk, 10*bs, bs, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a2.cl.RepairChunk(ctxT(t), ta2, client.ChunkRepair{Name: testChunk, Generation: 1}, blocks); err != nil {
		t.Fatal(err)
	}
	if got, _ := mustReadChunk(t, a2, ta2, testChunk, 10*bs, bs); !bytes.Equal(got, blockData(testChunk, 10, 7)) {
		t.Fatal("block with a damaged entry not repaired")
	}

	// Both header slots damaged: the chunk is refused as corrupt, and can be deleted.
	a2.stop()
	corruptAt(t, path, 100, 1)
	corruptAt(t, path, chunkSlotSize+100, 1)
	a3 := startNode(t, nil, nil, func(c *Config) { c.DevicesDir = a.dir })
	ta3 := a3.target("d1", 5)
	if _, _, err := readChunk(t, a3, ta3, testChunk, 0, bs); !errors.Is(err, client.ErrCorrupt) {
		t.Fatalf("read of a chunk whose header is damaged: %v, want ErrCorrupt", err)
	}
	if err := a3.cl.DeleteChunk(ctxT(t), ta3, testChunk, 1); err != nil {
		t.Fatalf("delete of a chunk whose header is damaged: %v", err)
	}
	if _, _, err := readChunk(t, a3, ta3, testChunk, 0, bs); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("read after delete: %v", err)
	}
}

// TestChunkRepair brings a replica that missed writes up to date with the blocks newer
// than its version, and checks that a repair never lowers a block.
func TestChunkRepair(t *testing.T) {
	src := startNode(t, nil, []string{"d1"}, nil)
	dst := startNode(t, nil, []string{"d1"}, nil)
	ts, td := src.target("d1", 5), dst.target("d1", 5)
	both := func(off int64, nblk int, seq uint64) {
		for _, nd := range []*testNode{src, dst} {
			mustWriteChunk(t, nd, nd.target("d1", 5), client.ChunkWrite{Name: testChunk, Offset: off, Generation: 1, Sequence: seq},
				blocksData(testChunk, int(off/bs), nblk, seq))
		}
	}
	both(0, 4, 1)
	// dst misses three changes; one of its blocks is newer than what src will send.
	mustWriteChunk(t, src, ts, client.ChunkWrite{Name: testChunk, Offset: bs, Generation: 1, Sequence: 2}, blocksData(testChunk, 1, 2, 2))
	if _, err := src.cl.ZeroChunk(ctxT(t), ts, client.ChunkZero{Name: testChunk, Offset: 3 * bs, Length: bs, Generation: 1, Sequence: 3}); err != nil {
		t.Fatal(err)
	}
	mustWriteChunk(t, src, ts, client.ChunkWrite{Name: testChunk, Offset: 100 * bs, Generation: 1, Sequence: 4}, blockData(testChunk, 100, 4))
	both(2*bs, 1, 5)

	behind, err := dst.cl.ChunkMeta(ctxT(t), td, testChunk, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The source's blocks newer than dst's version before it missed anything (1).
	blocks, _, err := src.cl.ReadChunkBlocks(ctxT(t), ts, testChunk, 0, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	for _, b := range blocks {
		offs = append(offs, b.Offset)
	}
	if !slices.Equal(offs, []int64{bs, 2 * bs, 3 * bs, 100 * bs}) || !blocks[2].Zero || blocks[1].Sequence != 5 {
		t.Fatalf("blocks newer than 1 at %v, want blocks 1 (2), 2 (5), 3 (zero at 3) and 100 (4)", offs)
	}
	// Make dst's block 2 newer still: the repair must not lower it.
	mustWriteChunk(t, dst, td, client.ChunkWrite{Name: testChunk, Offset: 2 * bs, Generation: 1, Sequence: 6}, blockData(testChunk, 2, 6))
	res, err := dst.cl.RepairChunk(ctxT(t), td, client.ChunkRepair{Name: testChunk, Generation: 1, FUA: true}, blocks)
	if err != nil || res.Skipped != 1 || res.Version != 6 {
		t.Fatalf("repair: %+v, %v; want 1 skipped, version 6", res, err)
	}
	got, _ := mustReadChunk(t, dst, td, testChunk, 0, 101*bs)
	want := slices.Concat(blockData(testChunk, 0, 1), blocksData(testChunk, 1, 1, 2), blockData(testChunk, 2, 6), make([]byte, 97*bs), blockData(testChunk, 100, 4))
	if !bytes.Equal(got, want) {
		t.Fatalf("repaired replica: wrong content (was at version %d)", behind.Version)
	}
	// Repair creates a chunk the replica lacks.
	other := startNode(t, nil, []string{"d1"}, nil)
	all, _, err := src.cl.ReadChunkBlocks(ctxT(t), ts, testChunk, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.cl.RepairChunk(ctxT(t), other.target("d1", 5), client.ChunkRepair{Name: testChunk, Generation: 1}, all); err != nil {
		t.Fatal(err)
	}
	ms, _ := src.cl.ChunkMeta(ctxT(t), ts, testChunk, 0)
	mo, _ := other.cl.ChunkMeta(ctxT(t), other.target("d1", 5), testChunk, 0)
	if !slices.Equal(ms.Blocks, mo.Blocks) || ms.Version != mo.Version {
		t.Fatalf("copied chunk's table differs:\n%+v\n%+v", ms.Blocks, mo.Blocks)
	}
	// Offsets must increase.
	if _, err := dst.cl.RepairChunk(ctxT(t), td, client.ChunkRepair{Name: testChunk, Generation: 1},
		[]client.ChunkBlock{blocks[1], blocks[0]}); !errors.Is(err, client.ErrInvalid) {
		t.Fatalf("blocks out of order: %v", err)
	}
}

func TestChunkDelete(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, nil)
	tg := n.target("d1", 5)
	mustWriteChunk(t, n, tg, client.ChunkWrite{Name: testChunk, Generation: 4, Sequence: 1}, blockData(testChunk, 0, 1))
	if err := n.cl.DeleteChunk(ctxT(t), tg, testChunk, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(chunkFile(n, "d1", 5, testChunk)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("chunk file after delete: %v", err)
	}
	if _, _, err := readChunk(t, n, tg, testChunk, 0, bs); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("read after delete: %v", err)
	}
	if err := n.cl.DeleteChunk(ctxT(t), tg, testChunk, 4); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := n.cl.FlushChunks(ctxT(t), tg, []client.ChunkRef{{Partition: 5, Name: testChunk}}); err != nil {
		t.Fatalf("flush of a deleted chunk: %v", err)
	}
	// The tombstone keeps the delete's fence: a writer of that generation or older cannot
	// bring the chunk back.
	tomb := tombPathOf(chunkFile(n, "d1", 5, testChunk))
	if _, err := os.Stat(tomb); err != nil {
		t.Fatalf("tombstone after delete: %v", err)
	}
	for _, gen := range []uint64{1, 4} {
		_, err := n.cl.WriteChunk(ctxT(t), tg, client.ChunkWrite{Name: testChunk, Generation: gen, Sequence: 9}, blockData(testChunk, 0, 9))
		var se *client.StatusError
		if !errors.Is(err, client.ErrFenced) || !errors.As(err, &se) || se.Generation != 4 {
			t.Fatalf("write at generation %d after a delete at 4: %v, want ErrFenced with fence 4", gen, err)
		}
	}
	// Written again by a newer generation, it is a new chunk, and the tombstone goes.
	res := mustWriteChunk(t, n, tg, client.ChunkWrite{Name: testChunk, Generation: 5, Sequence: 1}, blockData(testChunk, 0, 1))
	if res.Version != 1 {
		t.Fatalf("recreated chunk: %+v", res)
	}
	if _, err := os.Stat(tomb); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("tombstone after the chunk was written anew: %v", err)
	}
}

// TestChunkFlushFailure makes an fsync fail: the flush reports it, and so does every later
// flush or write of that chunk, since the kernel may have dropped the writes it held.
func TestChunkFlushFailure(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, nil)
	tg := n.target("d1", 5)
	refs := []client.ChunkRef{{Partition: 5, Name: testChunk}, {Partition: 5, Name: "other"}}
	mustWriteChunk(t, n, tg, client.ChunkWrite{Name: testChunk, Generation: 1, Sequence: 1}, blockData(testChunk, 0, 1))
	mustWriteChunk(t, n, tg, client.ChunkWrite{Name: "other", Generation: 1, Sequence: 1}, blockData("other", 0, 1))
	if res, err := n.cl.FlushChunks(ctxT(t), tg, refs); err != nil || res.Synced != 2 {
		t.Fatalf("flush: %+v, %v", res, err)
	}
	if res, err := n.cl.FlushChunks(ctxT(t), tg, refs); err != nil || res.Synced != 0 {
		t.Fatalf("flush with nothing written since: %+v, %v", res, err)
	}
	mustWriteChunk(t, n, tg, client.ChunkWrite{Name: testChunk, Offset: bs, Generation: 1, Sequence: 2}, blockData(testChunk, 1, 2))
	n.fs.Set(faultfs.Rule{Op: faultfs.OpSync, PathContains: ".chunk", Err: syscall.EIO})
	if _, err := n.cl.FlushChunks(ctxT(t), tg, refs); !errors.Is(err, client.ErrInternal) {
		t.Fatalf("flush with a failing fsync: %v, want ErrInternal", err)
	}
	n.fs.Set()
	if _, err := n.cl.FlushChunks(ctxT(t), tg, refs); !errors.Is(err, client.ErrInternal) {
		t.Fatalf("flush after a failed fsync: %v, want ErrInternal", err)
	}
	if _, err := n.cl.WriteChunk(ctxT(t), tg, client.ChunkWrite{Name: testChunk, Offset: bs, Generation: 1, Sequence: 3}, blockData(testChunk, 1, 3)); !errors.Is(err, client.ErrInternal) {
		t.Fatalf("write after a failed fsync: %v, want ErrInternal", err)
	}
	if _, err := n.cl.FlushChunks(ctxT(t), tg, refs[1:]); err != nil {
		t.Fatalf("another chunk: %v", err)
	}
	// A full disk refuses a write with 507 before any of it is on disk.
	n.fs.Set(faultfs.Rule{Op: faultfs.OpWrite, PathContains: ".chunk", Err: syscall.ENOSPC})
	if _, err := n.cl.WriteChunk(ctxT(t), tg, client.ChunkWrite{Name: "new", Generation: 1, Sequence: 1}, blockData("new", 0, 1)); !errors.Is(err, client.ErrNoSpace) {
		t.Fatalf("write to a full disk: %v, want ErrNoSpace", err)
	}
	n.fs.Set()
	if _, _, err := readChunk(t, n, tg, "new", 0, bs); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("chunk whose creation failed: %v", err)
	}
}

// TestChunkHandles runs with room for two open chunks: handles closed to make room are
// synced first, so a flush that finds no handle has nothing left to do, and the data reads
// back after reopening.
func TestChunkHandles(t *testing.T) {
	var cfs *crashFS
	n := startNode(t, nil, []string{"d1"}, func(c *Config) {
		c.MaxOpenChunks = 2
		cfs = newCrashFS(t, c.DevicesDir, false)
		c.FS = cfs
	})
	tg := n.target("d1", 5)
	names := []string{"c0", "c1", "c2", "c3", "c4"}
	for round := range 3 {
		var wg sync.WaitGroup
		for i, name := range names {
			wg.Go(func() {
				seq := uint64(round + 1)
				_, err := n.cl.WriteChunk(ctxT(t), tg, client.ChunkWrite{Name: name, Offset: int64(i) * bs, Generation: 1, Sequence: seq},
					blockData(name, i, seq))
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	if open := len(n.srv.chunks.open); open > 2 {
		t.Fatalf("%d chunk files open, limit 2", open)
	}
	// No flush: the three chunks closed to make room were synced as they closed, the two
	// still open were not.
	img := t.TempDir()
	cfs.image(t, img)
	n.stop()
	r := startNode(t, nil, nil, func(c *Config) { c.DevicesDir = img })
	survived := 0
	for i, name := range names {
		got, _, err := readChunk(t, r, r.target("d1", 5), name, int64(i)*bs, bs)
		if err == nil && bytes.Equal(got, blockData(name, i, 3)) {
			survived++
		}
	}
	if survived < len(names)-2 {
		t.Fatalf("%d of %d chunks kept their last write; the closed ones must have", survived, len(names))
	}
}

// TestChunkFlushConcurrent runs writers, FUA writers, readers and flushers on several
// chunks at once, for the race detector and the group commit; then again with one chunk
// file open at a time, so files are closed to make room while others sync them.
func TestChunkFlushConcurrent(t *testing.T) {
	for _, open := range []int{1024, 1} {
		t.Run(fmt.Sprintf("open=%d", open), func(t *testing.T) {
			n := startNode(t, nil, []string{"d1", "d2"}, func(c *Config) { c.MaxOpenChunks = open })
			chunkConcurrency(t, n)
		})
	}
}

func chunkConcurrency(t *testing.T, n *testNode) {
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			dev := fmt.Sprintf("d%d", w%2+1)
			tg := n.target(dev, uint32(w%3))
			name := fmt.Sprintf("chunk-%d", w%4)
			for i := range 20 {
				seq := uint64(i + 1)
				if _, err := n.cl.WriteChunk(ctxT(t), tg, client.ChunkWrite{Name: name, Offset: int64(w*20+i) * bs, Generation: 1, Sequence: seq,
					FUA: i%3 == 0}, blockData(name, w*20+i, seq)); err != nil {
					t.Error(err)
					return
				}
				if i%5 == 4 {
					if _, err := n.cl.FlushChunks(ctxT(t), tg, []client.ChunkRef{{Partition: tg.Partition, Name: name}}); err != nil {
						t.Error(err)
						return
					}
				}
				if _, err := n.cl.ReadChunk(ctxT(t), tg, name, int64(w*20+i)*bs, make([]byte, bs)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestChunkTLSClient runs every chunk call over mutual TLS as volumed does, and checks that
// a proxy may not touch chunks, nor volumed objects.
func TestChunkTLSClient(t *testing.T) {
	tr := newTrust(t)
	n := startNode(t, nil, []string{"d1"}, func(c *Config) { c.Identity = tr.node1 })
	tg := n.target("d1", 5)
	vc := client.New(client.Config{TLS: tr.volumed.ClientTLS(pki.RoleObjectd)})
	defer vc.CloseIdleConnections()
	ctx := ctxT(t)

	data := blocksData(testChunk, 4, 4, 1)
	if res, err := vc.WriteChunk(ctx, tg, client.ChunkWrite{Name: testChunk, Offset: 4 * bs, Generation: 1, Sequence: 1, FUA: true}, data); err != nil || res.Version != 1 {
		t.Fatalf("write: %+v, %v", res, err)
	}
	buf := make([]byte, 4*bs)
	if info, err := vc.ReadChunk(ctx, tg, testChunk, 4*bs, buf); err != nil || !bytes.Equal(buf, data) || info.Version != 1 {
		t.Fatalf("read: %+v, %v", info, err)
	}
	if res, err := vc.ZeroChunk(ctx, tg, client.ChunkZero{Name: testChunk, Offset: 5 * bs, Length: bs, Generation: 1, Sequence: 2}); err != nil || res.Version != 2 {
		t.Fatalf("zero: %+v, %v", res, err)
	}
	m, err := vc.ChunkMeta(ctx, tg, testChunk, 0)
	if err != nil || len(m.Blocks) != 4 || !m.Blocks[1].Zero {
		t.Fatalf("meta: %+v, %v", m, err)
	}
	blocks, _, err := vc.ReadChunkBlocks(ctx, tg, testChunk, 0, 0, 1)
	if err != nil || len(blocks) != 1 || !blocks[0].Zero {
		t.Fatalf("blocks: %+v, %v", blocks, err)
	}
	if _, err := vc.RepairChunk(ctx, n.target("d1", 6), client.ChunkRepair{Name: testChunk, Generation: 1}, blocks); err != nil {
		t.Fatalf("repair: %v", err)
	}
	if res, err := vc.FlushChunks(ctx, tg, []client.ChunkRef{{Partition: 5, Name: testChunk}, {Partition: 6, Name: testChunk}}); err != nil || res.Synced != 2 || res.Epoch != m.Epoch {
		t.Fatalf("flush: %+v, %v", res, err)
	}
	if err := vc.DeleteChunk(ctx, tg, testChunk, 1); err != nil {
		t.Fatalf("delete: %v", err)
	}

	proxy := client.New(client.Config{TLS: tr.proxy.ClientTLS(pki.RoleObjectd)})
	defer proxy.CloseIdleConnections()
	if _, err := proxy.WriteChunk(ctx, tg, client.ChunkWrite{Name: testChunk, Generation: 1, Sequence: 3}, data[:bs]); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("proxy writing a chunk: %v, want ErrForbidden", err)
	}
	if _, err := proxy.ReadChunk(ctx, n.target("d1", 6), testChunk, 0, buf[:bs]); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("proxy reading a chunk: %v, want ErrForbidden", err)
	}
	if err := vc.Put(ctx, tg, client.PutRequest{Name: "k", Timestamp: ts(1), Length: 1}, bytes.NewReader([]byte("x"))); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("volumed writing an object: %v, want ErrForbidden", err)
	}
}
