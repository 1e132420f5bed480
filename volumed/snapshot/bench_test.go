package snapshot_test

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
)

// BenchmarkPutChunk stores new 4 MiB chunks, four at a time, through three storage nodes on
// loopback with mutual TLS: the cost per chunk of a snapshot's copy (hash, reference
// records, upload to three replicas).
func BenchmarkPutChunk(b *testing.B) {
	e := newEnv(b, fastConfig())
	const size = 4 << 20
	var seed atomic.Uint64
	b.SetBytes(size)
	b.SetParallelism(2) // × GOMAXPROCS goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		data := chunk(size, seed.Add(1)) // made new per call by its first 8 bytes
		for pb.Next() {
			binary.LittleEndian.PutUint64(data, 1000+seed.Add(1))
			if _, err := e.store.PutChunk(e.ctx, data); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkAddRef takes references to content already stored: the cost per unchanged chunk
// a snapshot shares with its parent.
func BenchmarkAddRef(b *testing.B) {
	e := newEnv(b, fastConfig())
	ref, err := e.store.PutChunk(e.ctx, chunk(64<<10, 1))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := e.store.AddRef(e.ctx, ref); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
