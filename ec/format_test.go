package ec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// TestAnyKDecode: every choice of K archives out of K+M decodes the object, for sizes
// around the segment boundaries.
func TestAnyKDecode(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const seg = 1000
	for _, size := range []int64{0, 1, seg - 1, seg, seg + 1, 5*seg + 7} {
		l := Layout{K: 4, M: 2, SegmentSize: seg, Size: size}
		data := randomBytes(rng, size)
		archives := encodeAll(t, l, data)
		for _, subset := range subsets(6, 4) {
			got, issues, err := decodeRange(t, l, archives, subset, 0, size, true)
			if err != nil || len(issues) > 0 {
				t.Fatalf("size %d from %v: %v %v", size, subset, err, issues)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("size %d from %v: decoded bytes differ", size, subset)
			}
		}
		if _, _, err := decodeRange(t, l, archives, []int{0, 2, 5}, 0, size, true); size > 0 && err == nil {
			t.Fatalf("size %d decoded from 3 of 4 needed fragments", size)
		}
	}
}

func subsets(n, k int) [][]int {
	var out [][]int
	for mask := 0; mask < 1<<n; mask++ {
		var s []int
		for i := range n {
			if mask&(1<<i) != 0 {
				s = append(s, i)
			}
		}
		if len(s) == k {
			out = append(out, s)
		}
	}
	return out
}

// TestCorruptFragmentExcluded: a flipped bit in a fragment is caught by its checksum,
// reported, and decoding goes on from the others when K intact ones remain.
func TestCorruptFragmentExcluded(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	l := Layout{K: 4, M: 2, SegmentSize: 4096, Size: 3*4096 + 100}
	data := randomBytes(rng, l.Size)
	archives := encodeAll(t, l, data)
	// Fragment 1, segment 2: corrupt one byte of it.
	archives[1][l.blockOffset(2)+17] ^= 0x40
	// The spare (fragment 4) is held back at segment 2 until fragment 1's block was read,
	// so the corrupt block is among the first K (otherwise it may never be read at all).
	got, issues, err := decodeRangeVia(t, l, archives, []int{0, 1, 2, 3, 4}, 0, l.Size, true, spareAfter(l, 2, 1, 4))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("decode around a corrupt fragment: %v, equal=%v", err, bytes.Equal(got, data))
	}
	var ce *CorruptError
	if len(issues) != 1 || !errors.As(issues[0], &ce) || ce.Index != 1 || ce.Segment != 2 {
		t.Fatalf("issues = %v, want fragment 1 of segment 2 corrupt", issues)
	}
	// With only K archives, one of them corrupt, the segment cannot be decoded.
	_, _, err = decodeRange(t, l, archives, []int{0, 1, 2, 3}, 0, l.Size, true)
	var tf *TooFewFragmentsError
	if !errors.As(err, &tf) || tf.Segment != 2 || !errors.As(err, &ce) {
		t.Fatalf("decode from K with one corrupt: %v, want too few fragments at segment 2 naming the corruption", err)
	}
}

// TestMisplacedBlock: an intact block in the wrong place (another fragment's archive,
// another segment) fails its checksum, as the checksum is keyed by both.
func TestMisplacedBlock(t *testing.T) {
	l := Layout{K: 2, M: 1, SegmentSize: 64, Size: 64 * 3}
	data := bytes.Repeat([]byte("abcdefgh"), 24) // equal segments: only the key tells blocks apart
	archives := encodeAll(t, l, data)
	b0 := archives[0][l.blockOffset(0) : l.blockOffset(0)+l.stride()]
	copy(archives[0][l.blockOffset(1):], b0) // segment 0's block in segment 1's place
	// The spare is held back at segment 1 until fragment 0's block was read.
	got, issues, err := decodeRangeVia(t, l, archives, []int{0, 1, 2}, 0, l.Size, true, spareAfter(l, 1, 0, 2))
	var ce *CorruptError
	if err != nil || !bytes.Equal(got, data) || len(issues) != 1 || !errors.As(issues[0], &ce) || ce.Index != 0 || ce.Segment != 1 {
		t.Fatalf("err %v issues %v, want fragment 0 of segment 1 corrupt and the data decoded", err, issues)
	}
	// Fragment 0's archive offered as fragment 1: its header says otherwise.
	_, issues, err = decodeRange(t, l, [][]byte{archives[0], archives[0], archives[2]}, []int{1, 2}, 0, l.Size, true)
	if err == nil || len(issues) == 0 || !errors.Is(issues[0], ErrHeader) {
		t.Fatalf("wrong archive accepted: err %v issues %v", err, issues)
	}
}

