package objectd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"stratus/internal/hlc"
	"stratus/objectd/client"
)

const testSmallMax = 256 << 10

func withLog(c *Config) { c.SmallObjectMax = testSmallMax }

// TestSmallObjectLogBehavesAsFiles reruns the tests of the object API, replication,
// handoffs and the auditor with the small-object log switched the other way from the
// default (on, while it is off by default): every behaviour the file layout is tested for
// must hold on log records (the large objects of those tests still go to files, so names
// move between the two), and the other way round.
func TestSmallObjectLogBehavesAsFiles(t *testing.T) {
	other := testSmallMax
	if DefaultConfig().SmallObjectMax > 0 {
		other = 0
	}
	t.Setenv("STRATUS_TEST_SMALL_OBJECT_MAX", strconv.Itoa(other))
	for name, fn := range map[string]func(*testing.T){
		"PutGetHeadRangeDelete":    TestPutGetHeadRangeDelete,
		"TimestampOrdering":        TestTimestampOrdering,
		"ConcurrentPutDeleteRace":  TestConcurrentPutDeleteRace,
		"QuarantineOnRead":         TestQuarantineOnRead,
		"TombstoneReclaim":         TestTombstoneReclaim,
		"GetVersion":               TestGetVersion,
		"SuffixHashesInvalidated":  TestSuffixHashesInvalidatedOnWrite,
		"ClusterConverges":         TestClusterConvergesFromTwoOfThree,
		"ClusterAuditorQuarantine": TestClusterAuditorQuarantineThenReplicationRestores,
		"ClusterHandoff":           TestClusterHandoffMovesToPrimaries,
		"HandoffKeptPrimaryDown":   TestHandoffKeptWhileAPrimaryIsDown,
	} {
		t.Run(name, fn)
	}
}

func devLogOf(t testing.TB, n *testNode, dev string) *devLog {
	t.Helper()
	l, err := n.srv.store.devLog(filepath.Join(n.dir, dev))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestSmallObjectLogRebuild writes, overwrites and deletes small objects over several
// partitions, restarts the node, and finds every answer the same: the index is rebuilt
// from the segments. No object file or directory is created for them.
func TestSmallObjectLogRebuild(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, withLog)
	want := map[string]client.Info{}
	body := map[string][]byte{}
	deleted := map[string]hlc.Timestamp{}
	name := func(i int) string { return fmt.Sprintf("obj-%d", i) }
	part := func(i int) uint32 { return uint32(i % 5) }
	for i := range 60 {
		b := payload(i*131, uint64(i))
		mustPut(t, n, n.target("d1", part(i)), name(i), ts(i+1), b)
		body[name(i)] = b
	}
	for i := 0; i < 60; i += 3 { // overwrite a third
		b := payload(4096, uint64(1000+i))
		mustPut(t, n, n.target("d1", part(i)), name(i), ts(100+i), b)
		body[name(i)] = b
	}
	for i := 1; i < 60; i += 7 { // delete some
		if err := n.cl.Delete(ctxT(t), n.target("d1", part(i)), name(i), ts(200+i)); err != nil {
			t.Fatal(err)
		}
		deleted[name(i)] = ts(200 + i)
	}
	check := func(n *testNode) {
		t.Helper()
		for i := range 60 {
			info, got, err := get(t, n, n.target("d1", part(i)), name(i))
			if at, ok := deleted[name(i)]; ok {
				var se *client.StatusError
				if !errors.As(err, &se) || !errors.Is(err, client.ErrNotFound) || se.Timestamp != at {
					t.Fatalf("%s: %v, want deleted at %v", name(i), err, at)
				}
				continue
			}
			if err != nil || !bytes.Equal(got, body[name(i)]) {
				t.Fatalf("%s: %d bytes, %v", name(i), len(got), err)
			}
			if prev, ok := want[name(i)]; ok && prev.Timestamp != info.Timestamp {
				t.Fatalf("%s: timestamp %v after restart, %v before", name(i), info.Timestamp, prev.Timestamp)
			}
			want[name(i)] = info
		}
		parts, err := n.srv.store.partitions(filepath.Join(n.dir, "d1"))
		slices.Sort(parts)
		if err != nil || !slices.Equal(parts, []uint32{0, 1, 2, 3, 4}) {
			t.Fatalf("partitions = %v, %v", parts, err)
		}
	}
	check(n)
	h1, err := n.cl.SuffixHashes(ctxT(t), n.target("d1", 2))
	if err != nil || len(h1) == 0 {
		t.Fatalf("suffix hashes: %v, %v", h1, err)
	}
	if fs := files(t, filepath.Join(n.dir, "d1", objectsDir)); len(fs) != 0 {
		t.Fatalf("small objects made files: %v", fs)
	}
	n.stop()

	r := startNode(t, nil, nil, func(c *Config) { withLog(c); c.DevicesDir = n.dir })
	check(r)
	h2, err := r.cl.SuffixHashes(ctxT(t), r.target("d1", 2))
	if err != nil || !equalMaps(h1, h2) {
		t.Fatalf("suffix hashes after restart differ: %v, %v", h2, err)
	}
	// Switched off, the node still serves what its log holds, and writes files again.
	r.stop()
	off := startNode(t, nil, nil, func(c *Config) { c.DevicesDir, c.SmallObjectMax = n.dir, 0 })
	check(off)
	mustPut(t, off, off.target("d1", 0), name(0), ts(500), []byte("file now"))
	if fs := off.objectFiles(t, "d1", 0, name(0)); len(fs) != 2 {
		t.Fatalf("versions of a name moved to a file: %v (the log entry goes at the next cleanup)", fs)
	}
	if _, err := off.cl.SuffixHashes(ctxT(t), off.target("d1", 0)); err != nil {
		t.Fatal(err)
	}
	if fs := off.objectFiles(t, "d1", 0, name(0)); !slices.Equal(fs, []string{ts(500).String() + dataExt}) {
		t.Fatalf("after cleanup: %v", fs)
	}
}

