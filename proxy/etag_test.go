package proxy

import (
	"crypto/md5"
	"sync"
	"testing"
)

// The ETag hash gives crypto/md5's digest on either side of etagSIMDMinBytes, with
// concurrent bodies sharing the md5-simd server and a body fed in several writes.
func TestETagHashMatchesMD5(t *testing.T) {
	var wg sync.WaitGroup
	for i, size := range []int{0, 4 << 10, etagSIMDMinBytes - 1, etagSIMDMinBytes, 1<<20 + 3} {
		for j := range 3 {
			wg.Go(func() {
				body := make([]byte, size)
				for k := range body {
					body[k] = byte(k*13 + i + j)
				}
				h := newETagHash(int64(size))
				defer h.Close()
				h.Write(body[:size/3])
				h.Write(body[size/3:])
				var got [md5.Size]byte
				h.Sum(got[:0])
				if want := md5.Sum(body); got != want {
					t.Errorf("%d bytes: %x, want %x", size, got, want)
				}
			})
		}
	}
	wg.Wait()
}
