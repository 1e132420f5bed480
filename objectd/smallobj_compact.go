package objectd

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Compaction of the small-object log (see smallobj_log.go for why only the oldest segment
// is ever removed). When more than half the bytes of a device's log are dead, the oldest
// sealed segment is rewritten: its live records are appended again, byte for byte, in
// batches like any write, the index is pointed at the copies once they are durable, and
// the segment is removed. This bounds the log at about twice its live bytes (space
// amplification ≤ 2 once a pass has run), and each byte is copied about once per time its
// segment is the oldest (write amplification ≤ 2 at the trigger).
//
// A crash mid-compaction loses nothing: the old segment is removed only after every copy is
// durable; if the removal itself is lost, the rebuild finds each record twice with the same
// timestamp and keeps one (the first), the other is dead.

// compactInterval is how often the node checks whether a log needs compacting.
const compactInterval = 10 * time.Second

// compactBatchBytes bounds the copies appended as one batch.
const compactBatchBytes = 4 << 20

// compactDeadRatio is the share of dead bytes in a device's log above which its oldest
// segments are rewritten.
const compactDeadRatio = 0.5

// compactLogs compacts every open log that needs it and refreshes the space metrics. It
// returns how many segments were rewritten.
func (s *store) compactLogs() int {
	s.logMu.Lock()
	logs := make([]*devLog, 0, len(s.logs))
	for _, l := range s.logs {
		logs = append(logs, l)
	}
	s.logMu.Unlock()
	n := 0
	for _, l := range logs {
		k, err := l.compact()
		n += k
		if err != nil {
			s.log.Warn("small-object log compaction", "device", l.dev, "err", err)
		}
		live, total := l.stats()
		s.m.smallLiveBytes.WithLabelValues(l.dev).Set(float64(live))
		s.m.smallTotalBytes.WithLabelValues(l.dev).Set(float64(total))
	}
	return n
}

// openLogs reads the log of every usable device that has one, before the node serves, so
// that no request waits for a rebuild and a log that cannot be read is reported at start.
// A device whose log fails is logged and tried again on its first use.
func (s *store) openLogs() {
	devs, err := s.devices()
	if err != nil {
		return
	}
	for _, dev := range devs {
		devDir, err := s.devicePath(dev)
		if err != nil {
			continue
		}
		if _, err := s.loadedLog(devDir); err != nil {
			s.log.Error("small-object log", "device", dev, "err", err)
		}
	}
}

// closeLogs closes the active segments at shutdown.
func (s *store) closeLogs() {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	for _, l := range s.logs {
		l.close()
	}
}

// compact rewrites the oldest sealed segments while more than compactDeadRatio of the log
// is dead.
func (l *devLog) compact() (int, error) {
	l.compactMu.Lock()
	defer l.compactMu.Unlock()
	n := 0
	for {
		l.mu.Lock()
		var live, total int64
		oldest := uint64(0)
		for id, st := range l.segs {
			live += st.live
			total += st.size
			if oldest == 0 || id < oldest {
				oldest = id
			}
		}
		active := l.active
		l.mu.Unlock()
		if oldest == 0 || oldest >= active || float64(total-live) <= compactDeadRatio*float64(total) {
			return n, nil
		}
		if err := l.compactSegment(oldest); err != nil {
			return n, fmt.Errorf("segment %s: %w", segName(oldest), err)
		}
		n++
		l.s.m.smallCompacted.Inc()
	}
}

// liveFrame is a record of the segment being compacted that the index points at.
type liveFrame struct {
	part uint32
	hash string
	off  int64
	size int64
}

// compactSegment copies the live records of sealed segment id to the head of the log and
// removes it.
func (l *devLog) compactSegment(id uint64) error {
	b, err := l.readSegment(id)
	if err != nil {
		return err
	}
	var live []liveFrame
	_, err = scanFrames(b, func(off int64, f frame, size int64) error {
		if f.kind != frameRecord {
			return nil // a drop: whatever it removed is in this segment or an older one
		}
		rec, err := recordFrameInfo(f.payload)
		if err != nil {
			return nil
		}
		lf := liveFrame{part: f.part, hash: nameHash(rec.Info.Name), off: off, size: size}
		if l.pointsAt(lf, id) {
			live = append(live, lf)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := l.dropDamaged(id, live); err != nil {
		return err
	}
	for len(live) > 0 {
		var batch []liveFrame
		var bytes int64
		for len(live) > 0 && (len(batch) == 0 || bytes+live[0].size <= compactBatchBytes) {
			batch = append(batch, live[0])
			bytes += live[0].size
			live = live[1:]
		}
		if err := l.copyFrames(id, b, batch); err != nil {
			return err
		}
		if h := l.s.compactHook; h != nil {
			h("copied")
		}
	}
	l.mu.Lock()
	left := l.segs[id].live
	if left == 0 {
		delete(l.segs, id)
	}
	l.mu.Unlock()
	if left != 0 {
		return fmt.Errorf("%d live bytes left after copying", left)
	}
	if err := l.s.fs.Remove(l.segPath(id)); err != nil {
		return err
	}
	if h := l.s.compactHook; h != nil {
		h("removed")
	}
	// Not needed for safety (a segment that comes back holds only duplicates and dead
	// frames), but it keeps the reclaimed space from coming back after a crash.
	return l.s.syncDir(l.dir)
}

// dropDamaged drops the index entries that point into segment seg at a frame the scan did
// not find whole (found): the disk damaged them since the log was read. They are lost
// here, as a quarantined file is, and replication brings them back from a peer; without
// this the segment could never be removed, and compaction, which takes the oldest segment
// first, would stop for good.
func (l *devLog) dropDamaged(seg uint64, found []liveFrame) error {
	ok := make(map[int64]bool, len(found))
	for _, f := range found {
		ok[f.off] = true
	}
	var bad []liveFrame
	l.mu.Lock()
	for part, sfxs := range l.index {
		for _, hashes := range sfxs {
			for hash, e := range hashes {
				if e.seg == seg && !ok[e.off] {
					bad = append(bad, liveFrame{part: part, hash: hash, off: e.off, size: e.size})
				}
			}
		}
	}
	l.mu.Unlock()
	for _, f := range bad {
		unlock := l.s.lock(f.hash)
		e, held := l.lookup(f.part, f.hash)
		if held && e.seg == seg && e.off == f.off {
			if _, err := l.appendDrop(f.part, f.hash, e.ts); err != nil {
				unlock()
				return err
			}
			l.s.hashes.invalidate(l.dev, f.part, suffixOf(f.hash))
			l.s.m.quarantined.WithLabelValues(l.dev).Inc()
			l.s.log.Warn("small-object log: damaged record dropped while compacting", "device", l.dev,
				"partition", f.part, "hash", f.hash, "segment", segName(seg), "offset", f.off)
		}
		unlock()
	}
	return nil
}

func (l *devLog) pointsAt(lf liveFrame, seg uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur := l.lookupLocked(lf.part, lf.hash)
	return cur != nil && cur.seg == seg && cur.off == lf.off
}

// copyFrames appends copies of frames of segment seg (whose bytes are b) as one batch and
// points the index at them. The names' locks are held throughout, so no drop of one of them
// is appended between the check and the copy: a drop before its copy would be undone by
// the rebuild. A name written meanwhile keeps its newer version; its copy is dead.
func (l *devLog) copyFrames(seg uint64, b []byte, frames []liveFrame) error {
	hashes := make([]string, len(frames))
	for i, f := range frames {
		hashes[i] = f.hash
	}
	unlock := l.s.lockMany(hashes)
	defer unlock()
	var ops []*logOp
	for _, f := range frames {
		if !l.pointsAt(f, seg) {
			continue
		}
		f := f
		op := &logOp{frame: slices.Clone(b[f.off : f.off+f.size])}
		op.apply = func(newSeg uint64, newOff int64) {
			cur := l.lookupLocked(f.part, f.hash)
			if cur == nil || cur.seg != seg || cur.off != f.off {
				return
			}
			l.segs[seg].live -= cur.size
			cur.seg, cur.off = newSeg, newOff
			l.segStat(newSeg).live += cur.size
		}
		ops = append(ops, op)
	}
	if len(ops) == 0 {
		return nil
	}
	return l.submit(ops...)
}

// lockMany takes the locks of several name hashes, in stripe order so that two callers
// cannot deadlock, and returns the function releasing them.
func (s *store) lockMany(hashes []string) func() {
	var idx []int
	for _, h := range hashes {
		i, _ := strconv.ParseUint(h[:2], 16, 8)
		if !slices.Contains(idx, int(i)) {
			idx = append(idx, int(i))
		}
	}
	slices.Sort(idx)
	held := make([]*sync.Mutex, 0, len(idx))
	for _, i := range idx {
		s.locks[i].Lock()
		held = append(held, &s.locks[i])
	}
	return func() {
		for _, mu := range held {
			mu.Unlock()
		}
	}
}
