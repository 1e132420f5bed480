package objectd

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	sha256simd "github.com/minio/sha256-simd"

	"stratus/objectd/client"
)

// Benchmarks write where STRATUS_BENCH_DIR points (default: the system temp dir), so the
// disk under test can be chosen. Every PUT benchmark reports the disk's own fsync'd
// sequential write speed for files of the same size, measured in the same run just before,
// and the PUT's share of it (of-disk); and its share of the same write made durable as a
// new file must be, renamed into place with its directory fsynced (of-durable-disk):
//
//	go test -run '^$' -bench . -benchtime 20x ./objectd/
//
// STRATUS_BENCH_TRAILER=1 makes PUTs send the checksum as a trailer computed while
// streaming (chunked encoding), the way a proxy that tees one body to several nodes does.

var sizes = []struct {
	name string
	n    int
}{{"4KiB", 4 << 10}, {"1MiB", 1 << 20}, {"4MiB", 4 << 20}, {"64MiB", 64 << 20}}

func benchDir(b *testing.B) string {
	base := os.Getenv("STRATUS_BENCH_DIR")
	dir, err := os.MkdirTemp(base, "objectd-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// diskCeiling measures the disk doing a PUT's work without objectd: create a file, write
// size bytes in bufSize writes, fsync, close; repeated over at least 256 MiB (or 100 files),
// best of three rounds. With durable set, each file is also renamed into place and its
// directory fsynced, as any store must do before it may acknowledge a new file.
func diskCeiling(b *testing.B, size int, durable bool) float64 {
	dir := benchDir(b)
	buf := payload(bufSize, 1)
	files := max(1, min(100, (256<<20)/size))
	best := 0.0
	for round := range 3 {
		start := time.Now()
		for i := range files {
			f, err := os.Create(filepath.Join(dir, fmt.Sprintf("seq-%d-%d", round, i)))
			if err != nil {
				b.Fatal(err)
			}
			for w := 0; w < size; w += len(buf) {
				if _, err := f.Write(buf[:min(len(buf), size-w)]); err != nil {
					b.Fatal(err)
				}
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			f.Close()
			if durable {
				name := filepath.Join(dir, fmt.Sprintf("seq-%d-%d", round, i))
				if err := os.Rename(name, name+".final"); err != nil {
					b.Fatal(err)
				}
				if err := syncDir(dir); err != nil {
					b.Fatal(err)
				}
				if err := os.Rename(name+".final", name); err != nil {
					b.Fatal(err)
				}
			}
		}
		best = max(best, float64(files*size)/time.Since(start).Seconds()/1e6)
		for i := range files {
			os.Remove(filepath.Join(dir, fmt.Sprintf("seq-%d-%d", round, i)))
		}
	}
	return best
}

// benchNode starts a node with one device in the benchmark directory.
func benchNode(b *testing.B) *testNode {
	dir := benchDir(b)
	return startNode(b, nil, []string{"d1"}, func(c *Config) {
		c.DevicesDir = dir
		c.FS = nil // the real file system, without the fault-injection wrapper
		InitDevice(filepath.Join(dir, "d1"))
	})
}

func BenchmarkPut(b *testing.B) {
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) {
			disk := diskCeiling(b, sz.n, false)
			durable := diskCeiling(b, sz.n, true)
			n := benchNode(b)
			body := payload(sz.n, 7)
			sum := client.ChecksumOf(body)
			sumPtr := &sum
			if os.Getenv("STRATUS_BENCH_TRAILER") != "" {
				sumPtr = nil
			}
			tg := n.target("d1", 1)
			b.ReportAllocs()
			b.SetBytes(int64(sz.n))
			i := 0
			for b.Loop() {
				i++
				err := n.cl.Put(ctxT(b), tg, client.PutRequest{Name: fmt.Sprintf("o%d", i), Timestamp: ts(i),
					Length: int64(sz.n), Checksum: sumPtr}, bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
			}
			mbps := float64(sz.n) * float64(b.N) / b.Elapsed().Seconds() / 1e6
			b.ReportMetric(disk, "disk-MB/s")
			b.ReportMetric(durable, "durable-disk-MB/s")
			b.ReportMetric(mbps/disk, "of-disk")
			b.ReportMetric(mbps/durable, "of-durable-disk")
		})
	}
}

func BenchmarkGet(b *testing.B) {
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) {
			n := benchNode(b)
			body := payload(sz.n, 7)
			tg := n.target("d1", 1)
			mustPut(b, n, tg, "obj", ts(1), body)
			b.ReportAllocs()
			b.SetBytes(int64(sz.n))
			for b.Loop() {
				o, err := n.cl.Get(ctxT(b), tg, "obj", nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, o.Body); err != nil {
					b.Fatal(err)
				}
				o.Body.Close()
			}
		})
	}
}

