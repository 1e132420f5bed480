package chunkdev

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"stratus/internal/testutil"
	"stratus/volumed/nbd"
)

// memSnapshot is a snapshot held in memory: the sink a test device copies to, and the base
// a test clone reads from. The real store (volumed/snapshot) is exercised with the daemon.
type memSnapshot struct {
	chunkSize int64
	delay     time.Duration // per PutChunk, to let changes race the copier
	fail      error         // if set, every PutChunk fails with it

	mu       sync.Mutex
	data     map[int64][]byte // nil: zeros
	versions map[int64]uint64
	puts     []int64
	reads    int
}

func newMemSnapshot(chunkSize int64, parent *memSnapshot) *memSnapshot {
	m := &memSnapshot{chunkSize: chunkSize, data: map[int64][]byte{}, versions: map[int64]uint64{}}
	if parent != nil {
		// The manifest of a snapshot starts as its parent's: unchanged chunks are inherited.
		maps.Copy(m.data, parent.data)
		maps.Copy(m.versions, parent.versions)
	}
	return m
}

func (m *memSnapshot) PutChunk(ctx context.Context, idx int64, version uint64, data []byte) error {
	if m.delay > 0 {
		select {
		case <-time.After(m.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if m.fail != nil {
		return m.fail
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if slices.Contains(m.puts, idx) {
		return fmt.Errorf("chunk %d stored twice", idx)
	}
	m.puts = append(m.puts, idx)
	m.data[idx] = bytes.Clone(data)
	m.versions[idx] = version
	return nil
}

func (m *memSnapshot) Holds(idx int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.data[idx] != nil
}

func (m *memSnapshot) ReadChunk(ctx context.Context, idx int64, buf []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	clear(buf)
	copy(buf, m.data[idx])
	return nil
}

func (m *memSnapshot) stored() []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(slices.Values(m.puts))
}

// chunkOf returns chunk idx of the snapshot (zeros if it holds none).
func (m *memSnapshot) chunkOf(idx int64) []byte {
	buf := make([]byte, m.chunkSize)
	_ = m.ReadChunk(context.Background(), idx, buf)
	return buf
}

// deviceWith opens a device of volume vol, detached at cleanup.
func (e *env) deviceWith(vol string, size, chunk int64, gen uint64, base Base) *Device {
	e.t.Helper()
	cfg := DefaultConfig()
	cfg.Volume, cfg.SizeBytes, cfg.ChunkSizeBytes, cfg.Generation = vol, size, chunk, gen
	cfg.CallTimeout = 5 * time.Second
	cfg.RepairRetryMax = 200 * time.Millisecond
	cfg.Base = base
	cfg.Logger = testutil.Logger(e.t).With("gen", gen)
	d, err := New(cfg, e.st.Ring, e.cl, prometheus.NewRegistry())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(d.Detach)
	return d
}

func freeze(t *testing.T, d *Device, spec FreezeSpec) *Frozen {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	f, err := d.Freeze(ctx, spec)
	if err != nil {
		t.Fatalf("freeze %s: %v", spec.ID, err)
	}
	return f
}

func wait(t *testing.T, f *Frozen) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.Wait(ctx); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
}

// TestFreezeCopyOnWrite: writes acknowledged before the freeze are in the snapshot; writes,
// zeros and trims of every chunk racing the copier after it never leak into it.
func TestFreezeCopyOnWrite(t *testing.T) {
	e := newEnv(t)
	const chunk, n = 64 * kib, 16
	d := e.device(n*chunk, chunk, 1)
	ctx := context.Background()
	before := testutil.Payload(n*chunk, 1)
	mustWrite(t, d, before, 0, false) // not flushed: the freeze flushes
	snap := newMemSnapshot(chunk, nil)
	snap.delay = 20 * time.Millisecond
	var progress []int
	var pmu sync.Mutex
	f := freeze(t, d, FreezeSpec{ID: "s1", Sink: snap, Concurrency: 2, Progress: func(copied, total int) {
		pmu.Lock()
		progress = append(progress, copied)
		pmu.Unlock()
		if total != n {
			t.Errorf("progress total %d, want %d", total, n)
		}
	}})
	if got := len(f.Copying()); got != n {
		t.Fatalf("copying %d chunks, want %d", got, n)
	}
	after := testutil.Payload(n*chunk, 2)
	var wg sync.WaitGroup
	for i := range int64(n) {
		wg.Go(func() {
			off := i * chunk
			var err error
			switch i % 4 {
			case 0:
				err = d.Trim(ctx, uint64(off), chunk, false)
				clear(after[off : off+chunk])
			case 1:
				err = d.Zero(ctx, uint64(off+4*kib), 8*kib, nbd.ZeroFlags{})
				clear(after[off+4*kib : off+12*kib])
				copy(after[off:off+4*kib], before[off:off+4*kib])
				copy(after[off+12*kib:off+chunk], before[off+12*kib:off+chunk])
			default:
				err = d.WriteAt(ctx, after[off:off+chunk], uint64(off), false)
			}
			if err != nil {
				t.Errorf("change chunk %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	wait(t, f)
	if got := snap.stored(); len(got) != n {
		t.Fatalf("stored chunks %v, want all %d", got, n)
	}
	for i := range int64(n) {
		if got, want := snap.chunkOf(i), before[i*chunk:(i+1)*chunk]; !bytes.Equal(got, want) {
			t.Fatalf("snapshot chunk %d differs from the data at the freeze at byte %d", i, firstDiff(got, want))
		}
	}
	mustRead(t, d, after, 0)
	if f.CopiedOnWrite() == 0 {
		t.Fatal("no chunk was copied on write: the changes did not race the copy")
	}
	t.Logf("%d of %d chunks copied on write", f.CopiedOnWrite(), n)
	pmu.Lock()
	defer pmu.Unlock()
	if len(progress) != n || slices.Max(progress) != n {
		t.Fatalf("progress calls %v", progress)
	}
}

// TestFreezeIncremental: a snapshot whose parent this device took copies only the chunks
// changed since; one taken by the next attachment reads every table and copies only chunks
// whose version moved.
func TestFreezeIncremental(t *testing.T) {
	e := newEnv(t)
	const chunk, n = 64 * kib, 12
	d := e.device(n*chunk, chunk, 1)
	// Chunks 0..9 written; 10 and 11 never are.
	mustWrite(t, d, testutil.Payload(10*chunk, 1), 0, false)
	s1 := newMemSnapshot(chunk, nil)
	wait(t, freeze(t, d, FreezeSpec{ID: "s1", Sink: s1}))
	if got := s1.stored(); !slices.Equal(got, []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Fatalf("first snapshot stored %v", got)
	}

	// Nothing changed since s1: nothing to copy.
	s1b := newMemSnapshot(chunk, s1)
	f := freeze(t, d, FreezeSpec{ID: "s1b", ParentID: "s1", Parent: s1.versions, Sink: s1b})
	wait(t, f)
	if got := s1b.stored(); len(got) != 0 || len(f.Copying()) != 0 {
		t.Fatalf("snapshot with nothing changed stored %v", got)
	}
	s1 = s1b

	mustWrite(t, d, testutil.Payload(4*kib, 2), 3*chunk+8*kib, false)
	mustWrite(t, d, testutil.Payload(4*kib, 3), 11*chunk, false)
	s2 := newMemSnapshot(chunk, s1)
	wait(t, freeze(t, d, FreezeSpec{ID: "s2", ParentID: "s1b", Parent: s1.versions, Sink: s2}))
	if got := s2.stored(); !slices.Equal(got, []int64{3, 11}) {
		t.Fatalf("incremental snapshot stored %v, want [3 11]", got)
	}

	// The next attachment knows nothing of s2's freeze: it compares versions.
	d.Detach()
	d2 := e.device(n*chunk, chunk, 2)
	mustWrite(t, d2, testutil.Payload(4*kib, 4), 5*chunk, true)
	s3 := newMemSnapshot(chunk, s2)
	wait(t, freeze(t, d2, FreezeSpec{ID: "s3", ParentID: "s2", Parent: s2.versions, Sink: s3}))
	if got := s3.stored(); !slices.Equal(got, []int64{5}) {
		t.Fatalf("snapshot by the next attachment stored %v, want [5]", got)
	}
	// Each snapshot holds the volume as it was at its freeze.
	want := make([]byte, n*chunk)
	copy(want, testutil.Payload(10*chunk, 1))
	check := func(name string, s *memSnapshot) {
		t.Helper()
		for i := range int64(n) {
			if got := s.chunkOf(i); !bytes.Equal(got, want[i*chunk:(i+1)*chunk]) {
				t.Fatalf("%s chunk %d differs at byte %d", name, i, firstDiff(got, want[i*chunk:(i+1)*chunk]))
			}
		}
	}
	check("s1", s1)
	copy(want[3*chunk+8*kib:], testutil.Payload(4*kib, 2))
	copy(want[11*chunk:], testutil.Payload(4*kib, 3))
	check("s2", s2)
	copy(want[5*chunk:], testutil.Payload(4*kib, 4))
	check("s3", s3)
	mustRead(t, d2, want, 0)
}

// TestClone: a clone reads its base until it changes a chunk; the first change copies the
// base chunk to the replicas, and a trim of a chunk only the base holds reads zeros after.
func TestClone(t *testing.T) {
	e := newEnv(t)
	const chunk, n = 64 * kib, 8
	const clone = "vol-00000000000000c1"
	ctx := context.Background()
	base := newMemSnapshot(chunk, nil)
	data := testutil.Payload(6*chunk, 5) // chunks 6 and 7: not in the base
	for i := range int64(6) {
		if err := base.PutChunk(ctx, i, 1<<32|1, data[i*chunk:(i+1)*chunk]); err != nil {
			t.Fatal(err)
		}
	}
	want := make([]byte, n*chunk)
	copy(want, data)

	d := e.deviceWith(clone, n*chunk, chunk, 1, base)
	// Reading a base chunk block by block fetches it once.
	for off := int64(0); off < chunk; off += 4 * kib {
		mustRead(t, d, want[off:off+4*kib], off)
	}
	if base.reads != 1 {
		t.Fatalf("%d base fetches for one chunk read block by block", base.reads)
	}
	mustRead(t, d, want, 0)
	ext, err := d.BlockStatus(ctx, 0, n*chunk)
	if err != nil || len(ext) != 2 || ext[0].Flags != 0 || ext[0].Length != 6*chunk || ext[1].Flags&nbd.ExtentHole == 0 {
		t.Fatalf("block status of a fresh clone: %+v, %v", ext, err)
	}
	if m := d.Materialized(); m != 0 {
		t.Fatalf("%d chunks materialized by reads", m)
	}

	mustWrite(t, d, testutil.Payload(4*kib, 6), 2*chunk+4*kib, false)
	copy(want[2*chunk+4*kib:], testutil.Payload(4*kib, 6))
	// Concurrent first writes to one chunk materialize it once; none is lost under the
	// base data.
	var wg sync.WaitGroup
	for b := range int64(8) {
		p := testutil.Payload(4*kib, uint64(10+b))
		copy(want[chunk+2*b*4*kib:], p)
		wg.Go(func() {
			if err := d.WriteAt(ctx, p, uint64(chunk+2*b*4*kib), false); err != nil {
				t.Errorf("write block %d of chunk 1: %v", 2*b, err)
			}
		})
	}
	wg.Wait()
	if err := d.Trim(ctx, 4*chunk, chunk, false); err != nil {
		t.Fatal(err)
	}
	clear(want[4*chunk : 5*chunk])
	if err := d.Zero(ctx, 5*chunk+8*kib, 4*kib, nbd.ZeroFlags{}); err != nil {
		t.Fatal(err)
	}
	clear(want[5*chunk+8*kib : 5*chunk+12*kib])
	mustWrite(t, d, testutil.Payload(4*kib, 7), 7*chunk, false) // no base data: nothing to copy
	copy(want[7*chunk:], testutil.Payload(4*kib, 7))
	mustRead(t, d, want, 0)
	if m := d.Materialized(); m != 4 {
		t.Fatalf("%d chunks materialized, want 4 (1, 2, 4, 5)", m)
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// The next attachment finds the materialized chunks on the replicas, the rest in the base.
	d.Detach()
	d2 := e.deviceWith(clone, n*chunk, chunk, 2, base)
	mustRead(t, d2, want, 0)
	// The base is unchanged, and the source volume's chunks were never touched.
	if got := base.chunkOf(4); !bytes.Equal(got, data[4*chunk:5*chunk]) {
		t.Fatal("the clone's trim changed its base")
	}

	// A snapshot of the clone holds base chunks too; a sink that can reference them gets
	// them without a read of the base.
	d2.Detach()
	d3 := e.deviceWith(clone, n*chunk, chunk, 3, base) // nothing of the base in memory
	reads := base.reads
	s2 := baseSink{newMemSnapshot(chunk, nil), base}
	wait(t, freeze(t, d3, FreezeSpec{ID: "c2", Sink: s2}))
	if base.reads != reads {
		t.Fatalf("%d base reads for a snapshot by a sink that references base chunks", base.reads-reads)
	}
	s := newMemSnapshot(chunk, nil)
	wait(t, freeze(t, d3, FreezeSpec{ID: "c1", Sink: s}))
	if base.reads == reads {
		t.Fatal("a plain sink got base chunks without a read")
	}
	for i := range int64(n) {
		for name, s := range map[string]*memSnapshot{"c1": s, "c2": s2.memSnapshot} {
			if got := s.chunkOf(i); !bytes.Equal(got, want[i*chunk:(i+1)*chunk]) {
				t.Fatalf("snapshot %s of the clone: chunk %d differs at byte %d", name, i, firstDiff(got, want[i*chunk:(i+1)*chunk]))
			}
		}
	}
}

// baseSink is a memSnapshot that takes a clone's base-only chunks by reference.
type baseSink struct {
	*memSnapshot
	base *memSnapshot
}

func (b baseSink) PutBaseChunk(ctx context.Context, idx int64, version uint64) (bool, error) {
	b.base.mu.Lock()
	data := b.base.data[idx]
	b.base.mu.Unlock()
	return true, b.PutChunk(ctx, idx, version, data)
}

// TestSnapshotFailsAtDetach: a detach while chunks are still being copied fails the
// snapshot, and a second freeze during a copy is refused.
func TestSnapshotFailsAtDetach(t *testing.T) {
	e := newEnv(t)
	const chunk, n = 64 * kib, 8
	d := e.device(n*chunk, chunk, 1)
	mustWrite(t, d, testutil.Payload(n*chunk, 1), 0, false)
	s := newMemSnapshot(chunk, nil)
	s.delay = time.Second
	f := freeze(t, d, FreezeSpec{ID: "s1", Sink: s, Concurrency: 1})
	if _, err := d.Freeze(context.Background(), FreezeSpec{ID: "s2", Sink: newMemSnapshot(chunk, nil)}); !errors.Is(err, ErrSnapshotBusy) {
		t.Fatalf("second freeze during a copy: %v, want ErrSnapshotBusy", err)
	}
	start := time.Now()
	d.Detach()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.Wait(ctx); !errors.Is(err, ErrDetached) {
		t.Fatalf("snapshot after detach: %v, want ErrDetached", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("detach took %v with a copy in progress", el)
	}
	if got := len(s.stored()); got >= n {
		t.Fatalf("all %d chunks stored despite the detach", got)
	}
}

// TestSnapshotStoreFailure: a snapshot store that fails fails the snapshot, never the
// guest's writes, and the next snapshot starts afresh.
func TestSnapshotStoreFailure(t *testing.T) {
	e := newEnv(t)
	const chunk, n = 64 * kib, 8
	d := e.device(n*chunk, chunk, 1)
	ctx := context.Background()
	mustWrite(t, d, testutil.Payload(n*chunk, 1), 0, false)
	broken := newMemSnapshot(chunk, nil)
	broken.delay, broken.fail = 10*time.Millisecond, errors.New("store unreachable")
	f := freeze(t, d, FreezeSpec{ID: "s1", Sink: broken, Concurrency: 1})
	after := testutil.Payload(n*chunk, 2)
	mustWrite(t, d, after, 0, true) // copies on write, which fail
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := f.Wait(wctx); err == nil || !strings.Contains(err.Error(), "store unreachable") {
		t.Fatalf("snapshot to a failing store: %v", err)
	}
	mustRead(t, d, after, 0)
	s := newMemSnapshot(chunk, nil)
	wait(t, freeze(t, d, FreezeSpec{ID: "s2", Sink: s}))
	for i := range int64(n) {
		if got := s.chunkOf(i); !bytes.Equal(got, after[i*chunk:(i+1)*chunk]) {
			t.Fatalf("snapshot after a failed one: chunk %d differs", i)
		}
	}
}
