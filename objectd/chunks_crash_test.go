package objectd

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"stratus/objectd/client"
)

// tornMix returns a crashFS mix that builds each file sector by sector (512 bytes), taking
// each sector from what the last fsync made durable or from what the page cache holds, at
// random, and cuts the file at either length: a disk that wrote back some of the dirty
// sectors, in any order, before the power went. A block table entry lies within a sector,
// so it comes out old or new; a data block can come out mixed. The header's changing
// fields all lie in the first sector of a slot, so the first 4 KiB are mixed 8 bytes at a
// time instead, as by a device that does not write a sector atomically: a header slot can
// then come out torn too.
func tornMix(rng *rand.Rand) func(durable, now []byte) []byte {
	return func(durable, now []byte) []byte {
		size := len(durable)
		if rng.IntN(2) == 0 {
			size = len(now)
		}
		out := make([]byte, size)
		sector := 8
		for off := 0; off < size; off += sector {
			if off == chunkHeaderSize {
				sector = 512
			}
			src := durable
			if rng.IntN(2) == 0 {
				src = now
			}
			if off < len(src) {
				copy(out[off:min(off+sector, size)], src[off:min(off+sector, len(src))])
			}
		}
		return out
	}
}

// TestChunkCrash runs writers, zeroes, FUA writes and flushes on several chunks at once,
// cuts the power at an arbitrary point with the page cache written back in part and in any
// order, and checks the chunks a restarted node finds:
//
//   - a chunk that acknowledged a write exists;
//   - every block holds at least the newest sequence that a completed flush (or a FUA
//     write) covered;
//   - every block it serves holds exactly the data of the sequence its table names;
//   - a block is refused as torn only if a write or zero after the last flush of it was
//     in flight or acknowledged; flushed blocks are never torn.
//
// Odd rounds keep one chunk file open, so most writes also go through closing (and
// syncing) a file to make room for another.
func TestChunkCrash(t *testing.T) {
	for round := range 4 {
		t.Run(fmt.Sprint(round), func(t *testing.T) { chunkCrashRound(t, round) })
	}
}

type blockKey struct{ chunk, block int }

func chunkCrashRound(t *testing.T, round int) {
	var cfs *crashFS
	n := startNode(t, nil, []string{"d1"}, func(c *Config) {
		cfs = newCrashFS(t, c.DevicesDir, true)
		c.FS = cfs
		if round%2 == 1 {
			c.MaxOpenChunks = 1
		}
	})
	tg := n.target("d1", 5)
	names := []string{"crash/c0", "crash/c1", "crash/c2"}
	var refs []client.ChunkRef
	for _, name := range names {
		refs = append(refs, client.ChunkRef{Partition: 5, Name: name})
	}
	const blocks, writers = 12, 4
	var (
		mu         sync.Mutex
		rng        = rand.New(rand.NewPCG(uint64(round), 1))
		crashed    bool
		ops        int
		crashAt    = 150 + 70*round
		next       uint64
		attempted  = map[blockKey][]uint64{} // sequences sent before the crash, per block
		zeros      = map[uint64]bool{}       // sequences that zeroed
		acked      = map[blockKey]uint64{}   // highest acknowledged sequence, per block
		durable    = map[blockKey]uint64{}   // highest sequence a completed flush or FUA covered
		ackedChunk = map[int]bool{}
		img        = t.TempDir()
		wg         sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			wr := rand.New(rand.NewPCG(uint64(round), uint64(10+w)))
			for {
				mu.Lock()
				if crashed {
					mu.Unlock()
					return
				}
				if ops++; ops == crashAt {
					cfs.imageWith(t, img, tornMix(rng))
					crashed = true
					mu.Unlock()
					return
				}
				kind, ci := wr.IntN(10), wr.IntN(len(names))
				if kind == 0 {
					covered := maps.Clone(acked)
					mu.Unlock()
					_, err := n.cl.FlushChunks(ctxT(t), tg, refs)
					mu.Lock()
					if err != nil {
						t.Errorf("flush: %v", err)
					} else if !crashed {
						for k, s := range covered {
							durable[k] = max(durable[k], s)
						}
					}
					mu.Unlock()
					continue
				}
				zero := kind == 1 && ackedChunk[ci] // a zero creates no chunk; only zero written ones
				fua := kind == 2
				first := wr.IntN(blocks)
				nb := 1 + wr.IntN(min(3, blocks-first))
				next++
				seq := next
				for b := first; b < first+nb; b++ {
					attempted[blockKey{ci, b}] = append(attempted[blockKey{ci, b}], seq)
				}
				zeros[seq] = zero
				mu.Unlock()

				name := names[ci]
				var err error
				if zero {
					_, err = n.cl.ZeroChunk(ctxT(t), tg, client.ChunkZero{Name: name, Offset: int64(first) * bs, Length: int64(nb) * bs,
						Generation: 1, Sequence: seq, FUA: fua})
				} else {
					_, err = n.cl.WriteChunk(ctxT(t), tg, client.ChunkWrite{Name: name, Offset: int64(first) * bs, Generation: 1,
						Sequence: seq, FUA: fua}, blocksData(name, first, nb, seq))
				}
				mu.Lock()
				if err != nil {
					t.Errorf("change %d: %v", seq, err)
				} else if !crashed {
					for b := first; b < first+nb; b++ {
						k := blockKey{ci, b}
						acked[k] = max(acked[k], seq)
						if fua {
							durable[k] = max(durable[k], seq)
						}
					}
					ackedChunk[ci] = true
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	n.stop()

	r := startNode(t, nil, nil, func(c *Config) { c.DevicesDir = img })
	rt := r.target("d1", 5)
	torn, checked := 0, 0
	for ci, name := range names {
		m, err := r.cl.ChunkMeta(ctxT(t), rt, name, 0)
		if errors.Is(err, client.ErrNotFound) {
			if ackedChunk[ci] {
				t.Errorf("%s acknowledged writes but is gone after the crash", name)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		held := map[int]uint64{}
		for _, b := range m.Blocks {
			held[int(b.OffsetBytes/bs)] = b.Sequence
		}
		for b := range blocks {
			k := blockKey{ci, b}
			seq, d := held[b], durable[k]
			if seq < d {
				t.Errorf("%s block %d: holds sequence %d, but %d was flushed", name, b, seq, d)
			}
			if seq != 0 && !slices.Contains(attempted[k], seq) {
				t.Errorf("%s block %d: holds sequence %d, never written to it", name, b, seq)
			}
			later := false
			for _, s := range attempted[k] {
				later = later || s > d
			}
			got, _, err := readChunk(t, r, rt, name, int64(b)*bs, bs)
			switch {
			case errors.Is(err, client.ErrTorn):
				torn++
				if !later {
					t.Errorf("%s block %d: torn, but its last change (%d) was flushed", name, b, d)
				}
			case err != nil:
				t.Errorf("%s block %d: %v", name, b, err)
			default:
				checked++
				want := make([]byte, bs)
				if seq != 0 && !zeros[seq] {
					want = blockData(name, b, seq)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s block %d: data is not that of sequence %d", name, b, seq)
				}
			}
		}
	}
	t.Logf("round %d: %d changes sent before the crash; %d blocks read back and checked, %d refused as torn", round, next, checked, torn)
}
