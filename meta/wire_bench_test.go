package meta_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"stratus/meta/client"
	"stratus/meta/metatest"
)

// BenchmarkListWalk100k indexes 100,000 objects, then walks them all through meta/client in
// pages of 1,000: "index" as S3's ListObjects does (ObjectEntry records decoded), "raw" as
// items. walk-s is the time of one full walk.
func BenchmarkListWalk100k(b *testing.B) {
	gcPercent(b)
	c := metatest.New(b, metatest.Options{Quiet: true})
	cl := c.Client()
	ctx := context.Background()
	const objects, perCall = 100_000, 1000
	for start := 0; start < objects; start += perCall {
		ops := make([]client.Op, 0, perCall)
		for i := start; i < start+perCall; i++ {
			e := client.ObjectEntry{Bucket: "walk", Key: fmt.Sprintf("dir%03d/obj-%09d", i/1000, i), Version: uint64(i + 1), Size: 4096,
				ETag: "d41d8cd98f00b204e9800998ecf8427e", ContentType: "application/octet-stream"}
			ops = append(ops, client.Op{Kind: client.OpPut, Table: client.TableObjects, Key: "walk/" + e.Key, Value: mustJSON(e), Version: e.Version})
		}
		if _, err := cl.Apply(ctx, ops...); err != nil {
			b.Fatal(err)
		}
	}
	walk := func(b *testing.B, page func(after string) (last string, n int, more bool)) {
		b.ReportAllocs()
		start, cpu := time.Now(), startCPU()
		for b.Loop() {
			after, total := "", 0
			for {
				last, n, more := page(after)
				total += n
				after = last
				if !more {
					break
				}
			}
			if total != objects {
				b.Fatalf("walked %d objects, want %d", total, objects)
			}
		}
		b.ReportMetric(time.Since(start).Seconds()/float64(b.N), "walk-s")
		cpu.report(b, b.N*objects/perCall) // per page
	}
	b.Run("index", func(b *testing.B) {
		idx := cl.Index("walk")
		walk(b, func(after string) (string, int, bool) {
			es, more, err := idx.ListObjects(ctx, "walk", "", after, perCall)
			if err != nil || len(es) == 0 {
				b.Fatalf("list: %d entries, %v", len(es), err)
			}
			return es[len(es)-1].Key, len(es), more
		})
	})
	b.Run("raw", func(b *testing.B) {
		walk(b, func(after string) (string, int, bool) {
			items, more, err := cl.List(ctx, client.TableObjects, "walk/", after, perCall)
			if err != nil || len(items) == 0 {
				b.Fatalf("list: %d items, %v", len(items), err)
			}
			return items[len(items)-1].Key, len(items), more
		})
	})
}

// BenchmarkGet4KiB reads a 4 KiB value (the size of a small object's inline data or a large
// record) through meta/client with 16 concurrent linearizable readers: the wire's cost per
// byte of value.
func BenchmarkGet4KiB(b *testing.B) {
	gcPercent(b)
	c := metatest.New(b, metatest.Options{Quiet: true})
	cl := c.Client()
	ctx := context.Background()
	value := bytes.Repeat([]byte("0123456789abcdef"), 256)
	const keys = 64
	for i := range keys {
		if err := cl.Put(ctx, client.TableObjects, fmt.Sprintf("b/k%03d", i), value); err != nil {
			b.Fatal(err)
		}
	}
	var seq atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	cpu := startCPU()
	defer func() { cpu.report(b, b.N) }()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			it, err := cl.Get(ctx, client.TableObjects, fmt.Sprintf("b/k%03d", seq.Add(1)%keys))
			if err != nil || len(it.Value) != len(value) {
				b.Errorf("get: %d bytes, %v", len(it.Value), err)
				return
			}
		}
	})
}

func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return data
}

// cpuMeter reports the process's CPU time (user and system: the client and every in-process
// node) per operation as cpu-us/op, a steadier figure than wall time on a shared machine.
type cpuMeter struct{ start time.Duration }

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU() cpuMeter { return cpuMeter{start: processCPU()} }

func (m cpuMeter) report(b *testing.B, ops int) {
	if ops > 0 {
		b.ReportMetric(float64((processCPU()-m.start).Microseconds())/float64(ops), "cpu-us/op")
	}
}
