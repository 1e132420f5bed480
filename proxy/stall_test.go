package proxy_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"stratus/internal/hlc"
	"stratus/internal/testcluster"
	"stratus/internal/testutil"
	"stratus/objectd/client"
	"stratus/proxy"
	"stratus/ring"
)

// handoffHolders lists the handoff devices of name that hold version v.
func handoffHolders(t *testing.T, r *ring.Ring, nodes *client.Client, name string, v hlc.Timestamp) []string {
	t.Helper()
	part := r.Partition(name)
	var held []string
	for d := range r.Handoffs(part) {
		info, err := nodes.Head(ctxT(t), client.Target{Host: d.Host, Device: d.Name, Partition: uint32(part)}, name)
		if err == nil && info.Timestamp == v {
			held = append(held, d.Host+"/"+d.Name)
		}
	}
	return held
}

// TestStalledReplicaMidStream: a primary that freezes (as under SIGSTOP) while writes stream
// to it costs each write about the post-quorum grace, not NodeTimeout, wherever in the body
// it stops taking bytes. Its copy is written to a handoff after the write, so the object
// is at three copies while the node is frozen; once it is back, replication brings it the
// version and the handoff lets go of its copy.
func TestStalledReplicaMidStream(t *testing.T) {
	st := testcluster.StartStorage(t, testcluster.StorageOptions{Nodes: 4})
	nodes := client.New(client.Config{Timeout: 10 * time.Second})
	t.Cleanup(nodes.CloseIdleConnections)
	cfg := proxy.DefaultConfig()
	cfg.PostQuorumTimeout = 300 * time.Millisecond
	p, err := proxy.New(cfg, nodes, &hlc.Clock{}, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.WaitBackground)
	p.SetRing(st.Ring)

	name := "bucket/stalled"
	stalled := st.Ring.Primaries(st.Ring.Partition(name), nil)[0].Host
	var node *testcluster.Node
	for _, n := range st.Nodes {
		if n.Addr == stalled {
			node = n
		}
	}
	// A first write opens pooled connections to every primary, so the ones that follow
	// reuse a connection the node stops reading from in the middle of the body.
	if _, err := put(t, p, name, payload(5<<20, 1)); err != nil {
		t.Fatal(err)
	}
	node.Stall()

	var last proxy.PutResult
	var body []byte
	for i, size := range []int{5 << 20, 5 << 20, 16 << 20} {
		body = payload(size, uint64(10+i))
		start := time.Now()
		res, err := put(t, p, name, body)
		took := time.Since(start)
		if err != nil || res.Replicas != 2 {
			t.Fatalf("write %d of %d MiB with a stalled primary: %+v %v", i, size>>20, res, err)
		}
		t.Logf("%d MiB with a stalled primary: %v", size>>20, took)
		// The grace plus the write itself; NodeTimeout (10 s) is what it used to wait.
		if took > cfg.PostQuorumTimeout+2*time.Second {
			t.Errorf("write %d of %d MiB took %v with a stalled primary", i, size>>20, took)
		}
		last = res
	}
	if got, err := read(t, p, name, last.Timestamp); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("read with a stalled primary: %v", err)
	}
	// The third copy goes to a handoff while the primary is frozen.
	testutil.Eventually(t, 20*time.Second, func() error {
		if h := handoffHolders(t, st.Ring, nodes, name, last.Timestamp); len(h) != 1 {
			return fmt.Errorf("handoffs holding the write: %v", h)
		}
		return nil
	})

	node.Resume()
	testutil.Eventually(t, 30*time.Second, func() error {
		if err := st.ReplicateAll(ctxT(t)); err != nil {
			return err
		}
		if n := holders(t, st.Ring, nodes, name, last.Timestamp); n != 3 {
			return fmt.Errorf("%d primaries hold the write", n)
		}
		if h := handoffHolders(t, st.Ring, nodes, name, last.Timestamp); len(h) != 0 {
			return fmt.Errorf("handoffs still hold the write: %v", h)
		}
		return nil
	})
	if !st.Holds(ctxT(t), node, name) {
		t.Fatal("the primary that was stalled does not hold the object")
	}
}

