package s3api

import (
	"io"
	"sync"
)

// Sizes of the pieces copyBody writes: the first small, so the first bytes leave soon; the
// rest large, so a response costs few write calls however small the pieces its source
// returns (a TLS connection to a storage node yields one 16 KiB record per read).
const (
	firstPieceBytes = 32 << 10
	pieceBytes      = 256 << 10
)

var pieces = sync.Pool{New: func() any { b := make([]byte, pieceBytes); return &b }}

// copyBody copies exactly n bytes from r to w, gathering each piece before writing it. It
// returns the bytes written and, if fewer than n, why.
func copyBody(w io.Writer, r io.Reader, n int64) (int64, error) {
	bp := pieces.Get().(*[]byte)
	defer pieces.Put(bp)
	var written int64
	size := firstPieceBytes
	for written < n {
		buf := (*bp)[:min(int64(size), n-written)]
		got, err := io.ReadFull(r, buf)
		if got > 0 {
			m, werr := w.Write(buf[:got])
			written += int64(m)
			if werr != nil {
				return written, werr
			}
		}
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			return written, io.ErrUnexpectedEOF
		}
		if err != nil {
			return written, err
		}
		size = pieceBytes
	}
	return written, nil
}
