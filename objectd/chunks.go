package objectd

import (
	"container/list"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"stratus/internal/faultfs"
	"stratus/objectd/client"
)

// The chunk store: mutable, fenced, versioned chunks (chunkfile.go has the format) that
// volumed writes in place, block by block.
//
// # Ordering and fencing
//
// A change (write, zero, repair, delete) carries the writer's generation. One older than
// the chunk's fence is refused (FencedError) before anything is written; a newer one raises
// the fence, and the header holding it is fsynced before the change is applied, so a fence
// once raised survives a crash. A block is set only by a change whose sequence is at least
// the one the block holds: a late or repeated write, or a repair from a replica that is
// behind, never undoes a newer write. Equal sequences rewrite the block (the retry of a
// write, or the repair of a torn copy).
//
// # Durability
//
// A change goes to the page cache in the order data, block table entries, header, and is
// acknowledged there. flush (and FUA) fdatasyncs the chunk file; concurrent flushes of one
// chunk share one fdatasync (groupCommit, as small objects share a syncfs), and a flush of
// many chunks syncs them concurrently. A file is created whole (header and table written
// and fsynced under a temp name, renamed into place, the directory fsynced) before its
// first change, so a chunk either exists with a valid header or not at all. A crash may
// lose changes not yet flushed and may tear their blocks; the per-block CRC catches a
// torn block, which is never served (TornError).
//
// # Concurrency
//
// Each open chunk has a handle, shared by its requests and kept in an LRU of at most
// Config.MaxOpenChunks idle handles. Changes to one chunk are serialised by the handle's
// lock, and reads share it, so a read never sees a block half-written; fsyncs run outside
// the lock, so flushes do not stall writes. An idle handle with unsynced changes is synced
// before it is closed, so a later flush that finds no open handle has nothing to do.
type chunkStore struct {
	st     *store
	log    *slog.Logger
	m      *metrics
	epoch  string // this run of the node; HeaderNodeEpoch
	max    int    // idle handles kept open
	warned *logLimiter
	// placed reports whether device dev of this node is a primary of partition part in the
	// node's ring, and that ring's version; a chunk is created only where it is.
	placed func(dev string, part uint32) (bool, uint64)

	mu      sync.Mutex
	open    map[chunkKey]*openChunk
	idle    list.List                  // of *openChunk with refs == 0, least recently used first
	closing map[chunkKey]chan struct{} // handles being synced and closed; closed when done
	failed  map[chunkKey]error         // handles whose fsync failed while being closed
}

// placePartition is placed, or true where the store has no ring to ask.
func (cs *chunkStore) placePartition(dev string, part uint32) (bool, uint64) {
	if cs.placed == nil {
		return true, 0
	}
	return cs.placed(dev, part)
}

// chunkKey names a chunk file: one handle per file.
type chunkKey struct {
	devDir string
	part   uint32
	hash   string
}

// openChunk is the handle of one chunk file.
type openChunk struct {
	key  chunkKey
	dev  string // device name, for metrics and logs
	path string
	m    *metrics

	refs int           // guarded by chunkStore.mu
	elem *list.Element // in chunkStore.idle while refs == 0; guarded by chunkStore.mu

	mu     sync.RWMutex // guards what follows; held for reading while blocks are read
	loaded bool         // the file was looked for; exists says whether it was there
	exists bool
	// f is closed only by close, which runs once no reference is held; every fsync runs
	// under a reference (flush, change with FUA), so none can find its file closed.
	f       faultfs.File
	retired []faultfs.File // files of deleted incarnations; closed with the handle
	hdr     chunkHeader
	tomb    chunkTomb // the chunk's tombstone, if deleted (chunktomb.go); gen 0: none
	table   []blockEntry
	raw     []byte // the block table as on disk
	slotBuf []byte // scratch for header writes
	// slot is where header writes go: never the slot holding the newest durable header.
	// Headers are written only when the fence rises, each followed at once by an fsync
	// under the lock, so the slot changes right after that fsync.
	slot int
	// broken is set when an fsync failed: the kernel may have dropped changes it had
	// acknowledged, and no later flush may claim they are durable. Every call but delete
	// fails until the node restarts.
	broken error

	applied atomic.Uint64 // changes applied so far
	synced  atomic.Uint64 // changes covered by the last successful fsync
	commit  groupCommit
}

func newChunkStore(st *store, log *slog.Logger, m *metrics, max int, warned *logLimiter, placed func(dev string, part uint32) (bool, uint64)) *chunkStore {
	return &chunkStore{st: st, log: log, m: m, max: max, warned: warned, placed: placed,
		epoch:   fmt.Sprintf("%016x", rand.Uint64()),
		open:    map[chunkKey]*openChunk{},
		closing: map[chunkKey]chan struct{}{},
		failed:  map[chunkKey]error{}}
}

// acquire returns the handle of a chunk file, taking a reference that release gives back.
// With lookup set it returns nil instead of creating a handle that is not open.
func (cs *chunkStore) acquire(dev, devDir string, part uint32, name string, lookup bool) *openChunk {
	return cs.acquireHash(dev, devDir, part, nameHash(name), lookup)
}

