package objectd

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"stratus/internal/pki"
	"stratus/objectd/client"
	"stratus/ring"
)

// Chunk healing by the storage nodes themselves (chunkrepl.go, chunkaudit.go), between real
// nodes in this process speaking mutual TLS.

// newTLSCluster is newCluster with every node holding a storage node certificate of one
// cluster CA (as in production: replication is refused to anything else).
func newTLSCluster(t *testing.T, nodes, devsPerNode int, edits ...func(*Config)) *cluster {
	t.Helper()
	tr := newTrust(t)
	ids := []*pki.Identity{tr.node1, tr.node2}
	i := 0
	return newCluster(t, nodes, devsPerNode, append([]func(*Config){func(cfg *Config) { cfg.Identity = ids[i%2]; i++ }}, edits...)...)
}

// stopNode stops node i (its disks stay); startNodeAgain brings it back on the same address
// and disks.
func (c *cluster) stopNode(i int) { c.nodes[i].stop() }

func (c *cluster) startNodeAgain(t *testing.T, i int) *testNode {
	t.Helper()
	old := c.nodes[i]
	prev := old.srv.cfg
	n := startNode(t, listenOn(t, old.addr), nil, func(cfg *Config) {
		cfg.DevicesDir, cfg.Identity, cfg.RingPath, cfg.Now = old.dir, prev.Identity, prev.RingPath, prev.Now
		cfg.ReclaimAge = prev.ReclaimAge
	})
	n.srv.SetRing(c.ring)
	c.nodes[i], c.byHost[n.addr] = n, n
	return n
}

// nodeIndex returns the index in c.nodes of the node holding device d.
func (c *cluster) nodeIndex(d *ring.Device) int {
	for i, n := range c.nodes {
		if n.addr == d.Host {
			return i
		}
	}
	panic("no node for " + d.Host)
}

// seqOf is the sequence volumed gives the n-th write of a holder of generation gen.
func seqOf(gen, n uint64) uint64 { return gen<<32 | n }

// chunkTable returns a replica's block table of name (ErrNotFound: it holds none).
func chunkTable(t *testing.T, n *testNode, tg client.Target, name string) (client.ChunkMeta, error) {
	t.Helper()
	m, err := n.cl.ChunkMeta(ctxT(t), tg, name, 0)
	m.Epoch = "" // differs per node by design
	return m, err
}

// checkChunkLevel fails unless every primary holds name with the same fence and block table
// as the first, and returns that table.
func (c *cluster) checkChunkLevel(t *testing.T, name string) client.ChunkMeta {
	t.Helper()
	part, prims := c.place(name)
	var first client.ChunkMeta
	for i, d := range prims {
		n, tg := c.target(d, part)
		m, err := chunkTable(t, n, tg, name)
		if err != nil {
			t.Fatalf("%q on %v: %v", name, tg, err)
		}
		if i == 0 {
			first = m
			continue
		}
		if !reflect.DeepEqual(m, first) {
			t.Fatalf("%q on %v: fence %d version %d, %d blocks; first primary: fence %d version %d, %d blocks",
				name, tg, m.Generation, m.Version, len(m.Blocks), first.Generation, first.Version, len(first.Blocks))
		}
	}
	return first
}

