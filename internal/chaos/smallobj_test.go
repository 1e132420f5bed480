package chaos

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	objclient "stratus/objectd/client"
	"strings"
	"testing"
	"time"
)

// Scenarios with the storage nodes' small-object log switched on: versions are records in
// per-device segment files instead of files of their own, so the faults must hit the log.

// logOptions is a cluster with the log on for every object the load writes, segments small
// enough that a short load seals dozens, and compaction checked several times a second.
func logOptions(o clusterOptions) clusterOptions {
	o.smallObjectMax = 64 << 10
	o.segmentMax = 64 << 10
	o.compactInterval = 200 * time.Millisecond
	return o
}

// logLoad is small objects only (all in the log), mostly overwrites and deletes so that
// most of the log is dead and compaction keeps running.
func logLoad() loadOptions {
	o := baseLoad()
	o.sizes = []int{512, 2 << 10, 8 << 10, 32 << 10}
	o.putPct, o.delPct = 70, 20
	if *keysFlag == 0 {
		o.keys = 10 // few live bytes: the log is soon mostly dead
	}
	return o
}

// 10. objectd is SIGKILLed while it compacts its small-object log, under a load of small
// overwrites and deletes, and restarted, several times (each time after a run without
// compaction has left it a backlog of dead segments): no acknowledged version is lost or
// rolled back, no torn record is served, and the restarted node reclaims the dead space.
func TestKillDuringCompaction(t *testing.T) {
	opts := logOptions(clusterOptions{})
	c := startCluster(t, opts)
	victim := c.nodes[1]
	const compacted = "stratus_objectd_smallobj_segments_compacted_total"
	rounds := 2
	if *long {
		rounds = 8
	}
	// Cold keys written once, then the load on a quarter of them: the old segments
	// compaction rewrites hold live records to copy among the dead ones.
	o := logLoad()
	o.keys = 40
	ck := preload(c, o)
	ck.opts.keys = 10
	ck.start()
	start := time.Now()
	restart := func(compactEvery time.Duration) {
		must(t, victim.p.kill())
		victim.p.setArg("--small-object-compact-interval", compactEvery.String())
		must(t, victim.p.start())
		c.waitHTTP(victim.p, "https://"+victim.addr+objclient.PathMetrics)
	}
	var peakLog int64     // the most the victim's logs held at a kill
	var killedAt []string // seconds into the load
	midCopy := 0          // kills that left a compaction's copies and their source both on disk
	for range rounds {
		// A backlog first: the victim runs without compacting while the load overwrites
		// and deletes, so that its next process starts with a long pass to make.
		restart(time.Hour)
		grown := victim.logBytes() + 2<<20
		c.eventually(victim.p, time.Minute, func() error {
			if b := victim.logBytes(); b < grown {
				return fmt.Errorf("%s's logs hold %d bytes, waiting for %d", victim.name, b, grown)
			}
			return nil
		})
		restart(opts.compactInterval)
		// The pass removes the oldest segments one by one: the first one gone means it is
		// under way, with most of the backlog still to rewrite, so the kill lands inside
		// it. Watched on the disk, not through /metrics, to kill within a millisecond.
		oldest := map[string]string{}
		for _, d := range victim.devices {
			if segs := victim.logSegments(d); len(segs) > 0 {
				oldest[d] = segs[0]
			}
		}
		deadline := time.Now().Add(time.Minute)
	watch:
		for {
			for d, seg := range oldest {
				if segs := victim.logSegments(d); len(segs) > 0 && segs[0] != seg {
					break watch
				}
			}
			if time.Now().After(deadline) || victim.p.exited() {
				t.Fatalf("%s did not compact: %s", victim.name, victim.p.logTail(2<<10))
			}
			time.Sleep(time.Millisecond)
		}
		// Aim for the worst moment, when the copies of a segment's live records are
		// written (perhaps not yet synced) and the segment is not removed yet: watch for a
		// record in two segments for up to two seconds. Without one (the pass may rewrite
		// segments holding nothing live), the kill lands wherever the pass is.
		for aim := time.Now().Add(2 * time.Second); time.Now().Before(aim); {
			if victim.copiedFrames("d0")+victim.copiedFrames("d1") > 0 {
				break
			}
		}
		must(t, victim.p.kill())
		killedAt = append(killedAt, fmt.Sprintf("%.1f", time.Since(start).Seconds()))
		peakLog = max(peakLog, victim.logBytes())
		for _, d := range victim.devices {
			if victim.copiedFrames(d) > 0 {
				midCopy++
				break
			}
		}
		time.Sleep(time.Second) // writes go on without it, leaving it behind
		must(t, victim.p.start())
		c.waitHTTP(victim.p, "https://"+victim.addr+objclient.PathMetrics)
	}
	time.Sleep(loadTime() / 3)
	ck.stop()
	atStop := victim.logBytes()
	healed := ck.waitRedundant(3 * time.Minute)
	// Every copy the victim should hold reads whole from it: a record torn by a kill is
	// never served.
	bad := 0
	for _, d := range victim.devices {
		bad += c.checkDevice(ck, victim, d)
	}
	// With the load stopped, compaction brings every device's log to at most about twice
	// its live bytes (plus the active segment and the one being sealed, which it does not
	// rewrite).
	var live, total float64
	slack := float64(2*opts.segmentMax) * float64(len(victim.devices))
	c.eventually(victim.p, time.Minute, func() error {
		live = c.metric(victim, "stratus_objectd_smallobj_live_bytes")
		total = c.metric(victim, "stratus_objectd_smallobj_bytes")
		if total == 0 || total > 2*live+slack {
			return fmt.Errorf("%s's logs hold %.0f bytes for %.0f live", victim.name, total, live)
		}
		return nil
	})
	after := victim.logBytes()
	// The counter restarted with the process: compaction ran in it, after the crash.
	compactedAfter := c.metric(victim, compacted)
	f := ck.verify()
	f.redundancySeconds = healed.Seconds()
	f.extra = fmt.Sprintf("kills_while_compacting=%d kills_between_copy_and_remove=%d killed_at_s=%s bad_on_victim=%d log_bytes_at_kill_max=%d log_bytes_at_stop=%d log_bytes_after=%d live_bytes=%.0f segments_compacted_after_restart=%.0f",
		rounds, midCopy, strings.Join(killedAt, ","), bad, peakLog, atStop, after, live, compactedAfter)
	ck.report("kill-during-compaction", f)
	if f.badReads > 0 {
		t.Errorf("%d reads returned wrong bytes", f.badReads)
	}
	if bad > 0 {
		t.Errorf("%d copies on %s unreadable after the kills", bad, victim.name)
	}
	if compactedAfter == 0 {
		t.Errorf("%s compacted nothing after its restart", victim.name)
	}
}

