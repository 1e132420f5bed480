package objectd

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"stratus/internal/testutil"
	"stratus/objectd/client"
	"stratus/ring"
)

// cluster is three (or more) objectd nodes in this process, sharing one ring.
type cluster struct {
	nodes    []*testNode
	byHost   map[string]*testNode
	ring     *ring.Ring
	ringPath string
}

func newCluster(t *testing.T, nodes, devsPerNode int, edits ...func(*Config)) *cluster {
	t.Helper()
	b, err := ring.NewBuilder(ring.BuilderConfig{PartPower: 6, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{byHost: map[string]*testNode{}}
	var devNames []string
	for d := range devsPerNode {
		devNames = append(devNames, fmt.Sprintf("d%d", d+1))
	}
	lns := make([]net.Listener, nodes)
	for i := range nodes {
		ln := listen(t)
		lns[i] = ln
		for _, d := range devNames {
			if _, err := b.Add(ring.Device{Region: 1, Zone: i + 1, Host: ln.Addr().String(), Name: d, Weight: 100}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := b.Rebalance(ring.RebalanceOptions{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if c.ring, err = b.Ring(); err != nil {
		t.Fatal(err)
	}
	c.ringPath = filepath.Join(t.TempDir(), "object.ring")
	if err := c.ring.Save(c.ringPath); err != nil {
		t.Fatal(err)
	}
	for _, ln := range lns {
		n := startNode(t, ln, devNames, func(cfg *Config) {
			cfg.RingPath = c.ringPath
			for _, e := range edits {
				e(cfg)
			}
		})
		n.srv.SetRing(c.ring)
		c.nodes = append(c.nodes, n)
		c.byHost[n.addr] = n
	}
	return c
}

// place returns the partition and primaries of a name.
func (c *cluster) place(name string) (uint32, []*ring.Device) {
	p := c.ring.Partition(name)
	return uint32(p), c.ring.Primaries(p, nil)
}

func (c *cluster) target(d *ring.Device, part uint32) (*testNode, client.Target) {
	n := c.byHost[d.Host]
	return n, n.target(d.Name, part)
}

// replicate runs one replication pass on every node and sums the reports.
func (c *cluster) replicate(t *testing.T) ReplicationReport {
	t.Helper()
	var sum ReplicationReport
	for _, n := range c.nodes {
		rep, err := n.srv.ReplicateOnce(ctxT(t))
		if err != nil {
			t.Fatalf("replicate on %s: %v", n.addr, err)
		}
		sum.Partitions += rep.Partitions
		sum.Objects += rep.Objects
		sum.Bytes += rep.Bytes
		sum.HandoffsRemoved += rep.HandoffsRemoved
		sum.Errors += rep.Errors
		sum.ChunkPartitions += rep.ChunkPartitions
		sum.Chunks += rep.Chunks
		sum.ChunksRepaired += rep.ChunksRepaired
		sum.ChunkBlocks += rep.ChunkBlocks
		sum.ChunkBytes += rep.ChunkBytes
		sum.ChunkTombstones += rep.ChunkTombstones
		sum.ChunksDeleted += rep.ChunksDeleted
		sum.ChunkHandoffsMoved += rep.ChunkHandoffsMoved
		sum.ChunkTombsReaped += rep.ChunkTombsReaped
	}
	return sum
}

// checkReplicas fails unless every primary holds name with content want (nil: deleted).
func (c *cluster) checkReplicas(t *testing.T, name string, want []byte) {
	t.Helper()
	part, prims := c.place(name)
	for _, d := range prims {
		n, tg := c.target(d, part)
		_, got, err := get(t, n, tg, name)
		switch {
		case want == nil && !errors.Is(err, client.ErrNotFound):
			t.Fatalf("%q on %v: %v, want deleted", name, tg, err)
		case want != nil && (err != nil || !bytes.Equal(got, want)):
			t.Fatalf("%q on %v: %d bytes, %v", name, tg, len(got), err)
		}
	}
}

func TestClusterConvergesFromTwoOfThree(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := newCluster(t, 3, 2)
	const objects = 30
	want := map[string][]byte{}
	for i := range objects {
		name := fmt.Sprintf("bucket/obj-%03d", i)
		body := payload(1000+i*997, uint64(i))
		part, prims := c.place(name)
		for r, d := range prims {
			if r == i%3 {
				continue // this replica missed the write
			}
			n, tg := c.target(d, part)
			mustPut(t, n, tg, name, ts(1), body)
		}
		want[name] = body
	}
	// A delete that reached only one replica, of an object every replica has.
	part, prims := c.place("doomed")
	for _, d := range prims {
		n, tg := c.target(d, part)
		mustPut(t, n, tg, "doomed", ts(1), []byte("x"))
	}
	if n, tg := c.target(prims[2], part); n.cl.Delete(ctxT(t), tg, "doomed", ts(2)) != nil {
		t.Fatal("delete failed")
	}
	want["doomed"] = nil
	// One replica holds an older version than the other two; another name has its newest
	// version on one replica only. The newest wins everywhere.
	part, prims = c.place("stale")
	for r, d := range prims {
		n, tg := c.target(d, part)
		v := ts(2)
		if r == 1 {
			v = ts(1)
		}
		mustPut(t, n, tg, "stale", v, []byte(v.String()))
	}
	want["stale"] = []byte(ts(2).String())
	part, prims = c.place("fresh")
	for r, d := range prims {
		n, tg := c.target(d, part)
		v := ts(1)
		if r == 2 {
			v = ts(3)
		}
		mustPut(t, n, tg, "fresh", v, []byte(v.String()))
	}
	want["fresh"] = []byte(ts(3).String())

	rep := c.replicate(t)
	if rep.Objects < objects+2 || rep.Errors != 0 {
		t.Fatalf("first pass: %+v, want ≥ %d objects pushed and no errors", rep, objects+2)
	}
	for name, body := range want {
		c.checkReplicas(t, name, body)
	}
	// Converged: a second pass finds equal suffix hashes everywhere and pushes nothing.
	if rep := c.replicate(t); rep.Objects != 0 || rep.Errors != 0 {
		t.Fatalf("second pass pushed %+v", rep)
	}
}

func TestClusterAuditorQuarantineThenReplicationRestores(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	// Paced pushes and audits: the throttles must not get in the way of healing.
	c := newCluster(t, 3, 1, func(cfg *Config) {
		cfg.ReplicationBytesPerSecond = 64 << 20
		cfg.AuditBytesPerSecond = 64 << 20
		cfg.ReplicationConcurrency = 1
	})
	name := "precious"
	body := payload(3*bufSize+100, 9)
	part, prims := c.place(name)
	for _, d := range prims {
		n, tg := c.target(d, part)
		mustPut(t, n, tg, name, ts(5), body)
	}
	victim, vt := c.target(prims[1], part)
	victim.corruptVersion(t, vt.Device, part, name, ts(5), func(h int64) int64 { return h + bufSize + 3 })

	rep, err := victim.srv.AuditOnce(ctxT(t))
	if err != nil || rep.Quarantined != 1 {
		t.Fatalf("audit: %+v, %v; want 1 quarantined", rep, err)
	}
	if _, _, err := get(t, victim, vt, name); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("after quarantine: %v", err)
	}
	if rep := c.replicate(t); rep.Objects < 1 {
		t.Fatalf("replication pushed nothing: %+v", rep)
	}
	c.checkReplicas(t, name, body)
	if rep, err := victim.srv.AuditOnce(ctxT(t)); err != nil || rep.Quarantined != 0 || rep.Objects != 1 {
		t.Fatalf("second audit: %+v, %v", rep, err)
	}
}

func TestClusterHandoffMovesToPrimaries(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := newCluster(t, 3, 2)
	name := "parked"
	body := payload(70_000, 11)
	part, _ := c.place(name)
	var hand *ring.Device
	for d := range c.ring.Handoffs(ring.Partition(part)) {
		hand = d
		break
	}
	if hand == nil {
		t.Fatal("no handoff device")
	}
	hn, ht := c.target(hand, part)
	mustPut(t, hn, ht, name, ts(1), body)
	// A tombstone of another name in the same partition travels too.
	var deleted string
	for i := 0; deleted == ""; i++ {
		if n := fmt.Sprintf("parked-%d", i); uint32(c.ring.Partition(n)) == part {
			deleted = n
		}
	}
	if err := hn.cl.Delete(ctxT(t), ht, deleted, ts(2)); err != nil {
		t.Fatal(err)
	}

	rep, err := hn.srv.ReplicateOnce(ctxT(t))
	if err != nil || rep.HandoffsRemoved != 1 || rep.Errors != 0 {
		t.Fatalf("handoff pass: %+v, %v", rep, err)
	}
	c.checkReplicas(t, name, body)
	for _, d := range c.ring.Primaries(ring.Partition(part), nil) {
		n, tg := c.target(d, part)
		var se *client.StatusError
		if _, err := n.cl.Head(ctxT(t), tg, deleted); !errors.As(err, &se) || se.Timestamp != ts(2) {
			t.Fatalf("tombstone of %q not on %v: %v", deleted, tg, err)
		}
	}
	if _, err := os.Stat(partDir(filepath.Join(hn.dir, hand.Name), part)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("handoff partition still on disk: %v", err)
	}
}

func TestHandoffKeptWhileAPrimaryIsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := newCluster(t, 3, 2)
	name := "waiting"
	part, prims := c.place(name)
	var hand *ring.Device
	for d := range c.ring.Handoffs(ring.Partition(part)) {
		hand = d
		break
	}
	hn, ht := c.target(hand, part)
	mustPut(t, hn, ht, name, ts(1), []byte("v"))
	// Take one primary's device away (unmounted disk): it answers 507.
	down, _ := c.target(prims[0], part)
	if err := os.Remove(filepath.Join(down.dir, prims[0].Name, MarkerFile)); err != nil {
		t.Fatal(err)
	}
	rep, err := hn.srv.ReplicateOnce(ctxT(t))
	if err != nil || rep.HandoffsRemoved != 0 || rep.Errors == 0 {
		t.Fatalf("pass with a primary down: %+v, %v", rep, err)
	}
	if fs := hn.objectFiles(t, hand.Name, part, name); len(fs) != 1 {
		t.Fatalf("handoff copy removed while a primary lacked it: %v", fs)
	}
	if err := InitDevice(filepath.Join(down.dir, prims[0].Name)); err != nil {
		t.Fatal(err)
	}
	// When another device of the handoff's node is a primary of the partition, its job in
	// the same pass may deliver the version first; the recovered primary then reports it
	// pending to the handoff, which keeps its copy until the next pass.
	removed := 0
	for pass := 0; pass < 3 && removed == 0; pass++ {
		rep, err := hn.srv.ReplicateOnce(ctxT(t))
		if err != nil || rep.Errors != 0 {
			t.Fatalf("pass %d after recovery: %+v, %v", pass, rep, err)
		}
		removed = rep.HandoffsRemoved
	}
	if removed != 1 {
		t.Fatalf("handoff partition still kept three passes after the primary recovered")
	}
	c.checkReplicas(t, name, []byte("v"))
}

func TestRingReloadedWhenFileChanges(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "object.ring")
	b, err := ring.NewBuilder(ring.BuilderConfig{PartPower: 4, Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	b.Add(ring.Device{Region: 1, Zone: 1, Host: "127.0.0.1:1", Name: "d1", Weight: 1})
	b.Rebalance(ring.RebalanceOptions{Seed: 1})
	r1, _ := b.Ring()
	if err := r1.Save(path); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, nil, []string{"d1"}, func(c *Config) {
		c.RingPath = path
		c.RingCheckInterval = 5 * time.Millisecond
	})
	testutil.Eventually(t, 10*time.Second, func() error {
		if r := n.srv.Ring(); r == nil || r.Version() != r1.Version() {
			return fmt.Errorf("ring not loaded")
		}
		return nil
	})
	b.Add(ring.Device{Region: 1, Zone: 2, Host: "127.0.0.1:2", Name: "d1", Weight: 1})
	b.Rebalance(ring.RebalanceOptions{Seed: 2})
	r2, _ := b.Ring()
	if r2.Version() <= r1.Version() {
		t.Fatalf("builder versions %d then %d", r1.Version(), r2.Version())
	}
	if err := r2.Save(path); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if v := n.srv.Ring().Version(); v != r2.Version() {
			return fmt.Errorf("ring version %d, want %d", v, r2.Version())
		}
		return nil
	})
	if n.srv.SetRing(r1) {
		t.Fatal("an older ring was adopted")
	}
}