// TestSmallObjectLogTornTail damages the end of the last segment as a power cut can (a
// frame cut short, a frame with a flipped byte, zeros) and checks that a restarted node
// serves every whole record, none of the damaged ones, and keeps working.
func TestSmallObjectLogTornTail(t *testing.T) {
	for _, tc := range []struct {
		name string
		tail func(frame []byte) []byte
	}{
		{"cut short", func(f []byte) []byte { return f[:len(f)/2] }},
		{"flipped byte", func(f []byte) []byte { f = bytes.Clone(f); f[len(f)-20] ^= 1; return f }},
		{"zeros", func(f []byte) []byte { return make([]byte, len(f)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startNode(t, nil, []string{"d1"}, withLog)
			tg := n.target("d1", 1)
			for i := range 10 {
				mustPut(t, n, tg, fmt.Sprintf("k%d", i), ts(i+1), payload(1000, uint64(i)))
			}
			l := devLogOf(t, n, "d1")
			seg := l.segPath(l.active)
			n.stop()

			rec := client.Record{Kind: client.KindData, Info: client.Info{Name: "torn", Timestamp: ts(50), Length: 1000}}
			b := payload(1000, 99)
			fr, err := recordFrame(1, &rec, bytes.NewReader(b), func() (client.Checksum, error) { return client.ChecksumOf(b), nil })
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(tc.tail(fr))
			f.Close()

			r := startNode(t, nil, nil, func(c *Config) { withLog(c); c.DevicesDir = n.dir })
			tg = r.target("d1", 1)
			for i := range 10 {
				if _, got, err := get(t, r, tg, fmt.Sprintf("k%d", i)); err != nil || !bytes.Equal(got, payload(1000, uint64(i))) {
					t.Fatalf("k%d after the torn tail: %v", i, err)
				}
			}
			if _, _, err := get(t, r, tg, "torn"); !errors.Is(err, client.ErrNotFound) {
				t.Fatalf("torn record served: %v", err)
			}
			// New writes go to a new segment, and survive another restart.
			mustPut(t, r, tg, "after", ts(60), []byte("after"))
			r.stop()
			r2 := startNode(t, nil, nil, func(c *Config) { withLog(c); c.DevicesDir = n.dir })
			if _, got, err := get(t, r2, r2.target("d1", 1), "after"); err != nil || string(got) != "after" {
				t.Fatalf("write after the torn tail lost: %q, %v", got, err)
			}
		})
	}
}

// TestCrashKeepsAcknowledgedWritesInLog is the crash test with small objects in the log,
// and with disks that wrote back a random part of what was not yet synced (so the log's
// tail is torn in every way) as well as none of it.
func TestCrashKeepsAcknowledgedWritesInLog(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	partial := func(durable, now []byte) []byte {
		if len(now) <= len(durable) || !bytes.HasPrefix(now, durable) {
			return durable
		}
		out := bytes.Clone(now[:len(durable)+rng.IntN(len(now)-len(durable)+1)])
		for s := len(durable) / 512 * 512; s < len(out); s += 512 { // each later sector: written or not
			if s >= len(durable) && rng.IntN(2) == 0 {
				clear(out[s:min(s+512, len(out))])
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		mix  func(durable, now []byte) []byte
	}{{"synced-only", nil}, {"partial-writeback", partial}} {
		t.Run(tc.name, func(t *testing.T) {
			for round := range 2 {
				crashRoundWith(t, true, round, withLog, tc.mix)
			}
		})
	}
}

// TestCompactionReclaimsAndCrashLosesNothing fills small segments, overwrites 60% of the
// objects, compacts, and checks the space amplification before and after. At every step of
// the compaction it cuts the power (in effect) and checks a node started on that disk
// serves every object's newest version.
func TestCompactionReclaimsAndCrashLosesNothing(t *testing.T) {
	var cfs *crashFS
	n := startNode(t, nil, []string{"d1"}, func(c *Config) {
		withLog(c)
		cfs = newCrashFS(t, c.DevicesDir, true)
		c.FS = cfs
	})
	n.srv.store.segMax = 64 << 10
	tg := n.target("d1", 2)
	const objects = 200
	want := map[string][]byte{}
	for i := range objects {
		want[fmt.Sprint(i)] = payload(4000, uint64(i))
		mustPut(t, n, tg, fmt.Sprint(i), ts(i+1), want[fmt.Sprint(i)])
	}
	l := devLogOf(t, n, "d1")
	overwrite := func(round int, share func(i int) bool) {
		for i := range objects {
			if share(i) {
				want[fmt.Sprint(i)] = payload(4000, uint64(round*1000+i))
				mustPut(t, n, tg, fmt.Sprint(i), ts(round*1000+i), want[fmt.Sprint(i)])
			}
		}
	}
	overwrite(1, func(i int) bool { return i%2 == 0 }) // half the objects overwritten once
	live, total := l.stats()
	t.Logf("after overwriting 50%%: %d live of %d bytes, space amplification %.2f (below the compaction trigger)",
		live, total, float64(total)/float64(live))
	if n.srv.store.compactLogs() != 0 {
		t.Fatal("compacted below the trigger")
	}
	overwrite(2, func(i int) bool { return i%5 < 4 }) // then 80% once more
	// One deleted: its tombstone is live, the data dead.
	if err := n.cl.Delete(ctxT(t), tg, "7", ts(5000)); err != nil {
		t.Fatal(err)
	}
	want["7"] = nil
	live, total = l.stats()
	before := float64(total) / float64(live)

	var images []string
	n.srv.store.compactHook = func(step string) {
		if len(images) < 8 {
			img := t.TempDir()
			cfs.image(t, img)
			images = append(images, img)
		}
	}
	segs := n.srv.store.compactLogs()
	n.srv.store.compactHook = nil
	live2, total2 := l.stats()
	after := float64(total2) / float64(live2)
	t.Logf("after overwriting 80%% more: %d live of %d bytes (space amplification %.2f); after compacting %d segments: %d of %d (%.2f)",
		live, total, before, segs, live2, total2, after)
	if segs == 0 || before < 2 || after > 2 {
		t.Fatalf("compaction: %d segments, amplification %.2f → %.2f; want some compacted and ≤ 2 after", segs, before, after)
	}
	checkAll := func(n *testNode, what string) {
		t.Helper()
		for name, b := range want {
			_, got, err := get(t, n, n.target("d1", 2), name)
			if b == nil {
				if !errors.Is(err, client.ErrNotFound) {
					t.Fatalf("%s: deleted %q is back: %v", what, name, err)
				}
				continue
			}
			if err != nil || !bytes.Equal(got, b) {
				t.Fatalf("%s: %q: %d bytes, %v", what, name, len(got), err)
			}
		}
	}
	checkAll(n, "after compaction")
	img := t.TempDir()
	cfs.image(t, img)
	images = append(images, img)
	for i, img := range images {
		r := startNode(t, nil, nil, func(c *Config) { withLog(c); c.DevicesDir = img })
		checkAll(r, fmt.Sprintf("power cut %d of %d", i+1, len(images)))
		r.stop()
	}
}

// TestHandoffDropSurvivesRestart removes a delivered handoff copy from the log and checks
// that a restart does not bring it, or its partition, back.
func TestHandoffDropSurvivesRestart(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, withLog)
	mustPut(t, n, n.target("d1", 9), "h", ts(3), []byte("handoff"))
	devDir := filepath.Join(n.dir, "d1")
	if err := n.srv.store.removeSynced("d1", devDir, 9, nameHash("h"), ts(3)); err != nil {
		t.Fatal(err)
	}
	n.stop()
	r := startNode(t, nil, nil, func(c *Config) { withLog(c); c.DevicesDir = n.dir })
	if _, _, err := get(t, r, r.target("d1", 9), "h"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("removed handoff copy is back: %v", err)
	}
	if parts, err := r.srv.store.partitions(devDir); err != nil || len(parts) != 0 {
		t.Fatalf("partitions after restart = %v, %v", parts, err)
	}
}

// TestCompactionDropsDamagedRecord damages a live record in the oldest segment after the log
// was read: compaction drops it (replication restores it from a peer) instead of stalling
// on a segment it could never empty, and everything else survives.
func TestCompactionDropsDamagedRecord(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, withLog)
	n.srv.store.segMax = 32 << 10
	tg := n.target("d1", 4)
	for i := range 40 {
		mustPut(t, n, tg, fmt.Sprint(i), ts(i+1), payload(3000, uint64(i)))
	}
	for round := 1; round <= 2; round++ { // all but object 0 overwritten twice: two thirds dead
		for i := 1; i < 40; i++ {
			mustPut(t, n, tg, fmt.Sprint(i), ts(100*round+i), payload(3000, uint64(100+i)))
		}
	}
	n.corruptVersion(t, "d1", 4, "0", ts(1), func(h int64) int64 { return h + 10 })
	if segs := n.srv.store.compactLogs(); segs == 0 {
		t.Fatal("nothing compacted")
	}
	if _, _, err := get(t, n, tg, "0"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("damaged record: %v, want dropped", err)
	}
	for i := 1; i < 40; i++ {
		if _, got, err := get(t, n, tg, fmt.Sprint(i)); err != nil || !bytes.Equal(got, payload(3000, uint64(100+i))) {
			t.Fatalf("%d after compaction: %v", i, err)
		}
	}
	l := devLogOf(t, n, "d1")
	l.mu.Lock()
	_, first := l.segs[1]
	l.mu.Unlock()
	if first {
		t.Fatal("the segment holding the damaged record was not removed")
	}
}

// TestLargePutOvertakenByLoggedDelete streams a large version (a file) while a newer delete
// lands in the log: the PUT must be refused as overtaken, as it is when the tombstone is a
// file, and the name stays deleted.
func TestLargePutOvertakenByLoggedDelete(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, withLog)
	tg := n.target("d1", 6)
	body := payload(2<<20, 5)
	sum := client.ChecksumOf(body)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- n.cl.Put(ctxT(t), tg, client.PutRequest{Name: "big", Timestamp: ts(1), Length: int64(len(body)), Checksum: &sum}, pr)
	}()
	if _, err := pw.Write(body[:1<<20]); err != nil {
		t.Fatal(err)
	}
	if err := n.cl.Delete(ctxT(t), tg, "big", ts(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := pw.Write(body[1<<20:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	var se *client.StatusError
	if err := <-done; !errors.Is(err, client.ErrConflict) || !errors.As(err, &se) || se.Timestamp != ts(2) {
		t.Fatalf("overtaken PUT: %v, want a conflict naming %v", err, ts(2))
	}
	if _, _, err := get(t, n, tg, "big"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("after the overtaken PUT: %v", err)
	}
	if fs := n.objectFiles(t, "d1", 6, "big"); !slices.Equal(fs, []string{ts(2).String() + tombstoneExt}) {
		t.Fatalf("versions = %v", fs)
	}
}
