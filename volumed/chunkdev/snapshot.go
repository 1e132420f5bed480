package chunkdev

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// Sink receives the chunks of a snapshot. The snapshot store satisfies it through a small
// adapter, so that this package does not depend on how snapshots are stored.
type Sink interface {
	// PutChunk stores chunk idx as it was at the freeze, at version (the highest sequence
	// it held then; 0 for a chunk read from the base that no replica holds). data is the
	// whole chunk; nil means it reads as zeros. It may be called concurrently for
	// different chunks, and once per chunk.
	PutChunk(ctx context.Context, idx int64, version uint64, data []byte) error
}

// BaseSink is a Sink that can take a clone's chunk that only its base holds without its
// data (the base's stored copy is referenced, not read back).
type BaseSink interface {
	Sink
	// PutBaseChunk stores chunk idx as the base holds it, at version; false if it cannot
	// (the chunk is then read and given to PutChunk).
	PutBaseChunk(ctx context.Context, idx int64, version uint64) (bool, error)
}

// FreezeSpec describes a snapshot to take.
type FreezeSpec struct {
	// ID names the snapshot. A later snapshot whose ParentID is this ID, taken by the same
	// device, considers only the chunks changed since this one's freeze.
	ID string
	// ParentID is the snapshot the new one is incremental to ("" for none).
	ParentID string
	// Parent maps each chunk index of the parent's manifest to its version. A chunk whose
	// version still equals it is unchanged (sequences only grow) and is not copied.
	Parent map[int64]uint64
	// Sink receives the chunks that changed.
	Sink Sink
	// Concurrency bounds the background copies; zero means 4. The table reads of a full
	// scan run 8 times as many at once (three small calls per chunk).
	Concurrency int
	// Progress, if set, is called after each chunk copied with the counts so far. It must
	// not block for long: it runs on the copier.
	Progress func(copied, total int)
}

// ErrSnapshotBusy is returned by Freeze while another snapshot of the device is copying.
var ErrSnapshotBusy = errors.New("chunkdev: a snapshot of the volume is still copying")

// snapState is the device's snapshot machinery.
//
// barrier orders changes against freezes: every write, zero and trim holds its read side
// for the whole change, and a freeze takes the write side for as long as it takes to
// flush and record the chunk versions, so the snapshot holds exactly the changes
// acknowledged before the freeze.
type snapState struct {
	barrier sync.RWMutex

	mu sync.Mutex
	// active is the snapshot still copying, if any.
	active *Frozen
	// lastID is the last snapshot this device froze; changed lists the chunks changed since.
	lastID  string
	changed map[int64]struct{}
	stopped bool

	wg sync.WaitGroup // copiers
}

// hold takes the barrier's read side for one change call; the returned func releases it.
func (s *snapState) hold() func() {
	s.barrier.RLock()
	return s.barrier.RUnlock
}

// stop fails the active snapshot (ErrDetached) and waits for its copiers.
func (s *snapState) stop() {
	s.mu.Lock()
	s.stopped = true
	f := s.active
	s.mu.Unlock()
	if f != nil {
		f.fail(ErrDetached)
		_ = f.Wait(context.Background()) // its copies end promptly: their context is cancelled
	}
	s.wg.Wait()
}

// Frozen is a snapshot taken by Freeze: the versions of its chunks were recorded at the
// freeze, and its changed chunks are being copied to the sink.
type Frozen struct {
	d    *Device
	spec FreezeSpec

	// versions are the recorded versions of every chunk of the volume that may have
	// changed since the parent (changed or not).
	versions map[int64]uint64
	all      bool // versions lists every chunk present, not only those changed
	pending  map[int64]*frozenChunk
	order    []int64

	ctx    context.Context
	cancel context.CancelFunc
	copied atomic.Int64
	cow    atomic.Int64 // copies made before a change

	mu       sync.Mutex
	err      error
	done     chan struct{}
	inflight int        // copies running; Wait waits for them, so none stores after it
	idle     *sync.Cond // on mu, signalled when inflight drops to 0
	uploads  sync.WaitGroup
	budget   chan struct{} // one per chunk of copyOnWriteBudget being stored in the background
}

// frozenChunk is one chunk still to copy; mu makes the copy-on-write of a change and the
// background copier upload it once.
type frozenChunk struct {
	version uint64
	mu      sync.Mutex
	done    bool
}