// TestStalledReplicaQuorumLost: with two of three primaries frozen and no handoff to take
// their place, a write fails (after NodeTimeout, for no quorum is ever past the chunk they
// hold) and leaves nothing readable.
func TestStalledReplicaQuorumLost(t *testing.T) {
	st := testcluster.StartStorage(t, testcluster.StorageOptions{})
	nodes := client.New(client.Config{Timeout: 10 * time.Second})
	t.Cleanup(nodes.CloseIdleConnections)
	cfg := proxy.DefaultConfig()
	cfg.NodeTimeout, cfg.ConnectTimeout, cfg.ChunkBytes = 500*time.Millisecond, 500*time.Millisecond, 64<<10
	p, err := proxy.New(cfg, nodes, &hlc.Clock{}, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.WaitBackground)
	p.SetRing(st.Ring)
	name := "bucket/stalled-two"
	if _, err := put(t, p, name, payload(1<<20, 1)); err != nil {
		t.Fatal(err)
	}
	st.Nodes[0].Stall()
	st.Nodes[1].Stall()
	start := time.Now()
	_, err = put(t, p, name, payload(8<<20, 2))
	if !errors.Is(err, proxy.ErrUnavailable) {
		t.Fatalf("write with two of three primaries stalled: %v", err)
	}
	if d := time.Since(start); d > 10*cfg.NodeTimeout {
		t.Errorf("failing write took %v", d)
	}
	st.Nodes[0].Resume()
	st.Nodes[1].Resume()
	if got, err := read(t, p, name, 0); err != nil || !bytes.Equal(got, payload(1<<20, 1)) {
		t.Fatalf("read after a failed write: %v", err)
	}
}

// TestBrieflySlowReplicaKept: a replica that stops taking bytes for less than the grace (a
// short pause of its process or disk) trails the others by the buffer ring and then catches
// up: the write keeps all three replicas and needs no handoff.
func TestBrieflySlowReplicaKept(t *testing.T) {
	st := testcluster.StartStorage(t, testcluster.StorageOptions{Nodes: 4})
	nodes := client.New(client.Config{Timeout: 10 * time.Second})
	t.Cleanup(nodes.CloseIdleConnections)
	cfg := proxy.DefaultConfig()
	cfg.PostQuorumTimeout = 2 * time.Second
	p, err := proxy.New(cfg, nodes, &hlc.Clock{}, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.WaitBackground)
	p.SetRing(st.Ring)
	name := "bucket/briefly-slow"
	slow := st.Ring.Primaries(st.Ring.Partition(name), nil)[0].Host
	if _, err := put(t, p, name, payload(1<<20, 1)); err != nil {
		t.Fatal(err)
	}
	for _, n := range st.Nodes {
		if n.Addr == slow {
			n.Stall()
			time.AfterFunc(300*time.Millisecond, n.Resume)
		}
	}
	res, err := put(t, p, name, payload(16<<20, 2))
	if err != nil || res.Replicas != 3 {
		t.Fatalf("write with a briefly slow replica: %+v %v", res, err)
	}
	if n := holders(t, st.Ring, nodes, name, res.Timestamp); n != 3 {
		t.Fatalf("%d primaries hold the write, want 3", n)
	}
}

// TestMaxLagBytes: a negative lag is refused; zero streams in lockstep through one buffer
// and still stores every byte on every replica.
func TestMaxLagBytes(t *testing.T) {
	st := testcluster.StartStorage(t, testcluster.StorageOptions{})
	nodes := client.New(client.Config{Timeout: 10 * time.Second})
	t.Cleanup(nodes.CloseIdleConnections)
	cfg := proxy.DefaultConfig()
	cfg.MaxLagBytes = -1
	if _, err := proxy.New(cfg, nodes, &hlc.Clock{}, testutil.Logger(t)); err == nil {
		t.Fatal("a negative max_lag_bytes was accepted")
	}
	cfg.MaxLagBytes, cfg.ChunkBytes = 0, 64<<10
	p, err := proxy.New(cfg, nodes, &hlc.Clock{}, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.WaitBackground)
	p.SetRing(st.Ring)
	body := payload(1<<20+5, 3)
	res, err := put(t, p, "bucket/lockstep", body)
	if err != nil || res.Replicas != 3 {
		t.Fatalf("lockstep write: %+v %v", res, err)
	}
	if got, err := read(t, p, "bucket/lockstep", res.Timestamp); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("read back: %v", err)
	}
}
