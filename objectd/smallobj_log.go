package objectd

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"stratus/internal/faultfs"
	"stratus/internal/hlc"
	"stratus/objectd/client"
)

// The small-object log: versions up to Config.SmallObjectMax bytes (and tombstones) are
// appended to one log per device instead of each becoming a file in its own hash directory.
//
//	<device>/objlog/<segment>.log    16 hex digits, in append order
//
// A file costs three inode creations (temp file, and often a suffix and a hash directory),
// a file fsync, a rename and a directory barrier; a log record costs its share of one
// write and one fdatasync of the active segment, shared by every writer of the batch
// (group commit). One log per device, not per partition, so that a batch is one
// fdatasync whatever partitions its writers hit; replication and rebalancing still work
// per partition, through the in-memory index, which is keyed by partition, suffix and
// name hash exactly like the directory tree.
//
// Durability: a writer's frame is written with its batch and acknowledged only after the
// fdatasync that follows succeeds. A new segment's directory entry is fsynced before any
// frame is written to it. The index is changed by the batch leader, after the fdatasync,
// in log order, with the same rules the rebuild at start applies in the same order, so the
// index after a restart is the index before it, minus unacknowledged frames that did not
// reach the disk. A failed write or fdatasync fails the log until restart: after an
// fdatasync error the page cache may no longer say what the disk holds.
//
// Rebuild: segments are read in order and every frame is checked (frame and payload
// CRC-32C). A damaged stretch is skipped to the next whole frame; a torn tail (the batch
// being written at a power cut) is never read as a record, and appends continue in a new
// segment, so the torn bytes stay dead in a sealed segment until compacted.
//
// Garbage and compaction (smallobj_compact.go): overwrites, deletes and drops leave dead
// frames. Space is reclaimed by rewriting the oldest segment (FIFO): its live records are
// appended again, unchanged, and the segment is removed once they are durable. Only the
// oldest segment is ever removed, which keeps the rebuild rules sound without sequence
// numbers: a frame that killed another (a newer version, a drop) was appended after it, so
// whatever it killed is in its segment or an older one, and is gone before it is.

const (
	logDir = "objlog"
	logExt = ".log"
	// segmentMaxBytes is when the active segment is sealed and a new one started. Small
	// enough that rewriting the oldest one is a short job, large enough that a device holds
	// few of them.
	segmentMaxBytes = 64 << 20
)

// segmentMax is when the active segment is sealed.
func (s *store) segmentMax() int64 {
	if s.segMax > 0 {
		return s.segMax
	}
	return segmentMaxBytes
}

// logEntry is where the version of one name hash lives in the log.
type logEntry struct {
	seg    uint64
	off    int64 // of the frame
	size   int64 // of the frame, padding included
	ts     hlc.Timestamp
	kind   client.Kind
	hdrLen int64 // the record's header length: content is at off+frameHeaderLen+hdrLen
	length int64 // content length
}

func (e *logEntry) version() version { return version{ts: e.ts, kind: e.kind} }

// olderThan reports whether a version (ts, kind) wins over e under last-writer-wins: a later
// timestamp, or at equal ones a tombstone over data.
func (e *logEntry) olderThan(ts hlc.Timestamp, kind client.Kind) bool {
	return e.ts < ts || e.ts == ts && kind == client.KindTombstone && e.kind == client.KindData
}

type segStat struct {
	size int64 // bytes of frames in it (and, for a sealed one, any torn stretch)
	live int64 // bytes of frames the index points at
}

// devLog is the log of one device. Safe for concurrent use.
type devLog struct {
	s      *store
	dev    string
	devDir string
	dir    string

	mu     sync.Mutex
	index  map[uint32]map[string]map[string]*logEntry // partition → suffix → hash
	segs   map[uint64]*segStat
	active uint64

	// Appending: one batch at a time, led by one of its writers (as groupCommit).
	qmu     sync.Mutex
	running bool
	next    *logBatch
	f       faultfs.File // the active segment; only the leader touches it
	size    int64        // its length
	failed  error        // set by a failed write or fdatasync; the log refuses appends after

	compactMu sync.Mutex // one compaction at a time
}

