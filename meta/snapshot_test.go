package meta

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"stratus/meta/client"
)

// fillFSM applies n index entries in entries of perEntry requests, starting at Raft index
// first; it returns the next free index.
func fillFSM(tb testing.TB, f *fsm, first uint64, n, perEntry int) uint64 {
	tb.Helper()
	idx := first
	now := time.Now()
	for done := 0; done < n; idx++ {
		reqs := make([]client.ApplyRequest, 0, perEntry)
		for j := 0; j < perEntry && done < n; j, done = j+1, done+1 {
			key := fmt.Sprintf("bucket/object-%09d", done)
			reqs = append(reqs, client.ApplyRequest{
				ID:  fmt.Sprintf("%016x%08d", now.UnixNano(), done),
				Ops: []client.Op{{Kind: client.OpPut, Table: client.TableObjects, Key: key, Value: []byte(`{"size":4096,"etag":"d41d8cd98f00b204e9800998ecf8427e"}`), Cond: client.CondNewer, Version: uint64(done + 1)}},
			})
		}
		f.ApplyBatch([]*raft.Log{{Index: idx, Type: raft.LogCommand, Data: encodeBatch(batch{Time: now.UnixNano(), Requests: reqs})}})
	}
	return idx
}

// slowSink is a snapshot sink that delivers at a bounded rate, so a snapshot stays open long
// enough for writes to run beside it.
type slowSink struct {
	n     int64
	delay time.Duration
}

func (s *slowSink) Write(p []byte) (int, error) {
	s.n += int64(len(p))
	time.Sleep(s.delay) // simulates a slow disk; the test measures writes beside it
	return len(p), nil
}
func (s *slowSink) ID() string    { return "slow" }
func (s *slowSink) Cancel() error { return nil }
func (s *slowSink) Close() error  { return nil }

// TestSnapshotDoesNotBlockWrites streams a snapshot slowly while applying more entries, and
// checks that no apply waits for the snapshot.
func TestSnapshotDoesNotBlockWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a large state machine")
	}
	keys := 100_000
	f := newTestFSM(t)
	next := fillFSM(t, f, 1, keys, 1000)
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &slowSink{delay: time.Millisecond}
	var wg sync.WaitGroup
	persisted := make(chan time.Duration, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		if err := snap.Persist(sink); err != nil {
			t.Error(err)
		}
		persisted <- time.Since(start)
		snap.Release()
	}()
	var worst time.Duration
	applied := 0
	for {
		select {
		case d := <-persisted:
			wg.Wait()
			t.Logf("snapshot of %d keys (%d bytes) took %v; %d writes applied meanwhile, slowest %v", keys, sink.n, d, applied, worst)
			if applied == 0 {
				t.Fatal("no write ran during the snapshot")
			}
			// A write that waited for the snapshot would wait about as long as the whole
			// snapshot; one slowed by a loaded machine waits far less. An absolute bound
			// failed twice on a busy two-core machine (504 and 525 ms against 500 ms).
			if worst > d/2 {
				t.Fatalf("a write waited %v during a snapshot of %v", worst, d)
			}
			return
		default:
		}
		start := time.Now()
		next = fillFSMAt(t, f, next, applied)
		worst = max(worst, time.Since(start))
		applied++
	}
}

// fillFSMAt applies one entry writing key number keys+i.
func fillFSMAt(tb testing.TB, f *fsm, idx uint64, i int) uint64 {
	req := client.ApplyRequest{ID: fmt.Sprintf("late-%d", i), Ops: []client.Op{{Kind: client.OpPut, Table: client.TableObjects, Key: fmt.Sprintf("bucket/late-%09d", i), Value: []byte("x")}}}
	f.ApplyBatch([]*raft.Log{{Index: idx, Type: raft.LogCommand, Data: encodeBatch(batch{Time: time.Now().UnixNano(), Requests: []client.ApplyRequest{req}})}})
	return idx + 1
}

// BenchmarkSnapshot measures snapshot and restore of a state machine holding a million index
// entries.
func BenchmarkSnapshot(b *testing.B) {
	const keys = 1_000_000
	cfg := DefaultConfig()
	m, _ := newMetrics(nil)
	f, err := newFSM(b.TempDir(), cfg, discardLogger(), m)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	fillFSM(b, f, 1, keys, 2000)
	dst, err := newFSM(b.TempDir(), cfg, discardLogger(), m)
	if err != nil {
		b.Fatal(err)
	}
	defer dst.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		snap, err := f.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		pr, pw := io.Pipe()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			sink := &pipeSink{pw}
			if err := snap.Persist(sink); err != nil {
				b.Error(err)
			}
			snap.Release()
		}()
		if err := dst.Restore(pr); err != nil {
			b.Fatal(err)
		}
		wg.Wait()
	}
	b.ReportMetric(keys, "keys")
}

type pipeSink struct{ *io.PipeWriter }

func (s *pipeSink) ID() string    { return "pipe" }
func (s *pipeSink) Cancel() error { return s.PipeWriter.CloseWithError(io.ErrClosedPipe) }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
