package objectd

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"testing"

	"stratus/objectd/client"
)

// BenchmarkPutConcurrent is BenchmarkPut with PUTs four at a time (two per core), as a
// proxy sends them: receiving one body overlaps flushing another.
func BenchmarkPutConcurrent(b *testing.B) {
	for _, sz := range sizes {
		b.Run(sz.name, func(b *testing.B) {
			disk := diskCeiling(b, sz.n, false)
			durable := diskCeiling(b, sz.n, true)
			n := benchNode(b)
			body := payload(sz.n, 7)
			sum := client.ChecksumOf(body)
			tg := n.target("d1", 1)
			b.SetBytes(int64(sz.n))
			b.SetParallelism(2)
			b.ResetTimer()
			var i atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					k := i.Add(1)
					if err := n.cl.Put(ctxT(b), tg, client.PutRequest{Name: fmt.Sprintf("o%d", k), Timestamp: ts(int(k)),
						Length: int64(sz.n), Checksum: &sum}, bytes.NewReader(body)); err != nil {
						b.Fatal(err)
					}
				}
			})
			mbps := float64(sz.n) * float64(b.N) / b.Elapsed().Seconds() / 1e6
			b.ReportMetric(disk, "disk-MB/s")
			b.ReportMetric(durable, "durable-disk-MB/s")
			b.ReportMetric(mbps/disk, "of-disk")
			b.ReportMetric(mbps/durable, "of-durable-disk")
		})
	}
}