// logOp is one frame to append, and what to do to the index once it is durable.
type logOp struct {
	frame []byte
	apply func(seg uint64, off int64) // with devLog.mu held, in log order
	err   error
}

type logBatch struct {
	ops  []*logOp
	lead chan struct{}
	done chan struct{}
}

func segName(id uint64) string { return fmt.Sprintf("%016x%s", id, logExt) }

func (l *devLog) segPath(id uint64) string { return filepath.Join(l.dir, segName(id)) }

// devLog returns the log of a device, reading it on first use.
func (s *store) devLog(devDir string) (*devLog, error) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if l := s.logs[devDir]; l != nil {
		return l, nil
	}
	l := &devLog{s: s, dev: filepath.Base(devDir), devDir: devDir, dir: filepath.Join(devDir, logDir),
		index: map[uint32]map[string]map[string]*logEntry{}, segs: map[uint64]*segStat{}}
	if err := l.load(); err != nil {
		return nil, fmt.Errorf("small-object log of %s: %w", l.dev, err)
	}
	if s.logs == nil {
		s.logs = map[string]*devLog{}
	}
	s.logs[devDir] = l
	return l, nil
}

// loadedLog returns the device's log if it exists on disk or is open, nil otherwise: readers
// of a device that never had a small object pay one stat.
func (s *store) loadedLog(devDir string) (*devLog, error) {
	s.logMu.Lock()
	l, none := s.logs[devDir], s.noLog[devDir]
	s.logMu.Unlock()
	if l != nil || none {
		return l, nil
	}
	if _, err := s.fs.Stat(filepath.Join(devDir, logDir)); errors.Is(err, fs.ErrNotExist) {
		if s.smallMax == 0 {
			s.logMu.Lock()
			if s.noLog == nil {
				s.noLog = map[string]bool{}
			}
			s.noLog[devDir] = true
			s.logMu.Unlock()
		}
		return nil, nil
	}
	return s.devLog(devDir)
}

// load rebuilds the index from the segments on disk. No segment is created until the
// first append.
func (l *devLog) load() error {
	ents, err := l.s.fs.ReadDir(l.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var ids []uint64
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, logExt) || len(name) != 16+len(logExt) {
			continue
		}
		if id, err := strconv.ParseUint(strings.TrimSuffix(name, logExt), 16, 64); err == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for i, id := range ids {
		b, err := l.readSegment(id)
		if err != nil {
			return err
		}
		st := &segStat{size: int64(len(b))}
		l.segs[id] = st
		end, err := scanFrames(b, func(off int64, f frame, size int64) error {
			l.applyFrame(id, off, f, size)
			return nil
		})
		if err != nil {
			return err
		}
		if i == len(ids)-1 {
			l.active = id
			if end == int64(len(b)) {
				f, err := l.s.fs.OpenFile(l.segPath(id), os.O_WRONLY, 0)
				if err != nil {
					return err
				}
				l.f, l.size = f, end // continue in it
			} else {
				// A torn tail: it stays behind in a sealed segment, never read as a record;
				// the first append starts a new segment.
				l.s.log.Warn("small-object log: torn tail ignored", "device", l.dev, "segment", segName(id),
					"at", end, "bytes", int64(len(b))-end)
			}
		}
	}
	return nil
}