// TestChunkReplicationCopiesMissedBlocks: a primary is down while the other two take writes;
// back up, one replication pass makes its block table identical to theirs, copying exactly
// the blocks it missed, not whole chunks.
func TestChunkReplicationCopiesMissedBlocks(t *testing.T) {
	c := newTLSCluster(t, 3, 1)
	name := ".vol/vol-00000000000000b1/0000000000000003"
	part, prims := c.place(name)
	write := func(d *ring.Device, off int64, n int, seq uint64) {
		node, tg := c.target(d, part)
		mustWriteChunk(t, node, tg, client.ChunkWrite{Name: name, Offset: off, Generation: 1, Sequence: seq},
			blocksData(name, int(off/bs), n, seq))
	}
	// Blocks 0-15 everywhere.
	for _, d := range prims {
		write(d, 0, 16, seqOf(1, 1))
	}
	down := c.nodeIndex(prims[2])
	c.stopNode(down)
	// Missed: 3 overwritten (2-4), 2 new (40, 41), 1 written twice (7), 2 trimmed (10, 11):
	// 3+2+1+2 = 8 blocks differ.
	const missed = 8
	for _, d := range prims[:2] {
		write(d, 2*bs, 3, seqOf(1, 2))
		write(d, 40*bs, 2, seqOf(1, 3))
		write(d, 7*bs, 1, seqOf(1, 4))
		write(d, 7*bs, 1, seqOf(1, 5))
		node, tg := c.target(d, part)
		if _, err := node.cl.TrimChunk(ctxT(t), tg, client.ChunkZero{Name: name, Offset: 10 * bs, Length: 2 * bs,
			Generation: 1, Sequence: seqOf(1, 6)}); err != nil {
			t.Fatal(err)
		}
	}
	c.startNodeAgain(t, down)

	rep := c.replicate(t)
	if rep.Errors != 0 || rep.ChunkBlocks != missed || rep.ChunksRepaired != 1 {
		t.Fatalf("pass: %+v, want %d blocks pushed to one chunk, no errors", rep, missed)
	}
	m := c.checkChunkLevel(t, name)
	if m.Version != seqOf(1, 6) || len(m.Blocks) != 18 {
		t.Fatalf("healed table: version %#x, %d blocks", m.Version, len(m.Blocks))
	}
	n, tg := c.target(prims[2], part)
	got, _ := mustReadChunk(t, n, tg, name, 0, 48*bs)
	other, otg := c.target(prims[0], part)
	want, _ := mustReadChunk(t, other, otg, name, 0, 48*bs)
	if !bytes.Equal(got, want) {
		t.Fatal("healed replica reads differently from its peer")
	}
	rep = c.replicate(t)
	if rep.Errors != 0 || rep.ChunkBlocks != 0 || rep.Chunks != 3 {
		t.Fatalf("second pass: %+v, want 3 chunks compared and nothing pushed", rep)
	}
}

// TestChunkReplicationPushesOnce: both peers of a replica that missed writes find it behind
// in passes that run at once; it asks only the first for the blocks, so each crosses once.
func TestChunkReplicationPushesOnce(t *testing.T) {
	c := newTLSCluster(t, 3, 1)
	name := ".vol/vol-00000000000000b6/0000000000000000"
	part, prims := c.place(name)
	down := c.nodeIndex(prims[2])
	c.stopNode(down)
	for _, d := range prims[:2] {
		n, tg := c.target(d, part)
		mustWriteChunk(t, n, tg, client.ChunkWrite{Name: name, Generation: 1, Sequence: seqOf(1, 1)}, blocksData(name, 0, 64, seqOf(1, 1)))
	}
	c.startNodeAgain(t, down)
	var wg sync.WaitGroup
	var blocks atomic.Int64
	for _, d := range prims[:2] {
		n, _ := c.target(d, part)
		wg.Go(func() {
			rep, err := n.srv.ReplicateOnce(ctxT(t))
			if err != nil || rep.Errors != 0 {
				t.Errorf("pass: %+v, %v", rep, err)
			}
			blocks.Add(int64(rep.ChunkBlocks))
		})
	}
	wg.Wait()
	if blocks.Load() != 64 {
		t.Fatalf("%d blocks pushed for 64 missed", blocks.Load())
	}
	c.checkChunkLevel(t, name)
}

// TestChunkHandoffMovesToPrimaries: a chunk written to a handoff device reaches every
// primary, block for block, and leaves the handoff without a tombstone.
func TestChunkHandoffMovesToPrimaries(t *testing.T) {
	c := newTLSCluster(t, 3, 2)
	name := ".vol/vol-00000000000000b2/0000000000000000"
	part, prims := c.place(name)
	var hand *ring.Device
	for d := range c.ring.Handoffs(ring.Partition(part)) {
		hand = d
		break
	}
	hn, ht := c.target(hand, part)
	writeAsBeforeAMove(t, hn, ht, client.ChunkWrite{Name: name, Offset: 5 * bs, Generation: 3, Sequence: seqOf(3, 1)},
		blocksData(name, 5, 4, seqOf(3, 1)))
	// One primary (on another node) already holds an older copy of one block.
	older := prims[0]
	for _, d := range prims {
		if d.Host != hand.Host {
			older = d
		}
	}
	pn, pt := c.target(older, part)
	mustWriteChunk(t, pn, pt, client.ChunkWrite{Name: name, Offset: 5 * bs, Generation: 2, Sequence: seqOf(2, 9)},
		blockData(name, 5, seqOf(2, 9)))

	rep, err := hn.srv.ReplicateOnce(ctxT(t))
	if err != nil || rep.Errors != 0 || rep.ChunkHandoffsMoved != 1 || rep.ChunkBlocks != 3*4 {
		t.Fatalf("handoff pass: %+v, %v; want 12 blocks pushed and the handoff chunk moved", rep, err)
	}
	m := c.checkChunkLevel(t, name)
	if m.Generation != 3 || len(m.Blocks) != 4 {
		t.Fatalf("primaries hold fence %d and %d blocks, want 3 and 4", m.Generation, len(m.Blocks))
	}
	// The primaries made what they took durable before the handoff let go of it.
	for _, d := range prims {
		n, tg := c.target(d, part)
		if res, err := n.cl.FlushChunks(ctxT(t), tg, []client.ChunkRef{{Partition: part, Name: name}}); err != nil || res.Synced != 0 {
			t.Fatalf("flush on %v after the move: %+v, %v; want nothing left to sync", tg, res, err)
		}
	}
	for _, p := range []string{chunkFile(hn, hand.Name, part, name), tombPathOf(chunkFile(hn, hand.Name, part, name))} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s on the handoff after the move: %v", p, err)
		}
	}
}

