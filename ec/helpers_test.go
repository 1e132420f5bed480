package ec

import (
	"bytes"
	"io"
	"math/rand/v2"
)

// tb is what the helpers need of testing.TB and rapid.T alike.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// encodeAll encodes data into K+M in-memory archives.
func encodeAll(t tb, l Layout, data []byte) [][]byte {
	t.Helper()
	bufs := make([]*bytes.Buffer, l.K+l.M)
	outs := make([]io.Writer, len(bufs))
	for i := range bufs {
		bufs[i] = new(bytes.Buffer)
		outs[i] = bufs[i]
	}
	e, err := NewEncoder(l, outs, l.K+l.M)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	archives := make([][]byte, len(bufs))
	for i, b := range bufs {
		archives[i] = b.Bytes()
		if int64(len(archives[i])) != l.ArchiveSize() {
			t.Fatalf("archive %d is %d bytes, layout says %d", i, len(archives[i]), l.ArchiveSize())
		}
	}
	return archives
}

// decodeRange reads plan p from the archives whose indexes are given, each cut to the
// plan's archive range.
func decodeRange(t tb, l Layout, archives [][]byte, indexes []int, off, n int64, withHeader bool) ([]byte, []error, error) {
	t.Helper()
	p, err := l.Plan(off, n)
	if err != nil {
		t.Fatal(err)
	}
	aoff, an := l.ArchiveRange(p, withHeader)
	var srcs []Source
	for _, i := range indexes {
		srcs = append(srcs, Source{Index: i, R: bytes.NewReader(archives[i][aoff : aoff+an]), Header: withHeader, From: p.First})
	}
	r, err := NewReader(l, p, srcs, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	return got, r.Issues(), err
}

func randomBytes(rng *rand.Rand, n int64) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}