// acquireHash is acquire for the chunk file of a name hash (the replicator and auditor know
// files, not names).
func (cs *chunkStore) acquireHash(dev, devDir string, part uint32, hash string, lookup bool) *openChunk {
	key := chunkKey{devDir: devDir, part: part, hash: hash}
	for {
		cs.mu.Lock()
		if done, ok := cs.closing[key]; ok {
			cs.mu.Unlock()
			<-done // its changes must be synced before anyone looks at the file again
			continue
		}
		c := cs.open[key]
		if c == nil {
			if lookup && cs.failed[key] == nil {
				cs.mu.Unlock()
				return nil
			}
			c = &openChunk{key: key, dev: dev, path: chunkFilePath(devDir, part, key.hash), m: cs.m, broken: cs.failed[key]}
			delete(cs.failed, key)
			cs.open[key] = c
			cs.m.chunksOpen.Set(float64(len(cs.open)))
		}
		if c.elem != nil {
			cs.idle.Remove(c.elem)
			c.elem = nil
		}
		c.refs++
		cs.mu.Unlock()
		return c
	}
}

// acquireChecked is acquire for a request on device dev: a handle already open is taken
// as it is, since its device was checked when it was opened and the request's handler
// checked it again (devicePath stats the device's marker, a syscall per call); any other
// handle is acquired only after devicePath finds the device usable.
func (cs *chunkStore) acquireChecked(dev string, part uint32, name string) (*openChunk, error) {
	if client.CheckDevice(dev) == nil {
		key := chunkKey{devDir: filepath.Join(cs.st.root, dev), part: part, hash: nameHash(name)}
		cs.mu.Lock()
		if c := cs.open[key]; c != nil && c.dev == dev {
			if c.elem != nil {
				cs.idle.Remove(c.elem)
				c.elem = nil
			}
			c.refs++
			cs.mu.Unlock()
			return c, nil
		}
		cs.mu.Unlock()
	}
	devDir, err := cs.st.devicePath(dev)
	if err != nil {
		return nil, err
	}
	return cs.acquire(dev, devDir, part, name, false), nil
}

// release gives back a reference. An idle handle joins the LRU, and handles beyond the
// limit are synced and closed.
func (cs *chunkStore) release(c *openChunk) {
	cs.mu.Lock()
	c.refs--
	if c.refs == 0 {
		c.elem = cs.idle.PushBack(c)
	}
	var victims []*openChunk
	for len(cs.open) > cs.max && cs.idle.Len() > 0 {
		v := cs.idle.Remove(cs.idle.Front()).(*openChunk)
		v.elem = nil
		delete(cs.open, v.key)
		cs.closing[v.key] = make(chan struct{})
		victims = append(victims, v)
	}
	cs.m.chunksOpen.Set(float64(len(cs.open)))
	cs.mu.Unlock()
	for _, v := range victims {
		err := v.close()
		cs.mu.Lock()
		if err != nil {
			cs.failed[v.key] = err
			cs.log.Error("chunk file sync failed on close; its unflushed writes may be lost", "device", v.dev, "path", v.path, "err", err)
		}
		close(cs.closing[v.key])
		delete(cs.closing, v.key)
		cs.mu.Unlock()
	}
}

// close syncs the handle's unsynced changes and closes its files. The handle is idle and
// out of the map.
func (c *openChunk) close() error {
	_, err := c.sync()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil && err == nil {
		err = c.broken
	}
	if c.f != nil {
		c.f.Close()
		c.f = nil
	}
	for _, f := range c.retired {
		f.Close()
	}
	c.retired = nil
	return err
}

// closeAll syncs and closes every handle; called once requests have finished.
func (cs *chunkStore) closeAll() {
	cs.mu.Lock()
	handles := make([]*openChunk, 0, len(cs.open))
	for _, c := range cs.open {
		handles = append(handles, c)
	}
	cs.open = map[chunkKey]*openChunk{}
	cs.idle.Init()
	cs.m.chunksOpen.Set(0)
	cs.mu.Unlock()
	for _, c := range handles {
		if err := c.close(); err != nil {
			cs.log.Error("chunk file sync failed at shutdown; its unflushed writes may be lost", "device", c.dev, "path", c.path, "err", err)
		}
	}
}

// change runs f on the handle of chunk name, loaded, with its lock held for writing. With
// fua, it then syncs the chunk (if it exists), still holding the handle so that it cannot
// be closed under the fsync.
func (cs *chunkStore) change(dev string, part uint32, name string, fua bool, f func(c *openChunk) error) error {
	c, err := cs.acquireChecked(dev, part, name)
	if err != nil {
		return err
	}
	defer cs.release(c)
	c.mu.Lock()
	err = c.load(cs.st.fs)
	if err == nil {
		err = f(c)
	}
	exists := c.exists
	c.mu.Unlock()
	if err != nil || !fua || !exists {
		return err
	}
	_, err = c.sync()
	return err
}

