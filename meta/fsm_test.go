package meta

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"stratus/internal/testutil"
	"stratus/meta/client"
)

func newTestFSM(t *testing.T) *fsm {
	t.Helper()
	cfg := DefaultConfig()
	cfg.FSMMmapBytes = 256 << 20
	cfg.WatchHistory = 4
	m, _ := newMetrics(nil)
	f, err := newFSM(t.TempDir(), cfg, testutil.Logger(t), m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func applyEntry(t *testing.T, f *fsm, index uint64, now time.Time, reqs ...client.ApplyRequest) []applyResult {
	t.Helper()
	out := f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: encodeBatch(batch{Time: now.UnixNano(), Requests: reqs})})
	res, ok := out.([]applyResult)
	if !ok {
		t.Fatalf("apply returned %T: %v", out, out)
	}
	return res
}

func putReq(id, key, val string) client.ApplyRequest {
	return client.ApplyRequest{ID: id, Ops: []client.Op{{Kind: client.OpPut, Table: client.TableObjects, Key: key, Value: []byte(val)}}}
}

// sinkBuffer is a raft.SnapshotSink in memory.
type sinkBuffer struct{ bytes.Buffer }

func (s *sinkBuffer) ID() string    { return "test" }
func (s *sinkBuffer) Cancel() error { return nil }
func (s *sinkBuffer) Close() error  { return nil }

func TestFSMSnapshotRestoreKeepsDataAndDedup(t *testing.T) {
	now := time.Unix(1000, 0)
	src := newTestFSM(t)
	for i := 1; i <= 100; i++ {
		applyEntry(t, src, uint64(i), now, putReq(fmt.Sprintf("id%d", i), fmt.Sprintf("b/k%03d", i), "v"))
	}
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Writes continue while the snapshot streams; they must not appear in it.
	applyEntry(t, src, 101, now, putReq("late", "b/late", "v"))
	var buf sinkBuffer
	if err := snap.Persist(&buf); err != nil {
		t.Fatal(err)
	}
	snap.Release()

	dst := newTestFSM(t)
	if err := dst.Restore(io.NopCloser(&buf)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := dst.get(client.TableObjects, "b/k050"); err != nil {
		t.Fatalf("restored key: %v", err)
	}
	if _, _, err := dst.get(client.TableObjects, "b/late"); err == nil {
		t.Fatal("write after the snapshot is in it")
	}
	if applied, _ := dst.feed.state(); applied != 100 {
		t.Fatalf("restored applied index %d, want 100", applied)
	}
	// A retry of a request applied before the snapshot is recognised after restore.
	res := applyEntry(t, dst, 102, now, putReq("id7", "b/k007", "changed"))
	if !res[0].Duplicate || res[0].Index != 7 {
		t.Fatalf("retry after restore = %+v, want duplicate of index 7", res[0])
	}
	it, _, _ := dst.get(client.TableObjects, "b/k007")
	if string(it.Value) != "v" {
		t.Fatalf("duplicate was applied: %q", it.Value)
	}
	// The watch history starts over after a restore.
	_, _, resync, _ := dst.feed.since(client.TableObjects, "", 50)
	if !resync {
		t.Fatal("watch from before the restore not told to resync")
	}
}

func TestFSMDedupWindowExpires(t *testing.T) {
	f := newTestFSM(t)
	t0 := time.Unix(1000, 0)
	applyEntry(t, f, 1, t0, putReq("old", "b/a", "1"))
	res := applyEntry(t, f, 2, t0.Add(time.Minute), putReq("old", "b/a", "2"))
	if !res[0].Duplicate {
		t.Fatal("retry within the window was applied")
	}
	applyEntry(t, f, 3, t0.Add(f.dedupWindow+time.Hour), putReq("other", "b/b", "1"))
	res = applyEntry(t, f, 4, t0.Add(f.dedupWindow+time.Hour), putReq("old", "b/a", "3"))
	if res[0].Duplicate {
		t.Fatal("request ID remembered past the window")
	}
}

func TestFSMConflictAppliesNothing(t *testing.T) {
	f := newTestFSM(t)
	now := time.Unix(1000, 0)
	applyEntry(t, f, 1, now, putReq("a", "b/exists", "1"))
	req := client.ApplyRequest{ID: "b", Ops: []client.Op{
		{Kind: client.OpPut, Table: client.TableObjects, Key: "b/new", Value: []byte("x")},
		{Kind: client.OpPut, Table: client.TableObjects, Key: "b/exists", Value: []byte("y"), Cond: client.CondAbsent},
	}}
	res := applyEntry(t, f, 2, now, req)
	if res[0].Err == nil {
		t.Fatal("conflict not reported")
	}
	if _, _, err := f.get(client.TableObjects, "b/new"); err == nil {
		t.Fatal("part of a failed request was applied")
	}
}

func TestFeedOverflowAsksResync(t *testing.T) {
	f := newTestFSM(t) // WatchHistory 4
	now := time.Unix(1000, 0)
	for i := 1; i <= 10; i++ {
		applyEntry(t, f, uint64(i), now, putReq(fmt.Sprint(i), fmt.Sprintf("b/%d", i), "v"))
	}
	if _, _, resync, _ := f.feed.since(client.TableObjects, "", 2); !resync {
		t.Fatal("watcher behind the history not told to resync")
	}
	ev, applied, resync, _ := f.feed.since(client.TableObjects, "b/1", 7)
	if resync || applied != 10 || len(ev) != 1 || ev[0].Key != "b/10" {
		t.Fatalf("since(7) = %v %d %v", ev, applied, resync)
	}
}