// 3b. TestBitRot with the log on: the flipped bytes are inside log records, which the
// auditor must find and quarantine, and the replicator must restore.
func TestBitRotLog(t *testing.T) {
	c := startCluster(t, logOptions(clusterOptions{auditInterval: time.Second, auditBytesPerSecond: 64 << 20}))
	o := logLoad()
	o.keys = baseLoad().withDefaults().keys // as many objects as bit-rot has files
	ck := preload(c, o)
	victim := c.nodes[3]
	// After the preload each key was written once: every record in the log is live.
	recs := victim.logRecords("d0")
	if files, _ := victim.dataFiles("d0"); len(files) > 0 {
		t.Fatalf("%d object files on a device whose objects should all be in its log", len(files))
	}
	n := max(2, (len(recs)+99)/100)
	if len(recs) < n {
		t.Fatalf("the device to corrupt holds %d log records", len(recs))
	}
	q0 := c.metric(victim, "stratus_objectd_quarantined_total")
	// Spread over the log rather than the first few records of one segment.
	for i := range n {
		must(t, recs[i*len(recs)/n].flip())
	}
	ck.opts.putPct, ck.opts.delPct = 0, 0 // reads only: they must never return corrupt bytes
	ck.start()
	start := time.Now()
	c.eventually(victim.p, 2*time.Minute, func() error {
		if q := c.metric(victim, "stratus_objectd_quarantined_total") - q0; q < float64(n) {
			return fmt.Errorf("%v of %d corrupted log records quarantined", q, n)
		}
		return nil
	})
	found := time.Since(start)
	ck.waitRedundant(3 * time.Minute)
	repaired := time.Since(start)
	ck.stop()
	bad := c.checkDevice(ck, victim, "d0")
	f := ck.verify()
	f.redundancySeconds = repaired.Seconds()
	f.extra = fmt.Sprintf("records=%d corrupted=%d quarantined=%.0f found_s=%.1f bad_after_repair=%d",
		len(recs), n, c.metric(victim, "stratus_objectd_quarantined_total")-q0, found.Seconds(), bad)
	ck.report("bit-rot-log", f)
	if f.badReads > 0 {
		t.Errorf("%d reads returned wrong bytes", f.badReads)
	}
	if bad > 0 {
		t.Errorf("%d objects on the corrupted device still unreadable after repair", bad)
	}
}