// withRead runs f on the handle of chunk name, which must exist, with its lock held for
// reading.
func (cs *chunkStore) withRead(dev string, part uint32, name string, f func(c *openChunk) error) error {
	c, err := cs.acquireChecked(dev, part, name)
	if err != nil {
		return err
	}
	defer cs.release(c)
	c.mu.RLock()
	if !c.loaded {
		c.mu.RUnlock()
		c.mu.Lock()
		err := c.load(cs.st.fs)
		c.mu.Unlock()
		if err != nil {
			return err
		}
		c.mu.RLock()
	}
	defer c.mu.RUnlock()
	if err := c.usable(name); err != nil {
		return err
	}
	return f(c)
}

// usable reports why the loaded handle cannot serve chunk name, or nil.
func (c *openChunk) usable(name string) error {
	switch {
	case !c.exists:
		return fmt.Errorf("%w: chunk %q", client.ErrNotFound, name)
	case c.hdr.name != name: // an MD5 collision: the header, not the path, says whose it is
		return fmt.Errorf("%w: chunk %q (file %s holds %q)", client.ErrNotFound, name, c.path, c.hdr.name)
	case c.broken != nil:
		return fmt.Errorf("%w: chunk %q: an earlier fsync failed, so unflushed writes may be lost: %v", client.ErrInternal, name, c.broken)
	}
	return nil
}

// load reads the chunk file into the handle, if not done yet. Call with c.mu held. A
// missing file is not an error (exists stays false); a file whose header does not check is
// ErrCorrupt.
func (c *openChunk) load(fsys faultfs.FS) error {
	if c.loaded {
		return nil
	}
	tomb, err := readTomb(fsys, tombPathOf(c.path))
	if errors.Is(err, client.ErrCorrupt) {
		// A tombstone that rotted says no generation: dropped, it costs only the protection
		// against a replica that missed the delete; kept, it would block the chunk.
		fsys.Remove(tombPathOf(c.path))
		err = nil
	}
	if err != nil {
		return err
	}
	c.tomb = tomb
	f, err := fsys.OpenFile(c.path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		c.loaded, c.exists = true, false
		return nil
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", c.path, err)
	}
	accessRandomly(f)
	hb := make([]byte, chunkHeaderSize)
	if _, err := f.ReadAt(hb, 0); err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return fmt.Errorf("read %s: %w", c.path, err)
	}
	hdr, cur, err := decodeChunkHeader(hb)
	if err != nil {
		f.Close()
		return fmt.Errorf("%w: %s: %v", client.ErrCorrupt, c.path, err)
	}
	raw := make([]byte, hdr.blocks()*chunkEntrySize)
	if _, err := f.ReadAt(raw, chunkHeaderSize); err != nil {
		f.Close()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: %s: block table truncated", client.ErrCorrupt, c.path)
		}
		return fmt.Errorf("read %s: %w", c.path, err)
	}
	// What the page cache holds of this file (from a run that was killed, say) is made
	// durable before anything writes over the older header slot.
	if err := datasync(f); err != nil {
		f.Close()
		return fmt.Errorf("fsync %s: %w", c.path, err)
	}
	if c.tomb.gen != 0 {
		if c.tomb.gen >= hdr.fence {
			// A delete that a crash interrupted between writing the tombstone and removing
			// the file: finish it.
			f.Close()
			if err := fsys.Remove(c.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove deleted chunk %s: %w", c.path, err)
			}
			if err := syncDirFS(fsys, filepath.Dir(c.path)); err != nil {
				return fmt.Errorf("fsync %s: %w", filepath.Dir(c.path), err)
			}
			c.loaded, c.exists = true, false
			return nil
		}
		// The chunk was created anew after the delete, and a crash kept the old tombstone.
		fsys.Remove(tombPathOf(c.path))
		c.tomb = chunkTomb{}
	}
	c.f, c.hdr, c.raw = f, hdr, raw
	c.table = decodeTable(raw, hdr.blocks())
	for _, e := range c.table {
		c.hdr.version = max(c.hdr.version, e.seq)
	}
	c.slot = 1 - cur
	c.slotBuf = make([]byte, chunkSlotSize)
	c.loaded, c.exists = true, true
	return nil
}

