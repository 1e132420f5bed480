package ec

import (
	"bytes"
	"io"
	"math/rand/v2"
	"sync"
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
	return decodeRangeVia(t, l, archives, indexes, off, n, withHeader, nil)
}

// decodeRangeVia is decodeRange with each source's reader passed through wrap (if set).
func decodeRangeVia(t tb, l Layout, archives [][]byte, indexes []int, off, n int64, withHeader bool, wrap func(i int, r io.Reader) io.Reader) ([]byte, []error, error) {
	t.Helper()
	p, err := l.Plan(off, n)
	if err != nil {
		t.Fatal(err)
	}
	aoff, an := l.ArchiveRange(p, withHeader)
	var srcs []Source
	for _, i := range indexes {
		var r io.Reader = bytes.NewReader(archives[i][aoff : aoff+an])
		if wrap != nil {
			r = wrap(i, r)
		}
		srcs = append(srcs, Source{Index: i, R: r, Header: withHeader, From: p.First})
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

// spareAfter returns a wrap for decodeRangeVia, of whole archives read from their start,
// that holds fragment spare's reads of segment j's block until fragment first has handed
// its own to the decoder: the decoder, which uses the first K blocks of a segment to
// arrive, must then try fragment first's block of segment j before it can have the
// spare's. (Segment j must not be the last: the hand-over is seen as the next read.)
func spareAfter(l Layout, j int64, first, spare int) func(int, io.Reader) io.Reader {
	passed := make(chan struct{})
	return func(i int, r io.Reader) io.Reader {
		switch i {
		case first:
			return &passReader{r: r, at: l.blockOffset(j) + l.stride(), passed: passed}
		case spare:
			return &holdReader{r: r, at: l.blockOffset(j), open: passed}
		}
		return r
	}
}

// passReader closes passed at the first read from offset at on (or at the end): a
// decoder's reader asks for its next block only after it has sent the one before.
type passReader struct {
	r      io.Reader
	pos    int64
	at     int64
	passed chan struct{}
	once   sync.Once
}

func (p *passReader) Read(b []byte) (int, error) {
	if p.pos >= p.at {
		p.once.Do(func() { close(p.passed) })
	}
	n, err := p.r.Read(b)
	p.pos += int64(n)
	if err != nil {
		p.once.Do(func() { close(p.passed) })
	}
	return n, err
}

// holdReader holds any read that would reach past offset at until open is closed.
type holdReader struct {
	r    io.Reader
	pos  int64
	at   int64
	open <-chan struct{}
}

func (h *holdReader) Read(b []byte) (int, error) {
	if h.pos+int64(len(b)) > h.at {
		<-h.open
	}
	n, err := h.r.Read(b)
	h.pos += int64(n)
	return n, err
}