// logSegments lists the small-object log segments of a device of n, in append order.
func (n *storageNode) logSegments(device string) []string {
	paths, _ := filepath.Glob(filepath.Join(n.dir, device, "objlog", "*.log"))
	slices.Sort(paths)
	return paths
}

// logBytes sums the sizes of n's log segments.
func (n *storageNode) logBytes() int64 {
	var total int64
	for _, d := range n.devices {
		for _, p := range n.logSegments(d) {
			if st, err := os.Stat(p); err == nil {
				total += st.Size()
			}
		}
	}
	return total
}

// logRecord is where one record's payload sits in a segment file.
type logRecord struct {
	path     string
	off, len int64 // of the payload
}

// The segment frame layout (objectd/smallobj_format.go), read here from the outside as a
// disk would be damaged: magic, kind, partition, payload length, checksums, payload, padding.
const (
	segFrameMagic  = "SOLG"
	segFrameHeader = 24
	segKindRecord  = 1
)

// logRecords lists the record frames of a device's log (drops left out), walking each
// segment frame by frame and stopping at anything that is not a whole frame.
func (n *storageNode) logRecords(device string) []logRecord {
	var recs []logRecord
	for _, p := range n.logSegments(device) {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for off := int64(0); off+segFrameHeader <= int64(len(b)); {
			h := b[off : off+segFrameHeader]
			if string(h[:4]) != segFrameMagic {
				break
			}
			plen := int64(binary.LittleEndian.Uint32(h[12:]))
			size := (segFrameHeader + plen + 7) &^ 7
			if off+size > int64(len(b)) {
				break
			}
			if h[4] == segKindRecord {
				recs = append(recs, logRecord{path: p, off: off + segFrameHeader, len: plen})
			}
			off += size
		}
	}
	return recs
}

// copiedFrames counts the record frames of a device's log found whole in more than one
// segment. Every version the load writes is different, so the only such frames are the
// copies compaction appended of a segment it had not removed yet.
func (n *storageNode) copiedFrames(device string) int {
	segsOf := map[string]map[string]bool{}
	segBytes := map[string][]byte{}
	for _, r := range n.logRecords(device) {
		b, ok := segBytes[r.path]
		if !ok {
			b, _ = os.ReadFile(r.path)
			segBytes[r.path] = b
		}
		if r.off+r.len > int64(len(b)) {
			continue
		}
		k := string(b[r.off : r.off+r.len])
		if segsOf[k] == nil {
			segsOf[k] = map[string]bool{}
		}
		segsOf[k][r.path] = true
	}
	copies := 0
	for _, segs := range segsOf {
		if len(segs) > 1 {
			copies++
		}
	}
	return copies
}

// flip inverts one byte of the record's payload near its end, where the content is,
// keeping the segment's size and modification time, as silent corruption would.
func (r logRecord) flip() error {
	f, err := os.OpenFile(r.path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	off := r.off + r.len - 1 - r.len/7
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		return err
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return os.Chtimes(r.path, st.ModTime(), st.ModTime())
}