// Freeze takes a crash-consistent snapshot of the device: every change acknowledged before
// the call is in it, none that starts after it returns is. It waits for changes in flight,
// holds new ones back while it flushes and records the version of every chunk that may
// have changed since spec.Parent, then lets them go; from then on, the first change to a
// chunk not yet copied reads it first and hands it to spec.Sink (copy-on-write; in the
// background within copyOnWriteBudget), and background copiers copy the rest. Wait
// reports the end.
//
// The chunks considered are those changed since ParentID's freeze if this device froze it,
// and every chunk of the volume otherwise (their tables are read first, without holding
// changes back). Detach, or a fence, fails the snapshot.
func (d *Device) Freeze(ctx context.Context, spec FreezeSpec) (*Frozen, error) {
	if spec.Sink == nil {
		return nil, errors.New("chunkdev: freeze without a sink")
	}
	if spec.Concurrency <= 0 {
		spec.Concurrency = 4
	}
	if err := d.usable(); err != nil {
		return nil, err
	}
	s := &d.snap
	s.mu.Lock()
	busy, local := s.active != nil, spec.ParentID != "" && spec.ParentID == s.lastID && s.changed != nil
	s.mu.Unlock()
	if busy {
		return nil, ErrSnapshotBusy
	}
	nChunks := (d.cfg.SizeBytes + d.cfg.ChunkSizeBytes - 1) / d.cfg.ChunkSizeBytes
	if !local {
		// Read every chunk's tables now, so that the versions can be recorded under the
		// barrier without a call per chunk.
		if err := d.loadAll(ctx, nChunks, 8*spec.Concurrency); err != nil {
			return nil, fmt.Errorf("freeze: %w", err)
		}
	}

	s.barrier.Lock()
	defer s.barrier.Unlock()
	s.mu.Lock()
	busy = s.active != nil
	local = spec.ParentID != "" && spec.ParentID == s.lastID && s.changed != nil
	var candidates []int64
	if local {
		for i := range s.changed {
			candidates = append(candidates, i)
		}
	}
	s.mu.Unlock()
	if busy {
		return nil, ErrSnapshotBusy
	}
	if !local {
		for i := range nChunks {
			candidates = append(candidates, i)
		}
	}
	if err := d.Flush(ctx); err != nil {
		return nil, fmt.Errorf("freeze: flush: %w", err)
	}
	f := &Frozen{d: d, spec: spec, versions: map[int64]uint64{}, all: !local, pending: map[int64]*frozenChunk{}, done: make(chan struct{})}
	f.idle = sync.NewCond(&f.mu)
	f.budget = make(chan struct{}, max(1, copyOnWriteBudget/d.cfg.ChunkSizeBytes))
	for _, i := range candidates {
		c := d.chunk(i)
		if err := d.load(ctx, c); err != nil { // loaded already unless it was never touched
			return nil, fmt.Errorf("freeze: %w", err)
		}
		v, present := d.frozenVersion(c)
		if !present {
			continue
		}
		f.versions[i] = v
		if pv, ok := spec.Parent[i]; ok && pv == v {
			continue
		}
		f.pending[i] = &frozenChunk{version: v}
		f.order = append(f.order, i)
	}
	slices.Sort(f.order)
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil, ErrDetached
	}
	s.lastID, s.changed = spec.ID, map[int64]struct{}{}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	if len(f.order) == 0 {
		s.mu.Unlock()
		f.finish(nil) // nothing changed since the parent
		return f, nil
	}
	s.active = f
	defer s.mu.Unlock()
	work := make(chan int64, len(f.order))
	for _, i := range f.order {
		work <- i
	}
	close(work)
	var left sync.WaitGroup
	for range min(spec.Concurrency, len(f.order)) {
		s.wg.Add(1)
		left.Add(1)
		go func() {
			defer s.wg.Done()
			defer left.Done()
			for i := range work {
				if err := f.copy(f.ctx, i, false); err != nil {
					f.fail(err)
					return
				}
			}
		}()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		left.Wait()
		f.uploads.Wait()
		f.finish(nil)
	}()
	return f, nil
}

// frozenVersion returns the version c holds (the highest sequence given out or found) and
// whether a snapshot has anything of it: a chunk no replica holds and the base does not
// either reads as zeros and is left out.
func (d *Device) frozenVersion(c *chunk) (uint64, bool) {
	c.mu.Lock()
	v, exists := c.version, c.exists
	if c.n > 0 {
		v = max(v, d.cfg.Generation<<32|c.n)
	}
	c.mu.Unlock()
	if exists || v > 0 {
		return v, true
	}
	return 0, d.base != nil && d.base.holds(c.idx)
}

