package chunkdev

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"stratus/internal/testcluster"
	objclient "stratus/objectd/client"
)

func benchDevice(b *testing.B, size int64) *Device {
	b.Helper()
	st := testcluster.StartStorage(b, testcluster.StorageOptions{Nodes: 3, Replicas: 3})
	cl := objclient.New(objclient.Config{Timeout: 10 * time.Second})
	b.Cleanup(cl.CloseIdleConnections)
	cfg := DefaultConfig()
	cfg.Volume, cfg.SizeBytes, cfg.Generation = testVolume, size, 1
	d, err := New(cfg, st.Ring, cl, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(d.Detach)
	return d
}

// BenchmarkWrite writes n bytes per op sequentially (wrapping) over a 256 MiB volume, three
// replicas on loopback, with a flush every 16 MiB.
func BenchmarkWrite(b *testing.B) {
	for _, n := range []int{4 << 10, 1 << 20} {
		b.Run(sizeName(n), func(b *testing.B) {
			const size = 256 << 20
			d := benchDevice(b, size)
			p := make([]byte, n)
			ctx := context.Background()
			b.SetBytes(int64(n))
			b.ReportAllocs()
			var off int64
			for b.Loop() {
				if err := d.WriteAt(ctx, p, uint64(off), false); err != nil {
					b.Fatal(err)
				}
				off = (off + int64(n)) % size
				if off%(16<<20) == 0 {
					if err := d.Flush(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkRead reads n bytes per op from a written 64 MiB volume.
func BenchmarkRead(b *testing.B) {
	for _, n := range []int{4 << 10, 1 << 20} {
		b.Run(sizeName(n), func(b *testing.B) {
			const size = 64 << 20
			d := benchDevice(b, size)
			ctx := context.Background()
			w := make([]byte, 4<<20)
			for off := 0; off < size; off += len(w) {
				if err := d.WriteAt(ctx, w, uint64(off), false); err != nil {
					b.Fatal(err)
				}
			}
			p := make([]byte, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			var off int64
			for b.Loop() {
				if err := d.ReadAt(ctx, p, uint64(off)); err != nil {
					b.Fatal(err)
				}
				off = (off + int64(n)*7) % size / int64(n) * int64(n)
			}
		})
	}
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return "1MiB"
	}
	return "4KiB"
}
