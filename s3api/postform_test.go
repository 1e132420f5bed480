package s3api

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// TestBoundaryGuard: a delimiter inside the file's bytes is found however the reads split
// it, and bytes without one pass through unchanged.
func TestBoundaryGuard(t *testing.T) {
	delim := []byte("\r\n--XyZ")
	clean := bytes.Repeat([]byte("\r\n--Xy data \r\n-"), 1000)
	dirty := append(append(bytes.Clone(clean[:5001]), delim...), clean[:300]...)
	for name, wrap := range map[string]func(io.Reader) io.Reader{"whole": func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader, "half": iotest.HalfReader} {
		got, err := io.ReadAll(&boundaryGuard{r: wrap(bytes.NewReader(clean)), delim: delim})
		if err != nil || !bytes.Equal(got, clean) {
			t.Fatalf("%s: clean bytes: %d of %d, %v", name, len(got), len(clean), err)
		}
		_, err = io.ReadAll(&boundaryGuard{r: wrap(bytes.NewReader(dirty)), delim: delim})
		if !errors.Is(err, ErrMalformedPOSTRequest) {
			t.Fatalf("%s: a delimiter in the file: %v", name, err)
		}
	}
}