// TestHeader: the header round-trips and any flipped bit is refused.
func TestHeader(t *testing.T) {
	h := Header{Layout: Layout{K: 10, M: 4, SegmentSize: 1 << 20, Size: 5 << 40}, Index: 13}
	b := h.marshal()
	got, err := ParseHeader(b[:])
	if err != nil || got != h {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for bit := range HeaderSize * 8 {
		c := b
		c[bit/8] ^= 1 << (bit % 8)
		if _, err := ParseHeader(c[:]); !errors.Is(err, ErrHeader) {
			t.Fatalf("bit %d flipped accepted: %v", bit, err)
		}
	}
}

// TestLayoutValidate refuses what cannot be encoded.
func TestLayoutValidate(t *testing.T) {
	for _, l := range []Layout{{K: 0, M: 2, SegmentSize: 1024}, {K: 4, M: 0, SegmentSize: 1024},
		{K: 200, M: 56, SegmentSize: 1 << 20}, {K: 4, M: 2, SegmentSize: 3}, {K: 4, M: 2, SegmentSize: MaxSegmentSize + 1},
		{K: 4, M: 2, SegmentSize: 1024, Size: -1}} {
		if err := l.Validate(); !errors.Is(err, ErrLayout) {
			t.Errorf("%+v: %v, want ErrLayout", l, err)
		}
	}
	if _, err := (Layout{K: 4, M: 2, SegmentSize: 1024, Size: 10}).Plan(5, 6); !errors.Is(err, ErrRange) {
		t.Errorf("range past the end: %v", err)
	}
}

// TestEncoderLength refuses more or fewer bytes than the layout's size.
func TestEncoderLength(t *testing.T) {
	l := Layout{K: 2, M: 1, SegmentSize: 16, Size: 20}
	outs := []io.Writer{io.Discard, io.Discard, io.Discard}
	e, _ := NewEncoder(l, outs, 3)
	if _, err := e.Write(make([]byte, 21)); !errors.Is(err, ErrLength) {
		t.Fatalf("too long: %v", err)
	}
	e, _ = NewEncoder(l, outs, 3)
	e.Write(make([]byte, 19))
	if err := e.Close(); !errors.Is(err, ErrLength) {
		t.Fatalf("too short: %v", err)
	}
}

type failingWriter struct {
	after int // bytes accepted before failing
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.after < len(p) {
		return 0, errors.New("node gone")
	}
	w.after -= len(p)
	return len(p), nil
}

// TestEncoderDropsFailedOutputs: an output that fails is dropped; the encoder fails only
// when fewer than its minimum remain, and the survivors decode.
func TestEncoderDropsFailedOutputs(t *testing.T) {
	l := Layout{K: 4, M: 2, SegmentSize: 100, Size: 1000}
	data := randomBytes(rand.New(rand.NewPCG(5, 6)), l.Size)
	bufs := make([]bytes.Buffer, 6)
	outs := make([]io.Writer, 6)
	for i := range outs {
		outs[i] = &bufs[i]
	}
	outs[2] = &failingWriter{after: 200}
	e, err := NewEncoder(l, outs, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if live := e.Live(); !slices.Equal(live, []int{0, 1, 3, 4, 5}) {
		t.Fatalf("live %v", live)
	}
	archives := make([][]byte, 6)
	for i := range bufs {
		archives[i] = bufs[i].Bytes()
	}
	got, _, err := decodeRange(t, l, archives, []int{1, 3, 4, 5}, 0, l.Size, true)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("decode from survivors: %v", err)
	}
	outs[2], outs[4] = &failingWriter{after: 200}, &failingWriter{after: 0}
	e, err = NewEncoder(l, outs, 5)
	var tf *TooFewFragmentsError
	if err == nil {
		_, err = e.Write(data)
	}
	if !errors.As(err, &tf) || tf.Want != 5 {
		t.Fatalf("two outputs failing with 5 needed: %v", err)
	}
}

// blockingReader never returns until closed: a fragment node that stalls.
type blockingReader struct{ r *io.PipeReader }

func (b blockingReader) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b blockingReader) Close() error               { return b.r.Close() }