// create makes the chunk file, whole and durable, before its first change. Call with c.mu
// held and the file missing.
func (cs *chunkStore) create(c *openChunk, name string, size int64, fence uint64) error {
	hdr := chunkHeader{name: name, chunkSize: size, fence: fence, slotSeq: 1}
	img := make([]byte, chunkDataOffset(size))
	if err := encodeSlot(img[:chunkSlotSize], &hdr); err != nil {
		return err
	}
	fsys := cs.st.fs
	tmp, err := cs.createTemp(c.key.devDir, c.key.hash)
	if err != nil {
		return noSpace(err)
	}
	tmpName := tmp.Name()
	accessRandomly(tmp)
	fail := func(err error) error {
		tmp.Close()
		fsys.Remove(tmpName)
		return noSpace(err)
	}
	if _, err := tmp.WriteAt(img, 0); err != nil {
		return fail(fmt.Errorf("write %s: %w", tmpName, err))
	}
	if err := tmp.Sync(); err != nil {
		return fail(fmt.Errorf("fsync %s: %w", tmpName, err))
	}
	pdir := chunkPartDir(c.key.devDir, c.key.part)
	if err := cs.st.mkdirs(c.key.devDir, pdir); err != nil {
		return fail(err)
	}
	if err := fsys.Rename(tmpName, c.path); err != nil {
		return fail(fmt.Errorf("publish %s: %w", c.path, err))
	}
	if err := cs.st.syncDir(pdir); err != nil {
		// The file is in place but its entry may not survive a crash; remove it again so
		// that nothing depends on it.
		tmp.Close()
		fsys.Remove(c.path)
		return noSpace(fmt.Errorf("fsync %s: %w", pdir, err))
	}
	c.f, c.hdr = tmp, hdr
	c.raw = img[chunkHeaderSize : chunkHeaderSize+size/chunkBlockSize*chunkEntrySize]
	c.table = make([]blockEntry, hdr.blocks())
	c.slot = 1
	c.slotBuf = make([]byte, chunkSlotSize)
	c.exists, c.broken = true, nil
	return nil
}

// createTemp creates a new read-write temp file on the device.
func (cs *chunkStore) createTemp(devDir, hash string) (faultfs.File, error) {
	dir := filepath.Join(devDir, tmpDir)
	for attempt := 0; ; attempt++ {
		name := filepath.Join(dir, fmt.Sprintf("%s.%016x.chunk.tmp", hash, rand.Uint64()))
		f, err := cs.st.fs.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrNotExist) || attempt > 0 {
			return nil, fmt.Errorf("create temp file: %w", err)
		}
		if err := cs.st.fs.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
	}
}

// chunkChange is what every change of a chunk carries.
type chunkChange struct {
	name       string
	generation uint64
	// size is the chunk size to create the chunk with; zero means the existing chunk's,
	// or client.DefaultChunkSize for a new one. It must match an existing chunk's.
	size int64
	fua  bool
}

// blockUpdate sets one block. For a data block, src is the offset of its bytes in the
// buffer given to apply; updates whose src are consecutive go to disk in one write.
type blockUpdate struct {
	block int
	seq   uint64
	zero  bool
	src   int
}

// chunkResult is what a change reports.
type chunkResult struct {
	version uint64
	skipped int
}

// prepare checks a change against the loaded chunk (check, if set, against the chunk's
// size, before anything is written), applies its fence and, if create is set and the
// chunk is missing, creates it. It reports whether the chunk exists afterwards.
func (cs *chunkStore) prepare(c *openChunk, ch chunkChange, create bool, check func(size int64) error) (bool, error) {
	if err := client.CheckName(ch.name); err != nil {
		return false, err
	}
	if ch.generation == 0 {
		return false, fmt.Errorf("%w: generation 0", client.ErrInvalid)
	}
	if !c.exists {
		if !create {
			return false, nil
		}
		if c.tomb.gen != 0 && ch.generation <= c.tomb.gen {
			// Deleted by that generation: only a newer one may create the chunk again.
			return false, &FencedError{Fence: c.tomb.gen}
		}
		size := ch.size
		if size == 0 {
			size = client.DefaultChunkSize
		}
		if err := client.CheckChunkSize(size); err != nil {
			return false, err
		}
		if ok, version := cs.placePartition(c.dev, c.key.part); !ok {
			// A writer with another ring than ours. Creating the chunk here would give a
			// replica holding only this change to a writer that counts it as current,
			// where the partition's chunks have just moved away.
			return false, fmt.Errorf("%w: partition %d is not on device %s in ring version %d here", client.ErrMisplaced, c.key.part, c.dev, version)
		}
		if check != nil {
			if err := check(size); err != nil {
				return false, err
			}
		}
		if err := cs.create(c, ch.name, size, ch.generation); err != nil {
			return false, err
		}
		if c.tomb.gen != 0 {
			// The new chunk's fence beats the tombstone, so a crash that keeps it is
			// harmless (load removes it); no directory fsync needed.
			cs.st.fs.Remove(tombPathOf(c.path))
			c.tomb = chunkTomb{}
		}
		return true, nil
	}
	if err := c.usable(ch.name); err != nil {
		return true, err
	}
	if ch.size != 0 && ch.size != c.hdr.chunkSize {
		return true, fmt.Errorf("%w: chunk %q is %d bytes, the request says %d", client.ErrInvalid, ch.name, c.hdr.chunkSize, ch.size)
	}
	if check != nil {
		if err := check(c.hdr.chunkSize); err != nil {
			return true, err
		}
	}
	return true, c.fence(ch.generation)
}