// TestChunkHandoffKeptWhileAPrimaryIsDown: nothing is removed until every primary holds it.
func TestChunkHandoffKeptWhileAPrimaryIsDown(t *testing.T) {
	c := newTLSCluster(t, 4, 1)
	name := ".vol/vol-00000000000000b3/0000000000000000"
	part, prims := c.place(name)
	var hand *ring.Device
	for d := range c.ring.Handoffs(ring.Partition(part)) {
		hand = d
		break
	}
	hn, ht := c.target(hand, part)
	writeAsBeforeAMove(t, hn, ht, client.ChunkWrite{Name: name, Generation: 1, Sequence: 1}, blockData(name, 0, 1))
	down := c.nodeIndex(prims[0])
	c.stopNode(down)
	rep, err := hn.srv.ReplicateOnce(ctxT(t))
	if err != nil || rep.Errors == 0 || rep.ChunkHandoffsMoved != 0 {
		t.Fatalf("pass with a primary down: %+v, %v", rep, err)
	}
	if _, err := os.Stat(chunkFile(hn, hand.Name, part, name)); err != nil {
		t.Fatalf("handoff chunk removed while a primary lacked it: %v", err)
	}
	c.startNodeAgain(t, down)
	rep, err = hn.srv.ReplicateOnce(ctxT(t))
	if err != nil || rep.Errors != 0 || rep.ChunkHandoffsMoved != 1 {
		t.Fatalf("pass after recovery: %+v, %v", rep, err)
	}
	c.checkChunkLevel(t, name)
}

// TestChunkDeleteStaysDeleted: a replica that missed a volume's delete comes back with its
// copy; replication deletes it there instead of bringing the chunk back, and the tombstones
// go after the reclaim age.
func TestChunkDeleteStaysDeleted(t *testing.T) {
	clock := newFakeClock(time.Now())
	c := newTLSCluster(t, 3, 1, func(cfg *Config) { cfg.Now = clock.Now })
	name := ".vol/vol-00000000000000b4/0000000000000001"
	part, prims := c.place(name)
	for _, d := range prims {
		n, tg := c.target(d, part)
		mustWriteChunk(t, n, tg, client.ChunkWrite{Name: name, Generation: 1, Sequence: seqOf(1, 1)}, blocksData(name, 0, 4, seqOf(1, 1)))
	}
	down := c.nodeIndex(prims[2])
	c.stopNode(down)
	for _, d := range prims[:2] {
		n, tg := c.target(d, part)
		if err := n.cl.DeleteChunk(ctxT(t), tg, name, 2); err != nil {
			t.Fatal(err)
		}
	}
	back := c.startNodeAgain(t, down)
	// The replica that missed the delete replicates first: its copy must not spread.
	rep, err := back.srv.ReplicateOnce(ctxT(t))
	if err != nil || rep.Errors != 0 || rep.ChunkBlocks != 0 || rep.ChunksDeleted != 1 {
		t.Fatalf("pass of the replica that missed the delete: %+v, %v", rep, err)
	}
	if rep := c.replicate(t); rep.Errors != 0 || rep.ChunkBlocks != 0 {
		t.Fatalf("cluster pass: %+v", rep)
	}
	for _, d := range prims {
		n, tg := c.target(d, part)
		if _, err := chunkTable(t, n, tg, name); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("%v after the delete: %v, want ErrNotFound", tg, err)
		}
		if _, err := os.Stat(tombPathOf(chunkFile(n, d.Name, part, name))); err != nil {
			t.Fatalf("tombstone on %v: %v", tg, err)
		}
		// The old holder cannot write it back either.
		_, err := n.cl.WriteChunk(ctxT(t), tg, client.ChunkWrite{Name: name, Generation: 1, Sequence: seqOf(1, 9)}, blockData(name, 0, 9))
		if !errors.Is(err, client.ErrFenced) {
			t.Fatalf("stale write on %v after the delete: %v, want ErrFenced", tg, err)
		}
	}
	clock.Add(DefaultConfig().ReclaimAge + time.Hour)
	if rep := c.replicate(t); rep.Errors != 0 || rep.ChunkTombsReaped != 3 {
		t.Fatalf("pass after the reclaim age: %+v, want 3 tombstones reaped", rep)
	}
	for _, d := range prims {
		n, _ := c.target(d, part)
		if _, err := os.Stat(tombPathOf(chunkFile(n, d.Name, part, name))); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("tombstone after the reclaim age: %v", err)
		}
	}
}