// BenchmarkChecksum is the measurement behind the choice of CRC-32C for content checksums.
func BenchmarkChecksum(b *testing.B) {
	buf := payload(bufSize, 3)
	b.Run("crc32c", func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		var c client.Checksum
		for b.Loop() {
			c = c.Update(buf)
		}
	})
	b.Run("sha256-simd", func(b *testing.B) {
		h := sha256simd.New()
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			h.Write(buf)
		}
	})
	b.Run("sha256-stdlib", func(b *testing.B) {
		h := sha256.New()
		b.SetBytes(int64(len(buf)))
		for b.Loop() {
			h.Write(buf)
		}
	})
}

// patternReader yields n bytes of a repeating pattern without holding them.
type patternReader struct {
	block []byte
	left  int64
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	n := copy(b[:min(int64(len(b)), p.left)], p.block)
	p.left -= int64(n)
	return n, nil
}

// TestStreamingMemoryIsConstant streams a 1 GiB object in and out and bounds what the
// process allocated meanwhile: memory per request must not grow with the object.
func TestStreamingMemoryIsConstant(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 1 GiB")
	}
	const size = 1 << 30
	const bound = 32 << 20 // 3% of the object; a buffered implementation needs ≥ 1 GiB
	n := startNode(t, nil, []string{"d1"}, func(c *Config) {
		if d := os.Getenv("STRATUS_BENCH_DIR"); d != "" {
			c.DevicesDir, _ = os.MkdirTemp(d, "objectd-mem-")
			t.Cleanup(func() { os.RemoveAll(c.DevicesDir) })
			InitDevice(filepath.Join(c.DevicesDir, "d1"))
		}
	})
	tg := n.target("d1", 1)
	block := payload(64<<10, 5)

	alloc := func(f func()) (total, heapGrowth uint64) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		growth := uint64(0)
		if after.HeapInuse > before.HeapInuse {
			growth = after.HeapInuse - before.HeapInuse
		}
		return after.TotalAlloc - before.TotalAlloc, growth
	}
	putAlloc, putHeap := alloc(func() {
		err := n.cl.Put(ctxT(t), tg, client.PutRequest{Name: "big", Timestamp: ts(1), Length: size},
			&patternReader{block: block, left: size})
		if err != nil {
			t.Fatal(err)
		}
	})
	var got int64
	getAlloc, getHeap := alloc(func() {
		o, err := n.cl.Get(ctxT(t), tg, "big", nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err = io.Copy(io.Discard, o.Body) // the client verifies the checksum at EOF
		o.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
	})
	if got != size {
		t.Fatalf("read %d bytes, want %d", got, size)
	}
	t.Logf("1 GiB PUT: allocated %d KiB, heap growth %d KiB; GET: allocated %d KiB, heap growth %d KiB",
		putAlloc>>10, putHeap>>10, getAlloc>>10, getHeap>>10)
	if putAlloc > bound || getAlloc > bound {
		t.Fatalf("allocated %d (PUT) and %d (GET) bytes for a 1 GiB object; bound %d", putAlloc, getAlloc, bound)
	}
}