// fence refuses a generation older than the chunk's fence, and raises the fence to a newer
// one durably: the header is written and fsynced before the change goes on, so a crash
// cannot lower the fence and let an older writer back in.
func (c *openChunk) fence(gen uint64) error {
	switch {
	case gen < c.hdr.fence:
		return &FencedError{Fence: c.hdr.fence}
	case gen == c.hdr.fence:
		return nil
	}
	c.hdr.fence = gen
	if err := c.writeHeader(); err != nil {
		return err
	}
	applied := c.applied.Load()
	if err := datasync(c.f); err != nil {
		c.broken = fmt.Errorf("fsync %s: %w", c.path, err)
		return fmt.Errorf("%w: %v", client.ErrInternal, c.broken)
	}
	c.slot ^= 1
	c.synced.Store(applied)
	return nil
}

// writeHeader writes the header to the slot header writes go to. Call with c.mu held.
func (c *openChunk) writeHeader() error {
	c.hdr.slotSeq++
	if err := encodeSlot(c.slotBuf, &c.hdr); err != nil {
		return err
	}
	if _, err := c.f.WriteAt(c.slotBuf, int64(c.slot)*chunkSlotSize); err != nil {
		return fmt.Errorf("write %s header: %w", c.path, noSpace(err))
	}
	return nil
}

// chunkWritePiece bounds each data write. The page cache sizes a folio by the write that
// creates it, so one 1 MiB write leaves 1 MiB folios, and every later 4 KiB write into one
// dirties, and makes writeback write, all of it: on ext4 with large folios a random 4 KiB
// rewrite of chunks filled by 1 MiB writes cost about 40 µs in the kernel, against 4 µs
// for chunks filled in 16 KiB pieces (whose sequential writes cost no more).
const chunkWritePiece = 16 << 10

// apply sets blocks, in the order data, block table. ups are in block order, each
// block once. A block the chunk holds at a newer sequence is skipped. Call with c.mu held,
// after prepare.
func (c *openChunk) apply(src []byte, ups []blockUpdate) (chunkResult, error) {
	var res chunkResult
	acc := ups[:0] // filtered in place
	for _, u := range ups {
		if u.seq < c.table[u.block].seq {
			res.skipped++
			continue
		}
		acc = append(acc, u)
	}
	if len(acc) == 0 {
		res.version = c.hdr.version
		return res, nil
	}
	dataOff := chunkDataOffset(c.hdr.chunkSize)
	type run struct{ first, n, src int }
	var runs, holes []run
	for i := 0; i < len(acc); {
		j := i + 1
		for j < len(acc) && acc[j].zero == acc[i].zero && acc[j].block == acc[j-1].block+1 &&
			(acc[i].zero || acc[j].src == acc[j-1].src+chunkBlockSize) {
			j++
		}
		r := run{first: acc[i].block, n: j - i, src: acc[i].src}
		if acc[i].zero {
			holes = append(holes, r)
		} else {
			runs = append(runs, r)
		}
		i = j
	}
	// Reserve the space first: a disk that fills up half-way through would leave blocks
	// whose data no longer matches their table entry. Blocks that hold data already have
	// their space; a run of them needs no call.
	for _, r := range runs {
		if c.holdsData(r.first, r.n) {
			continue
		}
		if err := allocate(c.f, dataOff+int64(r.first)*chunkBlockSize, int64(r.n)*chunkBlockSize); err != nil {
			return res, fmt.Errorf("reserve %d blocks of %s: %w", r.n, c.path, noSpace(err))
		}
	}
	for _, r := range runs {
		b, off := src[r.src:r.src+r.n*chunkBlockSize], dataOff+int64(r.first)*chunkBlockSize
		for len(b) > 0 {
			n := min(len(b), chunkWritePiece)
			if _, err := c.f.WriteAt(b[:n], off); err != nil {
				return res, fmt.Errorf("write %s: %w", c.path, noSpace(err))
			}
			b, off = b[n:], off+int64(n)
		}
	}
	for _, u := range acc {
		e := blockEntry{seq: u.seq, flags: blockZero}
		if !u.zero {
			e = blockEntry{seq: u.seq, crc: uint32(client.ChecksumOf(src[u.src : u.src+chunkBlockSize]))}
		}
		c.table[u.block] = e
		encodeEntry(c.raw[u.block*chunkEntrySize:], e)
		c.hdr.version = max(c.hdr.version, u.seq)
	}
	// The header is not rewritten: its version is a summary that load recomputes from the
	// table, and its fence changes only in fence, so a change costs two writes, not three.
	lo, hi := acc[0].block*chunkEntrySize, (acc[len(acc)-1].block+1)*chunkEntrySize
	if _, err := c.f.WriteAt(c.raw[lo:hi], chunkHeaderSize+int64(lo)); err != nil {
		return res, fmt.Errorf("write %s block table: %w", c.path, noSpace(err))
	}
	for _, r := range holes {
		punchHole(c.f, dataOff+int64(r.first)*chunkBlockSize, int64(r.n)*chunkBlockSize)
	}
	c.applied.Add(1)
	res.version = c.hdr.version
	return res, nil
}