// TestChunkReplicationDuringWrites runs replication passes while a volumed-style writer
// writes every replica: no pass may lower a block, so every replica ends with the newest
// write of every block.
func TestChunkReplicationDuringWrites(t *testing.T) {
	c := newTLSCluster(t, 3, 1)
	name := ".vol/vol-00000000000000b5/0000000000000000"
	part, prims := c.place(name)
	// The third replica missed the first writes, so passes have blocks to copy.
	down := c.nodeIndex(prims[2])
	c.stopNode(down)
	const blocks = 32
	latest := make([]uint64, blocks)
	var seq uint64
	writeAll := func(ds []*ring.Device, block int) {
		seq++
		s := seqOf(1, seq)
		for _, d := range ds {
			n, tg := c.target(d, part)
			mustWriteChunk(t, n, tg, client.ChunkWrite{Name: name, Offset: int64(block) * bs, Generation: 1, Sequence: s},
				blockData(name, block, s))
		}
		latest[block] = s
	}
	for b := range blocks {
		writeAll(prims[:2], b)
	}
	c.startNodeAgain(t, down)
	nodes := append([]*testNode(nil), c.nodes...)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var passes atomic.Int64
	for _, n := range nodes {
		wg.Go(func() {
			for !stop.Load() {
				if _, err := n.srv.ReplicateOnce(ctxT(t)); err != nil {
					t.Errorf("pass: %v", err)
					return
				}
				passes.Add(1)
			}
		})
	}
	for i := range 300 {
		writeAll(prims, (i*7)%blocks)
	}
	stop.Store(true)
	wg.Wait()
	c.replicate(t)
	m := c.checkChunkLevel(t, name)
	for _, b := range m.Blocks {
		if want := latest[b.OffsetBytes/bs]; b.Sequence != want {
			t.Fatalf("block %d at sequence %#x, newest write %#x", b.OffsetBytes/bs, b.Sequence, want)
		}
	}
	for _, d := range prims {
		n, tg := c.target(d, part)
		got, _ := mustReadChunk(t, n, tg, name, 0, blocks*bs)
		for b := range blocks {
			if !bytes.Equal(got[b*bs:(b+1)*bs], blockData(name, b, latest[b])) {
				t.Fatalf("%v block %d is not the newest write", tg, b)
			}
		}
	}
	t.Logf("%d replication passes ran during 300 writes", passes.Load())
}

