package objectd

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"testing"

	"stratus/objectd/client"
)

// BenchmarkSmallPut compares small PUTs stored as files and in the small-object log, eight
// at a time (four per core), on the real file system: go test -run '^$' -bench SmallPut
// ./objectd/.
func BenchmarkSmallPut(b *testing.B) {
	for _, size := range []int{4 << 10, 64 << 10, 256 << 10} {
		for _, mode := range []struct {
			name string
			max  int64
		}{{"file", 0}, {"log", 256 << 10}} {
			b.Run(fmt.Sprintf("%dKiB/%s", size>>10, mode.name), func(b *testing.B) {
				dir := benchDir(b)
				n := startNode(b, nil, []string{"d1"}, func(c *Config) {
					c.DevicesDir = dir
					c.FS = nil
					c.SmallObjectMax = mode.max
					InitDevice(dir + "/d1")
				})
				body := payload(size, 7)
				sum := client.ChecksumOf(body)
				b.SetBytes(int64(size))
				b.SetParallelism(4)
				b.ResetTimer()
				var i atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						k := i.Add(1)
						tg := n.target("d1", uint32(k%64))
						if err := n.cl.Put(ctxT(b), tg, client.PutRequest{Name: fmt.Sprintf("o%d", k), Timestamp: ts(int(k)),
							Length: int64(size), Checksum: &sum}, bytes.NewReader(body)); err != nil {
							b.Fatal(err)
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "PUT/s")
			})
		}
	}
}
