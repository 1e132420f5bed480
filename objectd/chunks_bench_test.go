package objectd

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"stratus/objectd/client"
)

// Chunk benchmarks: 4 KiB writes at random block offsets of a 64 MiB volume (16 chunks),
// with and without FUA, and 4 KiB reads, by one writer and by several, against what the
// same disk does without objectd measured in the same run:
//
//	go test -run '^$' -bench Chunk -benchtime 3s ./objectd/
//
// Each reports writes/s (or reads/s) and two ceilings: ceiling-ops/s, the same random 4 KiB
// pwrites into sparse 4 MiB files with the same concurrency (followed each by an fdatasync
// for FUA; preads for reads), and durable-disk-files/s, the durable small-file ceiling of
// the PUT benchmarks (diskCeiling at 4 KiB: create, write, fsync, rename, fsync the
// directory), the rate at which the disk stores 4 KiB durably as new files. of-ceiling is
// the benchmark's share of the first. STRATUS_BENCH_DIR picks the disk.

const benchChunks = 16

// chunkCeiling runs writers goroutines doing random 4 KiB pwrites (with fdatasync after
// each if fua; preads if read) over benchChunks sparse files of DefaultChunkSize, for about
// half a second, three times, and returns the best rate in operations per second.
func chunkCeiling(b *testing.B, writers int, fua, read bool) float64 {
	dir := benchDir(b)
	var files []*os.File
	for i := range benchChunks {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("ceiling-%d", i)))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := f.Truncate(client.DefaultChunkSize); err != nil {
			b.Fatal(err)
		}
		if read {
			if _, err := f.WriteAt(payload(client.DefaultChunkSize, uint64(i)), 0); err != nil {
				b.Fatal(err)
			}
		}
		files = append(files, f)
	}
	best := 0.0
	for round := range 3 {
		var ops atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for w := range writers {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(round), uint64(w)))
				buf := payload(bs, uint64(w))
				for time.Since(start) < 500*time.Millisecond {
					f := files[rng.IntN(len(files))]
					off := int64(rng.IntN(client.DefaultChunkSize/bs)) * bs
					var err error
					if read {
						_, err = f.ReadAt(buf, off)
					} else {
						_, err = f.WriteAt(buf, off)
						if err == nil && fua {
							err = datasync(f)
						}
					}
					if err != nil {
						b.Error(err)
						return
					}
					ops.Add(1)
				}
			})
		}
		wg.Wait()
		best = max(best, float64(ops.Load())/time.Since(start).Seconds())
	}
	return best
}

// benchChunkNames returns the chunk names of the benchmark volume, each created with one
// block written (creation, with its fsyncs, is not what is measured).
func benchChunkNames(b *testing.B, n *testNode, full bool) []string {
	tg := n.target("d1", 1)
	var names []string
	for i := range benchChunks {
		name := fmt.Sprintf(".vol/vol-00000000000000be/%016x", i)
		data := payload(bs, uint64(i))
		if full {
			data = payload(client.DefaultChunkSize, uint64(i))
		}
		if _, err := n.cl.WriteChunk(ctxT(b), tg, client.ChunkWrite{Name: name, Generation: 1, Sequence: 1}, data); err != nil {
			b.Fatal(err)
		}
		names = append(names, name)
	}
	return names
}

// runConcurrently runs op b.N times over writers goroutines.
func runConcurrently(b *testing.B, writers int, op func(rng *rand.Rand, i int64) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(7, uint64(w)))
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if err := op(rng, i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
}