func (l *devLog) readSegment(id uint64) ([]byte, error) {
	f, err := l.s.fs.OpenFile(l.segPath(id), os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// applyFrame applies one frame found at start. With mu held (or before the log is shared).
func (l *devLog) applyFrame(seg uint64, off int64, f frame, size int64) {
	switch f.kind {
	case frameRecord:
		rec, err := recordFrameInfo(f.payload)
		if err != nil {
			return // checksummed but not a record we can serve: dead
		}
		l.install(f.part, nameHash(rec.Info.Name), &logEntry{seg: seg, off: off, size: size,
			ts: rec.Info.Timestamp, kind: rec.Kind, hdrLen: rec.HeaderLen, length: rec.Info.Length})
	case frameDrop:
		if hash, ts, err := parseDrop(f.payload); err == nil {
			l.drop(f.part, hash, ts)
		}
	}
}

// install makes e the entry of hash if it wins over the current one, and returns the entry
// that holds the name afterwards. With mu held.
func (l *devLog) install(part uint32, hash string, e *logEntry) (held *logEntry) {
	sfx := suffixOf(hash)
	cur := l.lookupLocked(part, hash)
	if cur != nil && !cur.olderThan(e.ts, e.kind) {
		return cur
	}
	if cur != nil {
		l.segs[cur.seg].live -= cur.size
	}
	if l.index[part] == nil {
		l.index[part] = map[string]map[string]*logEntry{}
	}
	if l.index[part][sfx] == nil {
		l.index[part][sfx] = map[string]*logEntry{}
	}
	l.index[part][sfx][hash] = e
	l.segStat(e.seg).live += e.size
	return e
}

// drop removes the entry of hash if it is not newer than ts, and reports whether it did.
// With mu held.
func (l *devLog) drop(part uint32, hash string, ts hlc.Timestamp) bool {
	cur := l.lookupLocked(part, hash)
	if cur == nil || cur.ts > ts {
		return false
	}
	l.segs[cur.seg].live -= cur.size
	sfx := suffixOf(hash)
	delete(l.index[part][sfx], hash)
	if len(l.index[part][sfx]) == 0 {
		delete(l.index[part], sfx)
	}
	if len(l.index[part]) == 0 {
		delete(l.index, part)
	}
	return true
}

func (l *devLog) segStat(id uint64) *segStat {
	st := l.segs[id]
	if st == nil {
		st = &segStat{}
		l.segs[id] = st
	}
	return st
}

func (l *devLog) lookupLocked(part uint32, hash string) *logEntry {
	return l.index[part][suffixOf(hash)][hash]
}

// lookup returns a copy of the entry of hash, if the log holds one.
func (l *devLog) lookup(part uint32, hash string) (logEntry, bool) {
	if l == nil {
		return logEntry{}, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.lookupLocked(part, hash); e != nil {
		return *e, true
	}
	return logEntry{}, false
}

// partitions lists the partitions with entries.
func (l *devLog) partitions() []uint32 {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]uint32, 0, len(l.index))
	for p := range l.index {
		out = append(out, p)
	}
	return out
}

// suffixes lists the suffixes of a partition with entries.
func (l *devLog) suffixes(part uint32) []string {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.index[part]))
	for sfx := range l.index[part] {
		out = append(out, sfx)
	}
	return out
}

// hashes lists the name hashes of a suffix with entries.
func (l *devLog) hashes(part uint32, suffix string) []string {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.index[part][suffix]))
	for h := range l.index[part][suffix] {
		out = append(out, h)
	}
	return out
}

// appendRecord appends a record frame and returns the entry holding the name once it is
// durable: e itself if it won, or the newer one that refused it.
func (l *devLog) appendRecord(part uint32, hash string, frame []byte, rec client.Record) (held logEntry, installed bool, err error) {
	op := &logOp{frame: frame}
	op.apply = func(seg uint64, off int64) {
		e := &logEntry{seg: seg, off: off, size: int64(len(frame)), ts: rec.Info.Timestamp, kind: rec.Kind,
			hdrLen: rec.HeaderLen, length: rec.Info.Length}
		h := l.install(part, hash, e)
		held, installed = *h, h == e
	}
	err = l.submit(op)
	return held, installed, err
}