// loadAll reads the tables of chunks [0, n) that the device has not loaded yet, with at
// most conc reads at once.
func (d *Device) loadAll(ctx context.Context, n int64, conc int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	idx := make(chan int64)
	errs := make([]error, conc)
	var wg sync.WaitGroup
	for w := range conc {
		wg.Go(func() {
			for i := range idx {
				if errs[w] != nil {
					continue
				}
				if err := d.load(ctx, d.chunk(i)); err != nil {
					errs[w] = err
					cancel()
				}
			}
		})
	}
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		idx <- i
	}
	close(idx)
	wg.Wait()
	return errors.Join(errs...)
}

// noteChange is called before every change of chunk i, with the barrier's read side held:
// if the active snapshot has not copied the chunk yet, it reads it now (it has not changed
// since the freeze) and stores it; and it records the chunk as changed for the next incremental
// snapshot. A copy that fails fails the snapshot, not the change: the guest's write goes
// on whatever happens to the snapshot store.
func (d *Device) noteChange(i int64) {
	s := &d.snap
	s.mu.Lock()
	if s.changed != nil {
		s.changed[i] = struct{}{}
	}
	f := s.active
	s.mu.Unlock()
	if f == nil || f.pending[i] == nil {
		return
	}
	// The copy runs under the snapshot's context, not the change's: a guest giving up on
	// its write must not fail the snapshot.
	if err := f.copy(f.ctx, i, true); err != nil {
		f.fail(fmt.Errorf("copy chunk %d before a change: %w", i, err))
	}
}

// copy uploads chunk i as it was at the freeze, unless it was already; onWrite says a
// change is waiting for it.
func (f *Frozen) copy(ctx context.Context, i int64, onWrite bool) error {
	fc := f.pending[i]
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.done {
		return nil
	}
	f.mu.Lock()
	if f.err != nil || f.ended() {
		err := f.err
		f.mu.Unlock()
		return cmp.Or(err, errors.New("snapshot ended"))
	}
	f.inflight++
	f.mu.Unlock()
	defer f.release()
	d := f.d
	if done, err := f.putBaseChunk(ctx, i, fc.version, onWrite); err != nil || done {
		if done {
			fc.done = true
		}
		return err
	}
	buf := make([]byte, d.cfg.ChunkSizeBytes)
	hole, version, err := d.readSpanVersion(ctx, span{idx: i, n: d.cfg.ChunkSizeBytes}, buf)
	if err != nil {
		return fmt.Errorf("read chunk %d: %w", i, err)
	}
	if err := d.usable(); err != nil {
		return err
	}
	if version > fc.version {
		// Only a newer holder can have changed a chunk waiting for its copy.
		return fmt.Errorf("%w: chunk %d is at version %#x, past %#x recorded at the freeze", ErrFenced, i, version, fc.version)
	}
	if hole {
		buf = nil
	}
	if onWrite && f.uploadLater(ctx, i, fc.version, buf) {
		fc.done = true // its content at the freeze is in memory: the change may go on
		return nil
	}
	if err := f.store(ctx, i, fc.version, buf, onWrite); err != nil {
		return err
	}
	fc.done = true
	return nil
}

// putBaseChunk hands chunk i to a BaseSink without reading it if no replica holds it (so
// it is the base's: no change has materialized it, since every change copies it first).
func (f *Frozen) putBaseChunk(ctx context.Context, i int64, version uint64, onWrite bool) (bool, error) {
	bs, ok := f.spec.Sink.(BaseSink)
	d := f.d
	if !ok || d.base == nil || !d.base.holds(i) {
		return false, nil
	}
	c := d.chunk(i)
	c.mu.Lock()
	exists := c.exists
	c.mu.Unlock()
	if exists {
		return false, nil
	}
	done, err := bs.PutBaseChunk(ctx, i, version)
	if err != nil || !done {
		return false, err
	}
	f.count(onWrite)
	return true, nil
}

// store hands chunk i to the sink and counts it.
func (f *Frozen) store(ctx context.Context, i int64, version uint64, buf []byte, onWrite bool) error {
	if err := f.spec.Sink.PutChunk(ctx, i, version, buf); err != nil {
		return fmt.Errorf("store chunk %d: %w", i, err)
	}
	f.count(onWrite)
	return nil
}

