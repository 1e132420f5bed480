package s3api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// endCheckReader passes a body through, feeding every byte to sum, and runs check once the
// body has ended: at EOF, or as soon as size bytes have been read when size is known, so a
// caller that stops reading at the declared length still gets the verdict. The last bytes
// are returned only together with io.EOF after check passed; if it failed, Read returns the
// error instead of them. Memory is the hash states, whatever the body size.
type endCheckReader struct {
	src   io.ReadCloser
	size  int64 // -1 when unknown
	read  int64
	sum   io.Writer
	check func() error
	err   error // sticky: io.EOF once verified, or the failure
}

// Read implements io.Reader.
func (r *endCheckReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.size >= 0 && int64(len(p)) > r.size-r.read {
		p = p[:r.size-r.read]
	}
	n, err := r.src.Read(p)
	r.sum.Write(p[:n])
	r.read += int64(n)
	if err == nil && r.size >= 0 && r.read == r.size {
		err = io.EOF
	}
	switch {
	case err == io.EOF:
		if r.size >= 0 && r.read < r.size {
			r.err = bodyError(io.ErrUnexpectedEOF)
			return n, r.err
		}
		if r.err = r.check(); r.err != nil {
			return 0, r.err
		}
		r.err = io.EOF
		return n, io.EOF
	case err != nil:
		r.err = bodyError(err)
		return n, r.err
	}
	return n, nil
}

// Close implements io.Closer.
func (r *endCheckReader) Close() error { return r.src.Close() }

// newHashReader checks the body against the hex SHA-256 the request was signed with.
func newHashReader(src io.ReadCloser, size int64, wantHex string) *endCheckReader {
	h := sha256.New()
	want := lowerHex(wantHex)
	return &endCheckReader{src: src, size: size, sum: h, check: func() error {
		if hex.EncodeToString(h.Sum(nil)) != want {
			return ErrContentSHA256Mismatch
		}
		return nil
	}}
}

// bodyError maps a read error of the request body: a body that ended early is the
// client's IncompleteBody; anything else (a timeout, a reset) keeps its identity.
func bodyError(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &Error{Err: ErrIncompleteBody}
	}
	return fmt.Errorf("read request body: %w", err)
}

func lowerHex(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'F' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

// plainReader passes an unsigned body through, mapping a short body to ErrIncompleteBody.
type plainReader struct{ src io.ReadCloser }

// Read implements io.Reader.
func (r plainReader) Read(p []byte) (int, error) {
	n, err := r.src.Read(p)
	if err != nil && err != io.EOF {
		err = bodyError(err)
	}
	return n, err
}

// Close implements io.Closer.
func (r plainReader) Close() error { return r.src.Close() }

// StoredContentEncoding returns the Content-Encoding to keep with an object: the request's
// codings without aws-chunked, which only describes the upload's framing.
func StoredContentEncoding(h http.Header) string {
	var keep []string
	for _, v := range h.Values("Content-Encoding") {
		for c := range strings.SplitSeq(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "aws-chunked") {
				keep = append(keep, c)
			}
		}
	}
	return strings.Join(keep, ",")
}
