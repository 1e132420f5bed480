package meta_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"stratus/internal/testutil"
	"stratus/meta"
	"stratus/meta/client"
	"stratus/meta/metatest"
)

// writers runs n goroutines that each create keys "<prefix><writer>/<seq>" with CondAbsent,
// retrying every request with the same ID until it is acknowledged or stop is closed. A
// conflict would mean a request was applied twice.
type writers struct {
	mu    sync.Mutex
	acked map[string]uint64 // key → index of its (first) application
	errs  []error
	count atomic.Int64
	wg    sync.WaitGroup
	stop  chan struct{}
}

func startWriters(t *testing.T, cl *client.Client, n int, prefix string, limit int64) *writers {
	w := &writers{acked: map[string]uint64{}, stop: make(chan struct{})}
	for i := 0; i < n; i++ {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for seq := 0; ; seq++ {
				key := fmt.Sprintf("%s%02d/%06d", prefix, i, seq)
				req := client.ApplyRequest{ID: client.NewRequestID(), Ops: []client.Op{{
					Kind: client.OpPut, Table: client.TableObjects, Key: key, Value: []byte(key), Cond: client.CondAbsent,
				}}}
				for {
					select {
					case <-w.stop:
						return
					default:
					}
					if limit > 0 && w.count.Load() >= limit {
						return
					}
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					resp, err := cl.ApplyRequest(ctx, req)
					cancel()
					if err == nil {
						w.mu.Lock()
						w.acked[key] = resp.Index
						w.mu.Unlock()
						w.count.Add(1)
						break
					}
					if errors.Is(err, client.ErrConflict) || errors.Is(err, client.ErrBadRequest) {
						w.mu.Lock()
						w.errs = append(w.errs, fmt.Errorf("%s: %w", key, err))
						w.mu.Unlock()
						break
					}
				}
			}
		}()
	}
	t.Cleanup(w.halt)
	return w
}

func (w *writers) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.wg.Wait()
}

func (w *writers) waitCount(t *testing.T, n int64, timeout time.Duration) {
	t.Helper()
	testutil.Eventually(t, timeout, func() error {
		if c := w.count.Load(); c < n {
			return fmt.Errorf("%d writes acknowledged, want %d", c, n)
		}
		return nil
	})
}

// checkAcked verifies that every acknowledged write is present, applied once.
func checkAcked(t *testing.T, cl *client.Client, w *writers, prefix string, opts ...client.ReadOption) {
	t.Helper()
	for _, err := range w.errs {
		t.Errorf("write applied twice or rejected: %v", err)
	}
	ctx := ctxT(t, 60*time.Second)
	got := map[string]uint64{}
	after := ""
	for {
		items, more, err := cl.List(ctx, client.TableObjects, prefix, after, 0, opts...)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		for _, it := range items {
			got[it.Key] = it.ModIndex
		}
		if !more {
			break
		}
		after = items[len(items)-1].Key
	}
	for k, idx := range w.acked {
		g, ok := got[k]
		if !ok {
			t.Errorf("acknowledged write %s is missing", k)
		} else if g != idx {
			t.Errorf("%s has mod index %d, acknowledged at %d: applied twice", k, g, idx)
		}
	}
	if len(got) < len(w.acked) {
		t.Errorf("%d keys stored, %d acknowledged", len(got), len(w.acked))
	}
}

func TestLeaderFailoverDuringWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("three-node failover is slow")
	}
	c := metatest.New(t, metatest.Options{Quiet: true})
	cl := c.Client()
	w := startWriters(t, cl, 16, "fail/", 0)
	w.waitCount(t, 300, 30*time.Second)

	old := c.Leader(5 * time.Second)
	killed := time.Now()
	// Cut the leader off first, so it says nothing more to its peers, as in a crash.
	c.Net.Isolate(c.Nodes[old].Addr)
	c.Stop(old)
	before := w.count.Load()
	newLeader := c.Leader(5*time.Second, old)
	failover := time.Since(killed)
	t.Logf("leader %s stopped; %s leads after %v", c.Nodes[old].ID, c.Nodes[newLeader].ID, failover)
	if failover > 5*time.Second {
		t.Errorf("failover took %v, want under 5s", failover)
	}
	w.waitCount(t, before+300, 30*time.Second)
	w.halt()
	t.Logf("%d writes acknowledged", w.count.Load())
	checkAcked(t, cl, w, "fail/")
}