// appendDrop removes the entry of hash if it is not newer than ts, durably: the drop frame
// is on disk before the entry leaves the index. Call with the name's lock held, so that no
// compaction copy of the entry is appended after the drop.
func (l *devLog) appendDrop(part uint32, hash string, ts hlc.Timestamp) (bool, error) {
	var dropped bool
	op := &logOp{frame: appendFrame(nil, frameDrop, part, dropPayload(hash, ts))}
	op.apply = func(uint64, int64) { dropped = l.drop(part, hash, ts) } // a drop frame is never live
	err := l.submit(op)
	return dropped, err
}

// submit appends the ops' frames, in order, with the batch being collected and returns once
// that batch is durable and applied, or failed.
func (l *devLog) submit(ops ...*logOp) error {
	l.qmu.Lock()
	b := l.next
	if b == nil {
		b = &logBatch{lead: make(chan struct{}, 1), done: make(chan struct{})}
		l.next = b
	}
	b.ops = append(b.ops, ops...)
	if !l.running {
		l.running = true
		b.lead <- struct{}{}
	}
	l.qmu.Unlock()

	select {
	case <-b.done:
		return ops[0].err
	case <-b.lead:
	}
	l.qmu.Lock()
	l.next = nil // b stops collecting; later writers start the next batch
	l.qmu.Unlock()
	l.runBatch(b)
	close(b.done)
	l.qmu.Lock()
	if l.next != nil {
		l.next.lead <- struct{}{}
	} else {
		l.running = false
	}
	l.qmu.Unlock()
	return ops[0].err
}

// runBatch writes a batch's frames with one write and one fdatasync, then applies them to
// the index in order. Only the leader calls it.
func (l *devLog) runBatch(b *logBatch) {
	fail := func(err error) {
		for _, op := range b.ops {
			op.err = err
		}
	}
	if l.failed != nil {
		fail(l.failed)
		return
	}
	var n int
	for _, op := range b.ops {
		n += len(op.frame)
	}
	if l.f == nil || l.size > 0 && l.size+int64(n) > l.s.segmentMax() {
		if err := l.roll(); err != nil {
			fail(noSpace(err))
			return
		}
	}
	buf := make([]byte, 0, n)
	for _, op := range b.ops {
		buf = append(buf, op.frame...)
	}
	start := l.size
	if _, err := l.f.WriteAt(buf, start); err != nil {
		l.failed = fmt.Errorf("write %s: %w", l.f.Name(), noSpace(err))
		fail(l.failed)
		return
	}
	if err := datasync(l.f); err != nil {
		l.failed = fmt.Errorf("fdatasync %s: %w", l.f.Name(), noSpace(err))
		fail(l.failed)
		return
	}
	l.size += int64(n)
	l.mu.Lock()
	l.segStat(l.active).size = l.size
	off := start
	for _, op := range b.ops {
		op.apply(l.active, off)
		off += int64(len(op.frame))
	}
	l.mu.Unlock()
	l.s.m.smallBatches.Inc()
	l.s.m.smallBatchFrames.Observe(float64(len(b.ops)))
}

// roll starts a new active segment, durably named before anything is written to it.
func (l *devLog) roll() error {
	if err := l.s.mkdirs(l.devDir, l.dir); err != nil {
		return err
	}
	id := l.active + 1
	f, err := l.s.fs.OpenFile(l.segPath(id), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("create segment: %w", err)
	}
	if err := l.s.syncDir(l.dir); err != nil {
		f.Close()
		l.s.fs.Remove(l.segPath(id))
		return fmt.Errorf("fsync %s: %w", l.dir, err)
	}
	if l.f != nil {
		l.f.Close()
	}
	l.f, l.size = f, 0
	l.mu.Lock()
	l.active = id
	l.segStat(id)
	l.mu.Unlock()
	return nil
}

// close closes the active segment. Everything in it is already durable.
func (l *devLog) close() {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	if l.f != nil && !l.running {
		l.f.Close()
		l.f = nil
	}
}

// stats returns the bytes of live frames and of all frames.
func (l *devLog) stats() (live, total int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, st := range l.segs {
		live += st.live
		total += st.size
	}
	return live, total
}