// holdsData reports whether blocks [first, first+n) all hold written data, and so have
// their space allocated. Call with c.mu held.
func (c *openChunk) holdsData(first, n int) bool {
	for _, e := range c.table[first : first+n] {
		if e.seq == 0 || e.flags != 0 {
			return false
		}
	}
	return true
}

// sync makes every change applied so far durable, sharing the fsync with concurrent
// callers. It reports whether there was anything to sync. Call without c.mu.
func (c *openChunk) sync() (bool, error) {
	c.mu.RLock()
	broken := c.broken
	c.mu.RUnlock()
	if broken != nil {
		return false, fmt.Errorf("%w: %v", client.ErrInternal, broken)
	}
	if c.applied.Load() == c.synced.Load() {
		return false, nil
	}
	err := c.commit.sync(nil, func([]string) error {
		c.mu.RLock()
		f, applied := c.f, c.applied.Load()
		c.mu.RUnlock()
		if f == nil {
			return nil
		}
		err := datasync(f)
		c.m.chunkSyncs.Inc()
		c.mu.Lock()
		defer c.mu.Unlock()
		if err != nil {
			if c.broken == nil {
				c.broken = fmt.Errorf("fsync %s: %w", c.path, err)
			}
			return fmt.Errorf("%w: %v", client.ErrInternal, c.broken)
		}
		if applied > c.synced.Load() {
			c.synced.Store(applied)
		}
		return nil
	})
	return true, err
}

// write sets [off, off+len(data)) to data at sequence seq.
func (cs *chunkStore) write(dev string, part uint32, ch chunkChange, off int64, seq uint64, data []byte) (chunkResult, error) {
	if seq == 0 {
		return chunkResult{}, fmt.Errorf("%w: sequence 0", client.ErrInvalid)
	}
	var res chunkResult
	err := cs.change(dev, part, ch.name, ch.fua, func(c *openChunk) error {
		check := func(size int64) error { return client.CheckChunkRange(off, int64(len(data)), size) }
		if _, err := cs.prepare(c, ch, true, check); err != nil {
			return err
		}
		first, n := int(off/chunkBlockSize), len(data)/chunkBlockSize
		ups := make([]blockUpdate, 0, n)
		for i := range n {
			ups = append(ups, blockUpdate{block: first + i, seq: seq, src: i * chunkBlockSize})
		}
		var err error
		res, err = c.apply(data, ups)
		return err
	})
	if err == nil {
		cs.m.chunkWriteBytes.WithLabelValues(dev).Add(float64(len(data) - res.skipped*chunkBlockSize))
	}
	return res, err
}

// zero marks [off, off+length) zero at sequence seq. A missing chunk already reads as
// zeros and is not created.
func (cs *chunkStore) zero(dev string, part uint32, ch chunkChange, off, length int64, seq uint64) (chunkResult, error) {
	if seq == 0 {
		return chunkResult{}, fmt.Errorf("%w: sequence 0", client.ErrInvalid)
	}
	var res chunkResult
	err := cs.change(dev, part, ch.name, ch.fua, func(c *openChunk) error {
		check := func(size int64) error { return client.CheckChunkRange(off, length, size) }
		exists, err := cs.prepare(c, ch, false, check)
		if err != nil || !exists {
			return err
		}
		first, n := int(off/chunkBlockSize), int(length/chunkBlockSize)
		ups := make([]blockUpdate, 0, n)
		for i := range n {
			ups = append(ups, blockUpdate{block: first + i, seq: seq, zero: true})
		}
		res, err = c.apply(nil, ups)
		return err
	})
	return res, err
}

// repair applies blocks copied from another replica, each at its own sequence. Offsets
// must increase.
func (cs *chunkStore) repair(dev string, part uint32, ch chunkChange, blocks []client.ChunkBlock) (chunkResult, error) {
	var res chunkResult
	err := cs.change(dev, part, ch.name, ch.fua, func(c *openChunk) error {
		check := func(size int64) error {
			for i, b := range blocks {
				if err := client.CheckChunkRange(b.Offset, chunkBlockSize, size); err != nil {
					return err
				}
				if i > 0 && b.Offset <= blocks[i-1].Offset {
					return fmt.Errorf("%w: block offsets do not increase (%d after %d)", client.ErrInvalid, b.Offset, blocks[i-1].Offset)
				}
				if b.Sequence == 0 {
					return fmt.Errorf("%w: block at %d has sequence 0", client.ErrInvalid, b.Offset)
				}
				if !b.Zero && len(b.Data) != chunkBlockSize {
					return fmt.Errorf("%w: block at %d has %d bytes", client.ErrInvalid, b.Offset, len(b.Data))
				}
			}
			return nil
		}
		if _, err := cs.prepare(c, ch, true, check); err != nil {
			return err
		}
		// Gather the data in one buffer, so that runs of blocks go to disk in one write.
		ups := make([]blockUpdate, 0, len(blocks))
		var src []byte
		for _, b := range blocks {
			u := blockUpdate{block: int(b.Offset / chunkBlockSize), seq: b.Sequence, zero: b.Zero, src: len(src)}
			if !b.Zero {
				src = append(src, b.Data...)
			}
			ups = append(ups, u)
		}
		var err error
		res, err = c.apply(src, ups)
		return err
	})
	return res, err
}