func restores(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "stratus_meta_snapshot_restores_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

func TestFollowerCatchesUpFromSnapshot(t *testing.T) {
	n := int64(10000)
	if testing.Short() {
		n = 2000
	}
	c := metatest.New(t, metatest.Options{Quiet: true, Configure: func(cfg *meta.Config) {
		// Batching packs many writes per log entry, so keep the thresholds low enough that
		// the follower's gap is certainly compacted away.
		cfg.SnapshotThreshold = 50
		cfg.TrailingLogs = 10
		cfg.SnapshotInterval = 100 * time.Millisecond
	}})
	leader := c.Leader(5 * time.Second)
	follower := (leader + 1) % 3
	c.Stop(follower)

	var eps []string
	for i, nd := range c.Nodes {
		if i != follower {
			eps = append(eps, nd.Addr)
		}
	}
	cl, err := client.New(client.DefaultConfig(eps...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	w := startWriters(t, cl, 32, "snap/", n)
	w.waitCount(t, n, 120*time.Second)
	w.halt()

	c.Restart(follower)
	fcl := c.NodeClient(follower)
	testutil.Eventually(t, 60*time.Second, func() error {
		st, err := c.Status(c.Nodes[follower])
		if err != nil {
			return err
		}
		lst, err := c.Status(c.Nodes[leader])
		if err != nil {
			return err
		}
		// Every write is acknowledged by now, so the follower must have applied all the
		// leader committed before its stale reads can show them all. (Batches pack many
		// writes per log entry: even a few entries of slack hide hundreds of writes.)
		if st.AppliedIndex < lst.CommitIndex {
			return fmt.Errorf("follower applied %d, leader committed %d", st.AppliedIndex, lst.CommitIndex)
		}
		return nil
	})
	if r := restores(t, c.Nodes[follower].Registry); r < 1 {
		t.Errorf("follower restored %v snapshots, want at least 1", r)
	}
	checkAcked(t, fcl, w, "snap/", client.Stale())
}

func TestMinorityPartitionCannotCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("partition test is slow")
	}
	c := metatest.New(t, metatest.Options{Quiet: true})
	old := c.Leader(5 * time.Second)
	c.Net.Isolate(c.Nodes[old].Addr)

	cfg := client.DefaultConfig(c.Nodes[old].Addr)
	cfg.CallTimeout, cfg.RetryTimeout = time.Second, 3*time.Second
	isolated, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer isolated.Close()
	ctx := ctxT(t, 60*time.Second)
	if err := isolated.Put(ctx, client.TableBuckets, "minority", []byte("x")); err == nil {
		t.Fatal("write to the isolated leader succeeded")
	} else {
		t.Logf("isolated write: %v", err)
	}
	if _, err := isolated.Get(ctx, client.TableBuckets, "minority"); err == nil || errors.Is(err, client.ErrNotFound) {
		t.Fatalf("linearizable read on the isolated node = %v, want unavailable", err)
	}

	newLeader := c.Leader(5*time.Second, old)
	majority := c.NodeClient(newLeader)
	if err := majority.Put(ctx, client.TableBuckets, "majority", []byte("y")); err != nil {
		t.Fatalf("majority write: %v", err)
	}
	c.Net.Heal(c.Nodes[old].Addr)
	all := c.Client()
	if _, err := all.Get(ctx, client.TableBuckets, "minority"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("minority write visible after heal: %v", err)
	}
	old2 := c.NodeClient(old)
	testutil.Eventually(t, 10*time.Second, func() error {
		_, err := old2.Get(ctx, client.TableBuckets, "majority", client.Stale())
		return err
	})
}

func TestMembershipJoinRemove(t *testing.T) {
	c := metatest.New(t, metatest.Options{Quiet: true, Nodes: 3})
	cl := c.Client()
	ctx := ctxT(t, 30*time.Second)
	st, err := cl.Status(ctx)
	if err != nil || len(st.Members) != 3 {
		t.Fatalf("status = %+v, %v", st, err)
	}
	leader := c.Leader(5 * time.Second)
	victim := (leader + 1) % 3
	if err := cl.Remove(ctx, c.Nodes[victim].ID); err != nil {
		t.Fatal(err)
	}
	c.Stop(victim)
	st, err = c.NodeClient(leader).Status(ctx)
	if err != nil || len(st.Members) != 2 {
		t.Fatalf("after remove: %+v, %v", st.Members, err)
	}
	if err := cl.Put(ctx, client.TableBuckets, "after-remove", nil); err != nil {
		t.Fatal(err)
	}
}

func TestFollowerForwardsAndWatches(t *testing.T) {
	c := metatest.New(t, metatest.Options{Quiet: true})
	leader := c.Leader(5 * time.Second)
	follower := (leader + 1) % 3
	fc := c.NodeClient(follower)
	ctx := ctxT(t, 30*time.Second)

	// A watch on one follower sees a write sent to the other follower.
	other := c.NodeClient((leader + 2) % 3)
	type result struct {
		w   client.WatchResponse
		err error
	}
	got := make(chan result, 1)
	go func() {
		w, err := fc.Watch(ctx, client.TableRings, "", 0, 20*time.Second)
		got <- result{w, err}
	}()
	if err := other.Put(ctx, client.TableRings, "gold", []byte("r1")); err != nil {
		t.Fatalf("write through a follower: %v", err)
	}
	r := <-got
	if r.err != nil || len(r.w.Events) == 0 || r.w.Events[len(r.w.Events)-1].Key != "gold" {
		t.Fatalf("follower watch = %+v, %v", r.w, r.err)
	}
	// A linearizable read through a follower sees the write at once.
	it, err := fc.Get(ctx, client.TableRings, "gold")
	if err != nil || string(it.Value) != "r1" {
		t.Fatalf("read through a follower = %q, %v", it.Value, err)
	}
	// Joining an existing member again changes nothing.
	if err := fc.Join(ctx, c.Nodes[follower].ID, c.Nodes[follower].Addr); err != nil {
		t.Fatalf("re-join: %v", err)
	}
}