// TestChunkMissingBadInput: malformed, oversized and overlong offer lists are refused with
// a clear error, and the chunk offered stays as it was.
func TestChunkMissingBadInput(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, nil)
	tg := n.target("d1", 3)
	mustWriteChunk(t, n, tg, client.ChunkWrite{Name: testChunk, Generation: 1, Sequence: 1}, blockData(testChunk, 0, 1))
	before, err := os.ReadFile(chunkFile(n, "d1", 3, testChunk))
	if err != nil {
		t.Fatal(err)
	}
	many := make([]client.ChunkOffer, client.MaxChunkOffers+1)
	for i := range many {
		many[i] = client.ChunkOffer{Hash: nameHash(testChunk), Fence: 1}
	}
	manyBody, _ := json.Marshal(client.ChunkMissingRequest{Chunks: many})
	for name, body := range map[string]string{
		"bad hash":    `{"chunks":[{"hash":"../../etc","fence":1}]}`,
		"upper hash":  `{"chunks":[{"hash":"` + strings.ToUpper(nameHash(testChunk)) + `","fence":1}]}`,
		"not json":    `{"chunks":[`,
		"too many":    string(manyBody),
		"oversized":   `{"chunks":[],"x":"` + strings.Repeat("a", maxChunkMissingBody) + `"}`,
		"wrong types": `{"chunks":[{"hash":1}]}`,
	} {
		resp, err := http.Post("http://"+n.addr+"/v1/chunk-missing/d1/3", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get(client.HeaderError) != "invalid" {
			t.Fatalf("%s: %d %s %q, want 400 invalid", name, resp.StatusCode, resp.Header.Get(client.HeaderError), msg)
		}
	}
	if _, err := n.cl.ChunkMissing(ctxT(t), tg, many); !errors.Is(err, client.ErrInvalid) {
		t.Fatalf("client with too many offers: %v, want ErrInvalid", err)
	}
	resp, err := n.cl.ChunkMissing(ctxT(t), tg, []client.ChunkOffer{{Hash: nameHash(testChunk), Fence: 1, Digest: "x"}, {Hash: nameHash("absent"), Fence: 2, Digest: "y"}})
	if err != nil || len(resp.Differ) != 2 || resp.Differ[0].Fence != 1 || resp.Differ[1].Fence != 0 {
		t.Fatalf("good offers: %+v, %v", resp, err)
	}
	if after, _ := os.ReadFile(chunkFile(n, "d1", 3, testChunk)); !bytes.Equal(after, before) {
		t.Fatal("a comparison changed the chunk file")
	}
}

// TestChunkHandoffTombstoneMoves: a delete that landed on a handoff reaches every primary
// (one held the chunk, the others nothing), and the handoff's tombstone goes once they all
// hold it.
func TestChunkHandoffTombstoneMoves(t *testing.T) {
	c := newTLSCluster(t, 4, 1)
	name := ".vol/vol-00000000000000b7/0000000000000000"
	part, prims := c.place(name)
	var hand *ring.Device
	for d := range c.ring.Handoffs(ring.Partition(part)) {
		hand = d
		break
	}
	hn, ht := c.target(hand, part)
	pn, pt := c.target(prims[0], part)
	for _, w := range []struct {
		n  *testNode
		tg client.Target
	}{{hn, ht}, {pn, pt}} {
		writeAsBeforeAMove(t, w.n, w.tg, client.ChunkWrite{Name: name, Generation: 1, Sequence: seqOf(1, 1)}, blockData(name, 0, seqOf(1, 1)))
	}
	if err := hn.cl.DeleteChunk(ctxT(t), ht, name, 2); err != nil {
		t.Fatal(err)
	}
	rep, err := hn.srv.ReplicateOnce(ctxT(t))
	if err != nil || rep.Errors != 0 || rep.ChunkTombstones != 3 || rep.ChunkHandoffsMoved != 1 {
		t.Fatalf("handoff pass: %+v, %v; want the tombstone handed to 3 primaries and moved", rep, err)
	}
	for _, d := range prims {
		n, tg := c.target(d, part)
		if _, err := chunkTable(t, n, tg, name); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("%v: %v, want ErrNotFound", tg, err)
		}
		if _, err := os.Stat(tombPathOf(chunkFile(n, d.Name, part, name))); err != nil {
			t.Fatalf("tombstone on primary %v: %v", tg, err)
		}
	}
	if _, err := os.Stat(tombPathOf(chunkFile(hn, hand.Name, part, name))); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("tombstone left on the handoff: %v", err)
	}
}

// writeAsBeforeAMove writes a chunk to a device that is not one of its partition's
// primaries, as a writer did while it still was one, before a ring change: nodes create
// chunks on primaries only.
func writeAsBeforeAMove(t *testing.T, n *testNode, tg client.Target, w client.ChunkWrite, data []byte) {
	t.Helper()
	placed := n.srv.chunks.placed
	n.srv.chunks.placed = nil
	defer func() { n.srv.chunks.placed = placed }()
	mustWriteChunk(t, n, tg, w, data)
}