// read fills buf with [off, off+len(buf)) of the chunk and returns the chunk's version.
// Blocks never written or zeroed read as zeros. If a block's data does not match its
// checksum, nothing is returned but a TornError naming the first such block.
func (cs *chunkStore) read(dev string, part uint32, name string, off int64, buf []byte) (uint64, error) {
	var version uint64
	err := cs.withRead(dev, part, name, func(c *openChunk) error {
		if err := client.CheckChunkRange(off, int64(len(buf)), c.hdr.chunkSize); err != nil {
			return err
		}
		version = c.hdr.version
		return c.readBlocks(cs, int(off/chunkBlockSize), buf)
	})
	if err == nil {
		cs.m.chunkReadBytes.WithLabelValues(dev).Add(float64(len(buf)))
	}
	return version, err
}

// readBlocks reads the blocks from first on into buf and verifies them. Call with c.mu
// held.
func (c *openChunk) readBlocks(cs *chunkStore, first int, buf []byte) error {
	n := len(buf) / chunkBlockSize
	dataOff := chunkDataOffset(c.hdr.chunkSize)
	for i := 0; i < n; {
		e := c.table[first+i]
		if e.damaged() {
			return cs.torn(c, first+i, "block table entry fails its check")
		}
		if e.seq == 0 || e.zero() {
			clear(buf[i*chunkBlockSize : (i+1)*chunkBlockSize])
			i++
			continue
		}
		j := i + 1
		for j < n && c.table[first+j].seq != 0 && c.table[first+j].flags == 0 {
			j++
		}
		p := buf[i*chunkBlockSize : j*chunkBlockSize]
		k, err := c.f.ReadAt(p, dataOff+int64(first+i)*chunkBlockSize)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read %s: %w", c.path, err)
		}
		clear(p[k:]) // past the end of a file a crash cut short: checked like any data
		for b := i; b < j; b++ {
			if sum := client.ChecksumOf(buf[b*chunkBlockSize : (b+1)*chunkBlockSize]); uint32(sum) != c.table[first+b].crc {
				return cs.torn(c, first+b, fmt.Sprintf("data checksum %v, block table %v", sum, client.Checksum(c.table[first+b].crc)))
			}
		}
		i = j
	}
	return nil
}

// torn reports a torn block, logging once per device per minute.
func (cs *chunkStore) torn(c *openChunk, block int, why string) error {
	cs.m.chunkTorn.WithLabelValues(c.dev).Inc()
	off := int64(block) * chunkBlockSize
	if n, ok := cs.warned.allow("torn\x00"+c.dev, 1); ok {
		cs.log.Warn("torn chunk block refused; a replica must repair it", "device", c.dev, "chunk", c.hdr.name,
			"offset", off, "reason", why, "unlogged_since_last_line", n)
	}
	return &TornError{Offset: off}
}

// meta returns the chunk's header and the table entries with a sequence above since (and
// damaged ones, always).
func (cs *chunkStore) meta(dev string, part uint32, name string, since uint64) (client.ChunkMeta, error) {
	var out client.ChunkMeta
	err := cs.withRead(dev, part, name, func(c *openChunk) error {
		out = client.ChunkMeta{Name: c.hdr.name, FormatVersion: chunkFormatVersion, ChunkSizeBytes: c.hdr.chunkSize,
			BlockSizeBytes: chunkBlockSize, Generation: c.hdr.fence, Version: c.hdr.version, Epoch: cs.epoch,
			Blocks: []client.ChunkBlockMeta{}}
		for i, e := range c.table {
			if e.seq > since || e.damaged() {
				out.Blocks = append(out.Blocks, client.ChunkBlockMeta{OffsetBytes: int64(i) * chunkBlockSize,
					Sequence: e.seq, CRC32C: e.crc, Zero: e.zero(), Damaged: e.damaged()})
			}
		}
		return nil
	})
	return out, err
}

// chunkBlocks is what a blocks request returns: the frames and the chunk's state.
type chunkBlocks struct {
	frames  []byte
	version uint64
	fence   uint64
	size    int64
}

