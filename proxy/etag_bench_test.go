package proxy

import (
	"crypto/md5"
	"fmt"
	"hash"
	"sync"
	"syscall"
	"testing"
	"time"

	md5simd "github.com/minio/md5-simd"
)

// BenchmarkETagMD5 hashes 1 and 8 concurrent bodies of 4 KiB and 1 MiB (one proxy chunk) per
// op: with crypto/md5 (one stream per goroutine, amd64 assembly) and with md5-simd (one
// shared server that hashes up to 8 or 16 streams in the lanes of one vector). It reports
// process CPU per op as well as wall time: on a busy server CPU is what a PUT costs.
func BenchmarkETagMD5(b *testing.B) {
	for _, size := range []int{4 << 10, 64 << 10, 256 << 10, 1 << 20} {
		for _, streams := range []int{1, 8} {
			b.Run(fmt.Sprintf("size=%dKiB/streams=%d", size>>10, streams), func(b *testing.B) { benchETagMD5(b, streams, size) })
		}
	}
}

func benchETagMD5(b *testing.B, streams, size int) {
	bodies := make([][]byte, streams)
	for i := range bodies {
		bodies[i] = make([]byte, size)
		for j := range bodies[i] {
			bodies[i][j] = byte(i*31 + j*7)
		}
	}
	want := make([][md5.Size]byte, streams)
	for i := range bodies {
		want[i] = md5.Sum(bodies[i])
	}
	run := func(b *testing.B, newHash func() hash.Hash, done func(hash.Hash)) {
		b.SetBytes(int64(streams * size))
		cpu0 := processCPU()
		for b.Loop() {
			var wg sync.WaitGroup
			for i := range streams {
				wg.Go(func() {
					h := newHash()
					h.Write(bodies[i])
					var sum [md5.Size]byte
					h.Sum(sum[:0])
					if sum != want[i] {
						b.Error("wrong digest")
					}
					done(h)
				})
			}
			wg.Wait()
		}
		b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
	}
	b.Run("crypto-md5", func(b *testing.B) {
		run(b, md5.New, func(hash.Hash) {})
	})
	b.Run("md5-simd", func(b *testing.B) {
		srv := md5simd.NewServer()
		defer srv.Close()
		run(b, func() hash.Hash { return srv.NewHash() }, func(h hash.Hash) { h.(md5simd.Hasher).Close() })
	})
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