func BenchmarkChunkWrite(b *testing.B) {
	durableFiles := -1.0
	for _, fua := range []bool{false, true} {
		for _, writers := range []int{1, 4} {
			b.Run(fmt.Sprintf("4KiB/fua=%v/writers=%d", fua, writers), func(b *testing.B) {
				if durableFiles < 0 {
					durableFiles = diskCeiling(b, bs, true) * 1e6 / bs
				}
				ceiling := chunkCeiling(b, writers, fua, false)
				n := benchNode(b)
				tg := n.target("d1", 1)
				names := benchChunkNames(b, n, false)
				data := payload(bs, 9)
				var seq atomic.Uint64
				seq.Store(1)
				b.ReportAllocs()
				b.SetBytes(bs)
				runConcurrently(b, writers, func(rng *rand.Rand, _ int64) error {
					w := client.ChunkWrite{Name: names[rng.IntN(len(names))], Offset: int64(rng.IntN(client.DefaultChunkSize/bs)) * bs,
						Generation: 1, Sequence: seq.Add(1), FUA: fua}
					_, err := n.cl.WriteChunk(ctxT(b), tg, w, data)
					return err
				})
				rate := float64(b.N) / b.Elapsed().Seconds()
				b.ReportMetric(rate, "writes/s")
				b.ReportMetric(ceiling, "ceiling-ops/s")
				b.ReportMetric(rate/ceiling, "of-ceiling")
				b.ReportMetric(durableFiles, "durable-disk-files/s")
			})
		}
	}
}

// BenchmarkChunkStoreWrite is BenchmarkChunkWrite without HTTP: the chunk store called
// directly, to tell its cost from the transport's.
func BenchmarkChunkStoreWrite(b *testing.B) {
	for _, fua := range []bool{false, true} {
		for _, writers := range []int{1, 4} {
			b.Run(fmt.Sprintf("4KiB/fua=%v/writers=%d", fua, writers), func(b *testing.B) {
				ceiling := chunkCeiling(b, writers, fua, false)
				n := benchNode(b)
				names := benchChunkNames(b, n, false)
				data := payload(bs, 9)
				var seq atomic.Uint64
				seq.Store(1)
				b.ReportAllocs()
				b.SetBytes(bs)
				runConcurrently(b, writers, func(rng *rand.Rand, _ int64) error {
					ch := chunkChange{name: names[rng.IntN(len(names))], generation: 1, fua: fua}
					_, err := n.srv.chunks.write("d1", 1, ch, int64(rng.IntN(client.DefaultChunkSize/bs))*bs, seq.Add(1), data)
					return err
				})
				rate := float64(b.N) / b.Elapsed().Seconds()
				b.ReportMetric(rate, "writes/s")
				b.ReportMetric(ceiling, "ceiling-ops/s")
				b.ReportMetric(rate/ceiling, "of-ceiling")
			})
		}
	}
}

func BenchmarkChunkRead(b *testing.B) {
	for _, readers := range []int{1, 4} {
		b.Run(fmt.Sprintf("4KiB/readers=%d", readers), func(b *testing.B) {
			ceiling := chunkCeiling(b, readers, false, true)
			n := benchNode(b)
			tg := n.target("d1", 1)
			names := benchChunkNames(b, n, true)
			b.ReportAllocs()
			b.SetBytes(bs)
			var bufs sync.Pool
			bufs.New = func() any { return make([]byte, bs) }
			runConcurrently(b, readers, func(rng *rand.Rand, _ int64) error {
				buf := bufs.Get().([]byte)
				defer bufs.Put(buf)
				_, err := n.cl.ReadChunk(ctxT(b), tg, names[rng.IntN(len(names))], int64(rng.IntN(client.DefaultChunkSize/bs))*bs, buf)
				return err
			})
			rate := float64(b.N) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "reads/s")
			b.ReportMetric(ceiling, "ceiling-ops/s")
			b.ReportMetric(rate/ceiling, "of-ceiling")
		})
	}
}

// BenchmarkChunkFlush measures a flush of 16 chunks, each with a few 4 KiB writes since
// the last one, the way volumed flushes a volume.
func BenchmarkChunkFlush(b *testing.B) {
	n := benchNode(b)
	tg := n.target("d1", 1)
	names := benchChunkNames(b, n, false)
	var refs []client.ChunkRef
	for _, name := range names {
		refs = append(refs, client.ChunkRef{Partition: 1, Name: name})
	}
	data := payload(bs, 9)
	rng := rand.New(rand.NewPCG(1, 2))
	seq := uint64(1)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for _, name := range names {
			seq++
			if _, err := n.cl.WriteChunk(ctxT(b), tg, client.ChunkWrite{Name: name, Offset: int64(rng.IntN(1024)) * bs,
				Generation: 1, Sequence: seq}, data); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if res, err := n.cl.FlushChunks(ctxT(b), tg, refs); err != nil || res.Synced != len(names) {
			b.Fatalf("flush: %+v, %v", res, err)
		}
	}
}
