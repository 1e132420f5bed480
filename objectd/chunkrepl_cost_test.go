package objectd

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"stratus/objectd/client"
)

// TestChunkReplicationCost measures the chunk replicator (not run by default):
//
//	STRATUS_CHUNK_REPL_COST=2000 go test -run TestChunkReplicationCost -v ./objectd/
//
// It writes that many chunks (16 blocks each) to three nodes speaking mutual TLS, times a
// pass with nothing to do, then has one node miss K = chunks/2 block writes and reports the
// blocks the next pass pushes.
func TestChunkReplicationCost(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("STRATUS_CHUNK_REPL_COST"))
	if n <= 0 {
		t.Skip("set STRATUS_CHUNK_REPL_COST to a number of chunks")
	}
	c := newTLSCluster(t, 3, 1)
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf(".vol/vol-00000000000000f0/%016x", i)
	}
	each := func(f func(name string)) {
		work := make(chan string)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for name := range work {
					f(name)
				}
			})
		}
		for _, name := range names {
			work <- name
		}
		close(work)
		wg.Wait()
	}
	start := time.Now()
	each(func(name string) {
		part, prims := c.place(name)
		for _, d := range prims {
			node, tg := c.target(d, part)
			mustWriteChunk(t, node, tg, client.ChunkWrite{Name: name, Generation: 1, Sequence: seqOf(1, 1)}, blocksData(name, 0, 16, seqOf(1, 1)))
		}
	})
	t.Logf("wrote %d chunks x 3 replicas in %v", n, time.Since(start).Round(time.Millisecond))
	for i := range 3 {
		rep, err := c.nodes[0].srv.ReplicateOnce(ctxT(t))
		if err != nil || rep.ChunkBlocks != 0 || rep.Chunks != n {
			t.Fatalf("idle pass: %+v, %v", rep, err)
		}
		t.Logf("idle pass %d over %d chunks (%d partitions): %v, %.1f µs per chunk", i, rep.Chunks, rep.ChunkPartitions,
			rep.Duration.Round(time.Millisecond), float64(rep.Duration.Microseconds())/float64(rep.Chunks))
	}

	// Cold: every node restarted, so no chunk is open and each is read from its file.
	for i := range c.nodes {
		c.stopNode(i)
		c.startNodeAgain(t, i)
	}
	rep, err := c.nodes[0].srv.ReplicateOnce(ctxT(t))
	if err != nil || rep.ChunkBlocks != 0 || rep.Chunks != n {
		t.Fatalf("cold idle pass: %+v, %v", rep, err)
	}
	t.Logf("idle pass after a restart (no chunk open) over %d chunks: %v, %.1f µs per chunk", rep.Chunks,
		rep.Duration.Round(time.Millisecond), float64(rep.Duration.Microseconds())/float64(rep.Chunks))

	c.stopNode(2)
	k := n / 2
	rng := rand.New(rand.NewPCG(1, 2))
	missed := map[[2]int]bool{}
	for w := range k {
		i, b := rng.IntN(n), rng.IntN(256)
		name := names[i]
		part, prims := c.place(name)
		seq := seqOf(1, uint64(2+w))
		for _, d := range prims {
			if d.Host == c.nodes[2].addr {
				continue
			}
			node, tg := c.target(d, part)
			mustWriteChunk(t, node, tg, client.ChunkWrite{Name: name, Offset: int64(b) * bs, Generation: 1, Sequence: seq}, blockData(name, b, seq))
		}
		missed[[2]int{i, b}] = true
	}
	c.startNodeAgain(t, 2)
	start = time.Now()
	rep = c.replicate(t)
	t.Logf("node missed %d writes (%d distinct blocks): one pass on every node pushed %d blocks (%d bytes) to %d chunks in %v, errors %d",
		k, len(missed), rep.ChunkBlocks, rep.ChunkBytes, rep.ChunksRepaired, time.Since(start).Round(time.Millisecond), rep.Errors)
	if rep.ChunkBlocks != len(missed) {
		t.Errorf("%d blocks pushed for %d missed", rep.ChunkBlocks, len(missed))
	}
}
