package objectd

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"testing"
	"time"

	"stratus/objectd/client"
)

// TestChunkTombstoneAfterCrash poses the states a crash can leave between a delete's
// tombstone and the removal of the chunk file (and between a new chunk and the removal of
// an old tombstone): the node resolves each on opening the chunk.
func TestChunkTombstoneAfterCrash(t *testing.T) {
	a := startNode(t, nil, []string{"d1"}, nil)
	tg := a.target("d1", 5)
	mustWriteChunk(t, a, tg, client.ChunkWrite{Name: testChunk, Generation: 3, Sequence: 1}, blockData(testChunk, 0, 1))
	other := ".vol/vol-00000000000000aa/0000000000000001"
	mustWriteChunk(t, a, tg, client.ChunkWrite{Name: other, Generation: 3, Sequence: 1}, blockData(other, 0, 1))
	a.stop()
	at := time.Now()
	// The delete of testChunk at 3 wrote its tombstone and crashed before removing the file.
	if err := os.WriteFile(tombPathOf(chunkFile(a, "d1", 5, testChunk)), encodeTomb(chunkTomb{name: testChunk, gen: 3, at: at}), 0o644); err != nil {
		t.Fatal(err)
	}
	// other was created anew at 3 after a delete at 2 whose tombstone the crash kept.
	if err := os.WriteFile(tombPathOf(chunkFile(a, "d1", 5, other)), encodeTomb(chunkTomb{name: other, gen: 2, at: at}), 0o644); err != nil {
		t.Fatal(err)
	}
	b := startNode(t, nil, nil, func(c *Config) { c.DevicesDir = a.dir })
	tg = b.target("d1", 5)
	if _, _, err := readChunk(t, b, tg, testChunk, 0, bs); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("read of a chunk whose delete was interrupted: %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(chunkFile(a, "d1", 5, testChunk)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("chunk file of an interrupted delete: %v", err)
	}
	if got, _ := mustReadChunk(t, b, tg, other, 0, bs); !bytes.Equal(got, blockData(other, 0, 1)) {
		t.Fatal("chunk created after a delete reads wrong")
	}
	if _, err := os.Stat(tombPathOf(chunkFile(a, "d1", 5, other))); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stale tombstone kept: %v", err)
	}
}

// TestChunkTombstoneFormat: a tombstone decodes to what was encoded, and any damage is
// refused rather than read as another generation.
func TestChunkTombstoneFormat(t *testing.T) {
	tb := chunkTomb{name: testChunk, gen: 7, at: time.Unix(0, 1_700_000_000_123_456_789)}
	b := encodeTomb(tb)
	got, err := decodeTomb(b)
	if err != nil || got.name != tb.name || got.gen != tb.gen || !got.at.Equal(tb.at) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for i := range b {
		bad := bytes.Clone(b)
		bad[i] ^= 0x10
		if _, err := decodeTomb(bad); err == nil {
			t.Fatalf("byte %d flipped: decoded", i)
		}
	}
	for _, n := range []int{0, 10, len(b) - 1} {
		if _, err := decodeTomb(b[:n]); err == nil {
			t.Fatalf("cut to %d bytes: decoded", n)
		}
	}
}

// TestChunkTombstoneRotted: a tombstone that fails its check neither blocks the chunk nor
// lets a stale delete take a newer chunk's file.
func TestChunkTombstoneRotted(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, nil)
	tg := n.target("d1", 5)
	mustWriteChunk(t, n, tg, client.ChunkWrite{Name: testChunk, Generation: 3, Sequence: 1}, blockData(testChunk, 0, 1))
	n.stop()
	tomb := tombPathOf(chunkFile(n, "d1", 5, testChunk))
	if err := os.WriteFile(tomb, []byte("STRCTMB1 rotted"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := startNode(t, nil, nil, func(c *Config) { c.DevicesDir = n.dir })
	tg = b.target("d1", 5)
	if err := b.cl.DeleteChunk(ctxT(t), tg, testChunk, 2); !errors.Is(err, client.ErrFenced) {
		t.Fatalf("stale delete: %v, want ErrFenced", err)
	}
	if got, _ := mustReadChunk(t, b, tg, testChunk, 0, bs); !bytes.Equal(got, blockData(testChunk, 0, 1)) {
		t.Fatal("chunk reads wrong beside a rotted tombstone")
	}
	if _, err := os.Stat(tomb); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("rotted tombstone kept: %v", err)
	}
}
