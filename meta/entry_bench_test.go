package meta_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"stratus/meta/client"
	"stratus/meta/metatest"
)

// BenchmarkListWalk100kBinaryEntries is BenchmarkListWalk100k/index with the entries stored
// in their binary form (client.Config.BinaryEntries), written through the object index.
func BenchmarkListWalk100kBinaryEntries(b *testing.B) {
	gcPercent(b)
	c := metatest.New(b, metatest.Options{Quiet: true})
	cfg := client.DefaultConfig(c.Nodes[0].Addr, c.Nodes[1].Addr, c.Nodes[2].Addr)
	cfg.BinaryEntries = true
	cl, err := client.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	idx := cl.Index("walk")
	const objects, perCall, writers = 100_000, 1000, 64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < objects; i += writers {
				e := client.ObjectEntry{Bucket: "walk", Key: fmt.Sprintf("dir%03d/obj-%09d", i/1000, i), Version: uint64(i + 1), Size: 4096,
					ETag: "d41d8cd98f00b204e9800998ecf8427e", ContentType: "application/octet-stream"}
				if err := idx.PutObject(ctx, e, false); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), startCPU()
	for b.Loop() {
		after, total := "", 0
		for {
			es, more, err := idx.ListObjects(ctx, "walk", "", after, perCall)
			if err != nil || len(es) == 0 {
				b.Fatalf("list: %d entries, %v", len(es), err)
			}
			total += len(es)
			after = es[len(es)-1].Key
			if !more {
				break
			}
		}
		if total != objects {
			b.Fatalf("walked %d objects, want %d", total, objects)
		}
	}
	b.ReportMetric(time.Since(start).Seconds()/float64(b.N), "walk-s")
	cpu.report(b, b.N*objects/perCall)
}
