package nbd

import (
	"math/bits"
	"sync"
)

// Payload buffers come from pools by power-of-two size class, so a connection streaming
// requests of one size reuses the same few buffers instead of allocating per request.
// Buffers larger than the largest class are allocated and left to the garbage collector.
const (
	minBufClass = 9  // 512 B
	maxBufClass = 27 // 128 MiB
)

// buffer is a pooled payload buffer. b has the length asked for; its capacity is the
// class size.
type buffer struct {
	b     []byte
	class int // 0: not pooled
}

var bufPools [maxBufClass + 1]sync.Pool

// getBuffer returns a buffer of n bytes with unspecified contents.
func getBuffer(n int) *buffer {
	class := minBufClass
	if n > 1<<minBufClass {
		class = bits.Len(uint(n - 1))
	}
	if class > maxBufClass {
		return &buffer{b: make([]byte, n)}
	}
	if v := bufPools[class].Get(); v != nil {
		buf := v.(*buffer)
		buf.b = buf.b[:n]
		return buf
	}
	return &buffer{b: make([]byte, n, 1<<class), class: class}
}

// putBuffer returns buf to its pool; the caller must not use it again.
func putBuffer(buf *buffer) {
	if buf == nil || buf.class == 0 {
		return
	}
	bufPools[buf.class].Put(buf)
}

// zeroes is read-only: the source for zeroing an export by writing.
var zeroes [1 << 20]byte
