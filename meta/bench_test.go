package meta_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"stratus/meta"
	"stratus/meta/client"
	"stratus/meta/metatest"
)

// BenchmarkIndexCommit measures object-index commits per second through meta/client against
// three voters on loopback with 64 concurrent writers, and the p99 commit latency.
func BenchmarkIndexCommit(b *testing.B) { benchIndexCommit(b, 64, nil, nil) }

func benchIndexCommit(b *testing.B, writers int, configure func(*meta.Config), configureClient func(*client.Config)) {
	gcPercent(b)
	c := metatest.New(b, metatest.Options{Quiet: true, Configure: configure})
	ccfg := client.DefaultConfig(c.Nodes[0].Addr, c.Nodes[1].Addr, c.Nodes[2].Addr)
	if configureClient != nil {
		configureClient(&ccfg)
	}
	cl, err := client.New(ccfg)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	idx := cl.Index("bench")
	var seq atomic.Int64
	var mu sync.Mutex
	var lats []time.Duration
	b.ReportAllocs()
	b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	start, cpu := time.Now(), startCPU()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		ctx := context.Background()
		for pb.Next() {
			n := seq.Add(1)
			e := client.ObjectEntry{Bucket: "bench", Key: fmt.Sprintf("obj-%09d", n), Version: uint64(n), Size: 4096, ETag: "d41d8cd98f00b204e9800998ecf8427e", ContentType: "application/octet-stream"}
			t0 := time.Now()
			if err := idx.PutObject(ctx, e, false); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		lats = append(lats, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	if len(lats) > 0 {
		b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(lats[len(lats)/2].Microseconds())/1000, "p50-ms")
	}
	cpu.report(b, b.N)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "commits/s")
	leader := c.Leader(5 * time.Second)
	if mfs, err := c.Nodes[leader].Registry.Gather(); err == nil {
		for _, mf := range mfs {
			if h := mf.GetMetric()[0].GetHistogram(); h != nil && h.GetSampleCount() > 0 {
				switch mf.GetName() {
				case "stratus_meta_batch_requests":
					b.ReportMetric(h.GetSampleSum()/float64(h.GetSampleCount()), "reqs/batch")
				case "stratus_meta_raft_apply_seconds":
					b.ReportMetric(1000*h.GetSampleSum()/float64(h.GetSampleCount()), "raft-apply-ms")
				}
			}
		}
	}
}

// BenchmarkIndexGet measures linearizable object-index reads per second through meta/client
// against three voters with 64 concurrent readers, and the p99 read latency.
func BenchmarkIndexGet(b *testing.B) {
	gcPercent(b)
	c := metatest.New(b, metatest.Options{Quiet: true})
	cl := c.Client()
	idx := cl.Index("bench")
	ctx := context.Background()
	const objects = 1000
	for i := 0; i < objects; i++ {
		if err := idx.PutObject(ctx, client.ObjectEntry{Bucket: "bench", Key: fmt.Sprintf("obj-%09d", i), Version: 1, Size: 1}, false); err != nil {
			b.Fatal(err)
		}
	}
	var seq atomic.Int64
	var mu sync.Mutex
	var lats []time.Duration
	b.ReportAllocs()
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	start, cpu := time.Now(), startCPU()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			t0 := time.Now()
			if _, err := idx.GetObject(ctx, "bench", fmt.Sprintf("obj-%09d", seq.Add(1)%objects)); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		lats = append(lats, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	if len(lats) > 0 {
		b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds())/1000, "p99-ms")
	}
	cpu.report(b, b.N)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "reads/s")
}

// gcPercent runs the benchmark with the GOGC the stratus meta daemon uses (400) unless GOGC
// is set, so results match a deployed node; GOGC=100 go test -bench … shows the default.
func gcPercent(b *testing.B) {
	if _, ok := os.LookupEnv("GOGC"); !ok {
		old := debug.SetGCPercent(400)
		b.Cleanup(func() { debug.SetGCPercent(old) })
	}
}