// blocks returns the frames of the blocks of [off, off+length) with a sequence above
// since (length 0: to the end), read and verified under one lock so that sequences and
// data agree.
func (cs *chunkStore) blocks(dev string, part uint32, name string, off, length int64, since uint64) (chunkBlocks, error) {
	var out chunkBlocks
	err := cs.withRead(dev, part, name, func(c *openChunk) error {
		if length == 0 && off >= 0 && off < c.hdr.chunkSize {
			length = c.hdr.chunkSize - off
		}
		if err := client.CheckChunkRange(off, length, c.hdr.chunkSize); err != nil {
			return err
		}
		out.version, out.fence, out.size = c.hdr.version, c.hdr.fence, c.hdr.chunkSize
		first, n := int(off/chunkBlockSize), int(length/chunkBlockSize)
		var buf []byte
		for i := first; i < first+n; i++ {
			e := c.table[i]
			if !e.damaged() && e.seq <= since {
				continue
			}
			b := client.ChunkBlock{Offset: int64(i) * chunkBlockSize, Sequence: e.seq, Zero: e.zero()}
			if !e.zero() {
				if buf == nil {
					buf = make([]byte, chunkBlockSize)
				}
				if err := c.readBlocks(cs, i, buf); err != nil {
					return err
				}
				b.Data = buf
			}
			var err error
			if out.frames, err = client.AppendChunkBlock(out.frames, b); err != nil {
				return fmt.Errorf("%w: %v", client.ErrInternal, err)
			}
		}
		return nil
	})
	return out, err
}

// remove deletes the chunk durably, leaving a tombstone at generation gen (chunktomb.go)
// that keeps replication from bringing the chunk back and refuses changes at gen or older.
// A chunk whose header is corrupt can be removed by any generation (its fence is unknown).
// A chunk the node does not hold is already removed: nothing is written unless it has a
// tombstone to raise, or keepTomb asks for one (a replicator handing the delete on).
func (cs *chunkStore) remove(dev string, part uint32, name string, gen uint64, keepTomb bool) error {
	if gen == 0 {
		return fmt.Errorf("%w: generation 0", client.ErrInvalid)
	}
	if err := client.CheckName(name); err != nil {
		return err
	}
	devDir, err := cs.st.devicePath(dev)
	if err != nil {
		return err
	}
	c := cs.acquire(dev, devDir, part, name, false)
	defer cs.release(c)
	c.mu.Lock()
	defer c.mu.Unlock()
	corrupt := false
	if err := c.load(cs.st.fs); err != nil {
		if !errors.Is(err, client.ErrCorrupt) {
			return err
		}
		corrupt = true
		cs.log.Warn("removing a chunk file whose header is corrupt", "device", dev, "path", c.path, "err", err)
	}
	if !corrupt {
		if c.exists && c.hdr.name != name {
			return nil // an MD5 collision: the file is another chunk's
		}
		if !c.exists && (c.tomb.gen >= gen || c.tomb.gen == 0 && !keepTomb) {
			return nil
		}
		if c.exists && gen < c.hdr.fence {
			return &FencedError{Fence: c.hdr.fence}
		}
	}
	pdir := chunkPartDir(devDir, part)
	tomb := chunkTomb{name: name, gen: max(gen, c.tomb.gen), at: cs.st.now()}
	if err := cs.writeTomb(devDir, part, tombPathOf(c.path), tomb); err != nil {
		return err
	}
	c.tomb = tomb
	if err := cs.st.fs.Remove(c.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", c.path, err)
	}
	if err := cs.st.syncDir(pdir); err != nil {
		return fmt.Errorf("fsync %s: %w", pdir, err)
	}
	c.forget()
	return nil
}

// forget drops the handle's chunk after its file was removed. Call with c.mu held.
func (c *openChunk) forget() {
	if c.f != nil {
		// Not closed yet: a flush may be syncing it outside the lock.
		c.retired = append(c.retired, c.f)
	}
	c.f, c.exists, c.loaded, c.broken = nil, false, true, nil
	c.table, c.raw, c.hdr = nil, nil, chunkHeader{}
	c.synced.Store(c.applied.Load())
}

// syncDirFS fsyncs a directory through fsys.
func syncDirFS(fsys faultfs.FS, dir string) error {
	f, err := fsys.OpenFile(dir, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// flush makes every change applied so far to the named chunks of a device durable,
// syncing them concurrently. It returns how many had changes to sync.
func (cs *chunkStore) flush(dev string, refs []client.ChunkRef) (int, error) {
	devDir, err := cs.st.devicePath(dev)
	if err != nil {
		return 0, err
	}
	for _, r := range refs {
		if err := client.CheckName(r.Name); err != nil {
			return 0, err
		}
	}
	const parallel = 32
	var (
		wg       sync.WaitGroup
		sem      = make(chan struct{}, parallel)
		mu       sync.Mutex
		synced   int
		firstErr error
	)
	seen := map[chunkKey]bool{}
	for _, r := range refs {
		key := chunkKey{devDir: devDir, part: r.Partition, hash: nameHash(r.Name)}
		if seen[key] {
			continue
		}
		seen[key] = true
		c := cs.acquire(dev, devDir, r.Partition, r.Name, true)
		if c == nil {
			continue // not open: synced when it was closed, or never written
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			defer cs.release(c)
			did, err := c.sync()
			mu.Lock()
			defer mu.Unlock()
			if did && err == nil {
				synced++
			}
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("chunk %q: %w", r.Name, err)
			}
		})
	}
	wg.Wait()
	return synced, firstErr
}
