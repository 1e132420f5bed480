package client

import (
	"io"
	"strings"
	"sync/atomic"
	"time"
)

// binaryRetry is how long a client speaks JSON after a node refused a binary body, before it
// tries the binary form again: long enough not to pay a refused request per call during a
// rolling upgrade, short enough to switch soon after the last node is upgraded.
const binaryRetry = time.Minute

// wireChoice remembers whether the cluster was found not to speak the binary form.
type wireChoice struct {
	offUntil atomic.Int64 // unix nanoseconds; binary is off before then
}

func (w *wireChoice) binaryOn() bool { return time.Now().UnixNano() >= w.offUntil.Load() }

func (w *wireChoice) binaryOff() { w.offUntil.Store(time.Now().Add(binaryRetry).UnixNano()) }

// refusedBinary reports whether a node answered a binary body as a node before the binary
// form does: it tried to read the body as JSON and failed. The body was not acted on.
func refusedBinary(se *ServerError) bool {
	return se.Code == CodeBadRequest && strings.Contains(se.Message, "decode request") &&
		strings.Contains(se.Message, "invalid character")
}

// preallocBytes bounds the buffer ReadBody allocates ahead of the bytes arriving: a page of
// a thousand object entries with room to spare.
const preallocBytes = 4 << 20

// ReadBody reads a request or reply body of at most MaxBodyBytes (one more byte if it is
// longer, so the caller can refuse it), in a single allocation when its length is known: a
// list page is hundreds of kilobytes, which io.ReadAll would grow into by doubling.
func ReadBody(r io.Reader, length int64) ([]byte, error) {
	// A declared length is only trusted up to preallocBytes: a caller claiming 64 MiB and
	// sending nothing must not cost 64 MiB.
	if length < 0 || length > preallocBytes {
		return io.ReadAll(io.LimitReader(r, MaxBodyBytes+1))
	}
	buf := make([]byte, length)
	n, err := io.ReadFull(r, buf)
	return buf[:n], err
}
