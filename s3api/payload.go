package s3api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"
)

// hashReader passes a body through and, at its end, checks the SHA-256 the request was
// signed with. Memory is one hash state whatever the body size.
type hashReader struct {
	src  io.ReadCloser
	h    hash.Hash
	want string // lower-case hex
	err  error  // sticky: io.EOF once verified, or the failure
}

func newHashReader(src io.ReadCloser, wantHex string) *hashReader {
	return &hashReader{src: src, h: sha256.New(), want: lowerHex(wantHex)}
}

// Read implements io.Reader. It returns io.EOF only if the body's hash matched, and
// ErrContentSHA256Mismatch (with the last bytes read) if it did not.
func (r *hashReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.src.Read(p)
	r.h.Write(p[:n])
	switch {
	case err == io.EOF:
		if hex.EncodeToString(r.h.Sum(nil)) != r.want {
			r.err = ErrContentSHA256Mismatch
		} else {
			r.err = io.EOF
		}
		return n, r.err
	case err != nil:
		r.err = bodyError(err)
		return n, r.err
	}
	return n, nil
}

// Close implements io.Closer.
func (r *hashReader) Close() error { return r.src.Close() }

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
