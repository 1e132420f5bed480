package objectd

import (
	"bytes"
	"os"
	"testing"

	"stratus/objectd/client"
)

// TestChunkAuditRepairsTornBlock flips bytes of one block on disk: the auditor finds it,
// copies the block back from a peer, leaves every other block as it was, and keeps the file.
func TestChunkAuditRepairsTornBlock(t *testing.T) {
	c := newTLSCluster(t, 3, 1)
	name := ".vol/vol-00000000000000c1/0000000000000002"
	part, prims := c.place(name)
	for _, d := range prims {
		n, tg := c.target(d, part)
		mustWriteChunk(t, n, tg, client.ChunkWrite{Name: name, Generation: 1, Sequence: seqOf(1, 1)}, blocksData(name, 0, 8, seqOf(1, 1)))
		mustWriteChunk(t, n, tg, client.ChunkWrite{Name: name, Offset: 3 * bs, Generation: 1, Sequence: seqOf(1, 2)}, blockData(name, 3, seqOf(1, 2)))
	}
	n, tg := c.target(prims[0], part)
	path := chunkFile(n, prims[0].Name, part, name)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dataOff := chunkDataOffset(client.DefaultChunkSize)
	corruptAt(t, path, dataOff+3*bs+100, 8)
	if _, _, err := readChunk(t, n, tg, name, 0, 8*bs); err == nil {
		t.Fatal("read of the damaged block succeeded")
	}

	rep, err := n.srv.AuditOnce(ctxT(t))
	if err != nil || rep.Chunks != 1 || rep.ChunkTorn != 1 || rep.ChunkRepaired != 1 {
		t.Fatalf("audit: %+v, %v; want 1 chunk, 1 torn block repaired", rep, err)
	}
	got, _ := mustReadChunk(t, n, tg, name, 0, 8*bs)
	want := blocksData(name, 0, 8, seqOf(1, 1))
	copy(want[3*bs:], blockData(name, 3, seqOf(1, 2)))
	if !bytes.Equal(got, want) {
		t.Fatal("chunk reads differently after the audit")
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The header records a new slot write; the table and every block are as before.
	if !bytes.Equal(after[chunkHeaderSize:], before[chunkHeaderSize:]) {
		t.Fatal("the audit changed more than the torn block")
	}
	c.checkChunkLevel(t, name)
	if rep, err := n.srv.AuditOnce(ctxT(t)); err != nil || rep.ChunkTorn != 0 || rep.ChunkBytes != 8*bs {
		t.Fatalf("second audit: %+v, %v", rep, err)
	}
}

// TestChunkAuditLeavesUnrepairableBlock: with no peer holding the block's sequence, the
// torn block is counted, left torn, and the rest of the chunk stays readable.
func TestChunkAuditLeavesUnrepairableBlock(t *testing.T) {
	c := newTLSCluster(t, 3, 1)
	name := ".vol/vol-00000000000000c2/0000000000000000"
	part, prims := c.place(name)
	n, tg := c.target(prims[0], part)
	mustWriteChunk(t, n, tg, client.ChunkWrite{Name: name, Generation: 1, Sequence: seqOf(1, 1)}, blocksData(name, 0, 4, seqOf(1, 1)))
	corruptAt(t, chunkFile(n, prims[0].Name, part, name), chunkDataOffset(client.DefaultChunkSize)+bs, 4)
	rep, err := n.srv.AuditOnce(ctxT(t))
	if err != nil || rep.ChunkTorn != 1 || rep.ChunkRepaired != 0 {
		t.Fatalf("audit: %+v, %v", rep, err)
	}
	if _, err := os.Stat(chunkFile(n, prims[0].Name, part, name)); err != nil {
		t.Fatalf("chunk file after the audit: %v", err)
	}
	if got, _ := mustReadChunk(t, n, tg, name, 2*bs, 2*bs); !bytes.Equal(got, blocksData(name, 2, 2, seqOf(1, 1))) {
		t.Fatal("good blocks unreadable after the audit")
	}
}

// TestChunkAuditDuringWrites audits while a writer rewrites blocks: a block caught between
// its data and its table entry looks torn to the audit's own reads, and must not be counted
// or repaired once checked under the chunk's lock.
func TestChunkAuditDuringWrites(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, nil)
	tg := n.target("d1", 2)
	mustWriteChunk(t, n, tg, client.ChunkWrite{Name: testChunk, Generation: 1, Sequence: 1}, blocksData(testChunk, 0, 64, 1))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for seq := uint64(2); seq < 400; seq++ {
			b := int(seq % 64)
			if _, err := n.cl.WriteChunk(ctxT(t), tg, client.ChunkWrite{Name: testChunk, Offset: int64(b) * bs, Generation: 1, Sequence: seq}, blockData(testChunk, b, seq)); err != nil {
				t.Errorf("write: %v", err)
				return
			}
		}
	}()
	audits := 0
	for running := true; running; audits++ {
		select {
		case <-done:
			running = false
		default:
		}
		rep, err := n.srv.AuditOnce(ctxT(t))
		if err != nil || rep.ChunkTorn != 0 || rep.Chunks != 1 {
			t.Fatalf("audit %d during writes: %+v, %v", audits, rep, err)
		}
	}
	t.Logf("%d audits during 398 writes", audits)
}
