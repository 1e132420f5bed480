package objectd

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"testing"

	"stratus/objectd/client"
	"stratus/ring"
)

// TestChunkCreatedOnPrimariesOnly: a node refuses to create a chunk on a device that is
// not one of the partition's primaries in its ring (a writer placing with another ring),
// and creates nothing; a chunk it already holds there still takes changes, so data written
// before a ring change follows the move.
func TestChunkCreatedOnPrimariesOnly(t *testing.T) {
	c := newTLSCluster(t, 3, 2)
	name := ".vol/vol-00000000000000c1/0000000000000000"
	part, _ := c.place(name)
	var hand *ring.Device
	for d := range c.ring.Handoffs(ring.Partition(part)) {
		hand = d
		break
	}
	hn, ht := c.target(hand, part)
	w := client.ChunkWrite{Name: name, Generation: 1, Sequence: 1}
	_, err := hn.cl.WriteChunk(ctxT(t), ht, w, blockData(name, 0, 1))
	var se *client.StatusError
	if !errors.Is(err, client.ErrMisplaced) || !errors.As(err, &se) || se.Status != http.StatusMisdirectedRequest {
		t.Fatalf("write creating a chunk on a handoff: %v, want 421 misplaced", err)
	}
	if _, err := os.Stat(chunkFile(hn, hand.Name, part, name)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused write left a chunk file: %v", err)
	}
	if _, err := hn.cl.RepairChunk(ctxT(t), ht, client.ChunkRepair{Name: name, Generation: 1}, nil); !errors.Is(err, client.ErrMisplaced) {
		t.Fatalf("repair creating a chunk on a handoff: %v, want misplaced", err)
	}

	writeAsBeforeAMove(t, hn, ht, w, blockData(name, 0, 1))
	w.Offset, w.Sequence = bs, 2
	if _, err := hn.cl.WriteChunk(ctxT(t), ht, w, blockData(name, 1, 2)); err != nil {
		t.Fatalf("write to a chunk the handoff holds: %v", err)
	}
}