// TestSlowSourceDoesNotStall: with K+1 sources, one of which never answers, the read
// completes from the other K, and Close ends the stalled one.
func TestSlowSourceDoesNotStall(t *testing.T) {
	l := Layout{K: 4, M: 2, SegmentSize: 512, Size: 10 * 512}
	data := randomBytes(rand.New(rand.NewPCG(7, 8)), l.Size)
	archives := encodeAll(t, l, data)
	pr, _ := io.Pipe()
	srcs := []Source{{Index: 5, R: blockingReader{pr}, Header: true}}
	for _, i := range []int{0, 1, 2, 3} {
		srcs = append(srcs, Source{Index: i, R: bytes.NewReader(archives[i]), Header: true})
	}
	r, err := NewReader(l, l.Whole(), srcs, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read with a stalled source: %v", err)
	}
	r.Close() // returns only once the stalled source's goroutine has ended
}

// TestMoreSources: when the sources given cannot decode a segment, the reader asks for
// another, starting at that segment.
func TestMoreSources(t *testing.T) {
	l := Layout{K: 3, M: 2, SegmentSize: 300, Size: 7 * 300}
	data := randomBytes(rand.New(rand.NewPCG(9, 10)), l.Size)
	archives := encodeAll(t, l, data)
	archives[0][l.blockOffset(4)] ^= 1 // fragment 0 corrupt at segment 4
	var srcs []Source
	for _, i := range []int{0, 1, 2} {
		srcs = append(srcs, Source{Index: i, R: bytes.NewReader(archives[i]), Header: true})
	}
	var asked []string
	more := func(from int64, exclude []int) (Source, bool) {
		asked = append(asked, fmt.Sprint(from, exclude))
		for i := range archives {
			if !slices.Contains(exclude, i) {
				return Source{Index: i, R: bytes.NewReader(archives[i][l.blockOffset(from):])}, true
			}
		}
		return Source{}, false
	}
	r, err := NewReader(l, l.Whole(), srcs, more)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read with a late source: %v", err)
	}
	if !slices.Equal(asked, []string{"4 [0 1 2]"}) {
		t.Fatalf("asked for more %v", asked)
	}
}

// TestProperties: for random codes, sizes, subsets of at least K archives, corruptions
// that leave K intact fragments per segment, and byte ranges, the decoded bytes are the
// slice of the object, and every corruption is reported.
func TestProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		k := rapid.IntRange(1, 6).Draw(rt, "k")
		m := rapid.IntRange(1, 4).Draw(rt, "m")
		seg := rapid.IntRange(k, 700).Draw(rt, "seg")
		size := rapid.OneOf(rapid.SampledFrom([]int64{0, 1, int64(seg) - 1, int64(seg), int64(seg) + 1}),
			rapid.Int64Range(0, int64(seg)*6)).Draw(rt, "size")
		size = max(size, 0)
		l := Layout{K: k, M: m, SegmentSize: seg, Size: size}
		data := randomBytes(rand.New(rand.NewPCG(uint64(size), uint64(seg))), size)
		archives := encodeAll(rt, l, data)

		perm := rapid.Permutation(seqInts(k+m)).Draw(rt, "order")
		n := rapid.IntRange(k, k+m).Draw(rt, "sources")
		used := perm[:n]
		// Corrupt up to n-K of the used archives, one random block each.
		bad := rapid.IntRange(0, n-k).Draw(rt, "corrupt")
		corrupt := map[[2]int64]bool{}
		if l.Segments() > 0 {
			for _, i := range used[:bad] {
				j := rapid.Int64Range(0, l.Segments()-1).Draw(rt, "segment")
				at := l.blockOffset(j) + rapid.Int64Range(0, int64(l.fragmentLen(j))+ChecksumSize-1).Draw(rt, "byte")
				archives[i][at] ^= byte(rapid.IntRange(1, 255).Draw(rt, "flip"))
				corrupt[[2]int64{int64(i), j}] = true
			}
		}
		off := rapid.Int64Range(0, size).Draw(rt, "off")
		ln := rapid.Int64Range(0, size-off).Draw(rt, "len")
		withHeader := off == 0 && ln == size || rapid.Bool().Draw(rt, "header")
		got, issues, err := decodeRange(rt, l, archives, used, off, ln, withHeader)
		if err != nil {
			rt.Fatalf("decode: %v", err)
		}
		if !bytes.Equal(got, data[off:off+ln]) {
			rt.Fatalf("decoded %d bytes differ from [%d,%d)", len(got), off, off+ln)
		}
		for _, is := range issues {
			var ce *CorruptError
			if !errors.As(is, &ce) || !corrupt[[2]int64{int64(ce.Index), ce.Segment}] {
				rt.Fatalf("unexpected issue %v", is)
			}
		}
	})
}

func seqInts(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}