// count records one more chunk stored.
func (f *Frozen) count(onWrite bool) {
	if onWrite {
		f.cow.Add(1)
	}
	n := f.copied.Add(1)
	if f.spec.Progress != nil {
		f.spec.Progress(int(n), len(f.order))
	}
}

// copyOnWriteBudget bounds the memory of chunks copied before a change and still being
// stored: within it, the change waits only for the chunk's read, not for its upload.
const copyOnWriteBudget = 64 << 20

// uploadLater stores chunk i (read for a change) in the background if the budget allows,
// and reports whether it does. The caller holds the chunk's mu.
func (f *Frozen) uploadLater(ctx context.Context, i int64, version uint64, buf []byte) bool {
	select {
	case f.budget <- struct{}{}:
	default:
		return false
	}
	f.mu.Lock()
	if f.ended() {
		f.mu.Unlock()
		<-f.budget
		return false
	}
	// Counted before the snapshot can end: Wait (and so Detach) waits for the upload, and
	// the background copiers, which cannot pass this chunk until the caller releases it,
	// have not finished.
	f.inflight++
	f.uploads.Add(1)
	f.d.snap.wg.Add(1)
	f.mu.Unlock()
	go func() {
		defer f.d.snap.wg.Done()
		defer f.uploads.Done()
		defer f.release()
		defer func() { <-f.budget }()
		if err := f.store(ctx, i, version, buf, true); err != nil {
			f.fail(fmt.Errorf("copy chunk %d before a change: %w", i, err))
		}
	}()
	return true
}

// release ends one copy counted in inflight.
func (f *Frozen) release() {
	f.mu.Lock()
	if f.inflight--; f.inflight == 0 {
		f.idle.Broadcast()
	}
	f.mu.Unlock()
}

// ended reports whether the snapshot completed or failed. f.mu must be held.
func (f *Frozen) ended() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// fail ends the snapshot with err (the first error wins).
func (f *Frozen) fail(err error) { f.finish(err) }

func (f *Frozen) finish(err error) {
	f.mu.Lock()
	if f.ended() {
		f.mu.Unlock()
		return
	}
	if err == nil {
		if err = f.d.usable(); err == nil && int(f.copied.Load()) != len(f.order) {
			err = fmt.Errorf("chunkdev: snapshot %s copied %d of %d chunks", f.spec.ID, f.copied.Load(), len(f.order))
		}
	}
	f.err = err
	close(f.done)
	f.mu.Unlock()
	f.cancel()
	s := &f.d.snap
	s.mu.Lock()
	if s.active == f {
		s.active = nil
	}
	s.mu.Unlock()
}

// Wait returns once every changed chunk was copied (nil) or the snapshot failed; then no
// copy runs any more, so the sink receives nothing after it.
func (f *Frozen) Wait(ctx context.Context) error {
	select {
	case <-f.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.inflight > 0 {
		f.idle.Wait() // copies end promptly once failed: their context is cancelled
	}
	return f.err
}

// Done is closed when the snapshot completes or fails (copies may still be ending: Wait
// for them).
func (f *Frozen) Done() <-chan struct{} { return f.done }

// ChunkSizeBytes returns the device's chunk size.
func (d *Device) ChunkSizeBytes() int64 { return d.cfg.ChunkSizeBytes }

// Versions returns the version recorded at the freeze of every chunk that may have
// changed since the parent and holds data (or base data). If AllChunks, it lists every
// chunk that held anything at the freeze; otherwise chunks missing from it are unchanged
// since the parent.
func (f *Frozen) Versions() map[int64]uint64 { return f.versions }

// AllChunks reports whether Versions lists every chunk present at the freeze (the
// device did not take the parent, so it read every chunk's table).
func (f *Frozen) AllChunks() bool { return f.all }

// Abort fails the snapshot with err and stops its copy; writes no longer copy chunks
// for it.
func (f *Frozen) Abort(err error) { f.fail(err) }

// Copying returns the indexes of the chunks the snapshot copies (changed since the
// parent), in order.
func (f *Frozen) Copying() []int64 { return f.order }

// Copied returns how many chunks were copied so far.
func (f *Frozen) Copied() int { return int(f.copied.Load()) }

// CopiedOnWrite returns how many of them were copied by a change waiting for the copy.
func (f *Frozen) CopiedOnWrite() int { return int(f.cow.Load()) }
