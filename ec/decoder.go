package ec

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/reedsolomon"
)

// Source is one fragment archive to read: Index is its fragment index, R yields the archive
// bytes of the read's plan (Layout.ArchiveRange): from the block of segment From (normally
// the plan's first segment; later for a source added during the read), or, when Header is
// set, from the archive's start, whose header is checked and whose blocks before From are
// skipped.
type Source struct {
	Index  int
	R      io.Reader
	Header bool
	From   int64
}

// MoreFunc is asked for another source when a segment cannot be decoded from the sources
// read so far; it returns false when there are none left. exclude lists the fragment
// indexes already tried, and from the segment the new source must start at.
type MoreFunc func(from int64, exclude []int) (Source, bool)

// buffersPerSource bounds how far one archive's reader runs ahead of the decoder.
const buffersPerSource = 3

// Reader decodes the object bytes of a plan from any K of an object's fragment archives,
// one segment at a time. Each source is read by its own goroutine into a few buffers of its
// own, so memory is bounded by the number of sources; a segment is decoded from the first
// K intact fragments to arrive, so a slow source (give one more than K) does not stall it.
// A fragment that fails its checksum is excluded for its segment, a source that fails to
// read is excluded for good; either way decoding goes on while K remain.
//
// A Reader is not safe for concurrent use. Close it to stop its goroutines.
type Reader struct {
	l    Layout
	p    Plan
	rs   reedsolomon.Encoder
	more MoreFunc

	srcs   []*source
	in     chan block
	done   chan struct{}
	wg     sync.WaitGroup
	tried  []int
	issues []error // corruptions and failures seen, for the caller to have repaired

	next   int64  // next segment to decode
	out    []byte // decoded bytes not yet read
	seg    []byte
	shards [][]byte // reconstructed fragments' buffers
	err    error
}

type source struct {
	Source
	free chan []byte
	at   int64   // next segment expected from it
	held []block // blocks received ahead of the segment being decoded
	dead bool
}

type block struct {
	src  *source
	seg  int64
	data []byte // fragment and checksum
	err  error
}

// NewReader starts reading plan p of an object of layout l from sources (at least one;
// normally K or K+1 of them, distinct indexes). more, if not nil, is asked for further
// sources when those fail.
func NewReader(l Layout, p Plan, sources []Source, more MoreFunc) (*Reader, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	rs, err := newCode(l.K, l.M)
	if err != nil {
		return nil, err
	}
	r := &Reader{l: l, p: p, rs: rs, more: more, in: make(chan block, l.K+l.M), done: make(chan struct{}),
		next: p.First}
	if p.Last >= p.First {
		r.seg = make([]byte, l.SegmentSize)
		r.shards = shardBuffers(l.K+l.M, int(l.stride()))
	}
	for _, s := range sources {
		if err := r.start(s); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

func (r *Reader) start(s Source) error {
	if s.Index < 0 || s.Index >= r.l.K+r.l.M || s.R == nil {
		return fmt.Errorf("%w: source index %d of %d fragments", ErrLayout, s.Index, r.l.K+r.l.M)
	}
	for _, t := range r.tried {
		if t == s.Index {
			return fmt.Errorf("%w: fragment %d given twice", ErrLayout, s.Index)
		}
	}
	r.tried = append(r.tried, s.Index)
	src := &source{Source: s, free: make(chan []byte, buffersPerSource), at: s.From}
	if r.p.Last >= r.p.First {
		for range buffersPerSource {
			src.free <- make([]byte, r.l.stride())
		}
	}
	r.srcs = append(r.srcs, src)
	r.wg.Go(func() { r.pump(src) })
	return nil
}

// pump reads src's blocks in order and hands them to the decoder.
func (r *Reader) pump(src *source) {
	send := func(b block) bool {
		select {
		case r.in <- b:
			return true
		case <-r.done:
			return false
		}
	}
	if src.Header {
		h, err := ReadHeader(src.R)
		if err == nil && (h.Layout != r.l || h.Index != src.Index) {
			err = fmt.Errorf("%w: archive holds fragment %d of %+v, want fragment %d of %+v", ErrHeader, h.Index, h.Layout, src.Index, r.l)
		}
		if err == nil && src.From > 0 { // the archive from its start: skip to From's block
			_, err = io.CopyN(io.Discard, src.R, r.l.blockOffset(src.From)-HeaderSize)
		}
		if err != nil {
			send(block{src: src, seg: src.From, err: &FragmentError{Index: src.Index, Err: err}})
			return
		}
	}
	for j := src.From; j <= r.p.Last; j++ {
		var buf []byte
		select {
		case buf = <-src.free:
		case <-r.done:
			return
		}
		n := r.l.fragmentLen(j) + ChecksumSize
		if _, err := io.ReadFull(src.R, buf[:n]); err != nil {
			send(block{src: src, seg: j, err: &FragmentError{Index: src.Index, Err: fmt.Errorf("segment %d: %w", j, err)}})
			return
		}
		if !send(block{src: src, seg: j, data: buf[:n]}) {
			return
		}
	}
}

// Read implements io.Reader.
func (r *Reader) Read(b []byte) (int, error) {
	for len(r.out) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.next > r.p.Last {
			return 0, io.EOF
		}
		if err := r.decode(r.next); err != nil {
			r.err = err
			return 0, err
		}
		r.next++
	}
	n := copy(b, r.out)
	r.out = r.out[n:]
	return n, nil
}

// decode gathers K intact fragments of segment j and decodes it into r.out.
func (r *Reader) decode(j int64) error {
	fl := r.l.fragmentLen(j)
	for _, s := range r.srcs {
		r.dropStale(s, j)
	}
	shards := make([][]byte, r.l.K+r.l.M)
	var used []*source
	defer func() {
		for _, s := range used {
			s.free <- s.held[0].data[:cap(s.held[0].data)]
			s.held = s.held[1:]
		}
	}()
	got := 0
	var errs []error
	for got < r.l.K {
		// A block already received for j?
		var b block
		found := false
		for _, s := range r.srcs {
			if len(s.held) > 0 && s.held[0].seg == j && !containsSrc(used, s) {
				b, found = s.held[0], true
				break
			}
		}
		if !found {
			if !r.waitable(j, used) {
				if r.more != nil {
					if s, ok := r.more(j, r.tried); ok {
						s.From = j
						if err := r.start(s); err != nil {
							return err
						}
						continue
					}
				}
				errs = append(errs, r.issues...)
				return &TooFewFragmentsError{Segment: j, Want: r.l.K, Got: got, Errs: errs}
			}
			nb := <-r.in
			s := nb.src
			if nb.err != nil {
				s.dead = true
				r.issues = append(r.issues, nb.err)
				continue
			}
			s.held = append(s.held, nb)
			s.at = nb.seg + 1
			if nb.seg < j { // a straggler's stale block: recycle it
				r.dropStale(s, j)
			}
			continue
		}
		s := b.src
		used = append(used, s)
		data := b.data[:fl]
		if binary.LittleEndian.Uint32(b.data[fl:]) != blockSum(j, s.Index, data) {
			r.issues = append(r.issues, &CorruptError{Index: s.Index, Segment: j})
			continue
		}
		shards[s.Index] = data
		got++
	}
	for i := range shards {
		if shards[i] == nil {
			shards[i] = r.shards[i][:0:fl]
		}
	}
	if err := r.rs.ReconstructData(shards); err != nil {
		return fmt.Errorf("ec: decode segment %d: %w", j, err)
	}
	segLen := r.l.segmentLen(j)
	n := 0
	for i := 0; i < r.l.K && n < segLen; i++ {
		n += copy(r.seg[n:segLen], shards[i])
	}
	lo, hi := int64(0), int64(segLen)
	base := j * int64(r.l.SegmentSize)
	if j == r.p.First {
		lo = r.p.Off - base
	}
	if j == r.p.Last {
		hi = r.p.Off + r.p.Len - base
	}
	r.out = r.seg[lo:hi]
	return nil
}

// waitable reports whether some source not yet used for segment j may still deliver it.
func (r *Reader) waitable(j int64, used []*source) bool {
	for _, s := range r.srcs {
		if !s.dead && !containsSrc(used, s) && s.at <= j {
			return true
		}
		if !containsSrc(used, s) && len(s.held) > 0 && s.held[0].seg == j {
			return true
		}
	}
	return false
}

// dropStale recycles the blocks of s for segments before j.
func (r *Reader) dropStale(s *source, j int64) {
	for len(s.held) > 0 && s.held[0].seg < j {
		s.free <- s.held[0].data[:cap(s.held[0].data)]
		s.held = s.held[1:]
	}
}

func containsSrc(list []*source, s *source) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Issues lists the corrupt fragments (*CorruptError) and failed archives (*FragmentError)
// met so far (after Close, also the failures that came too late to matter): decoding went
// around them, the archives need repair.
func (r *Reader) Issues() []error { return r.issues }

// Close stops the reader's goroutines, closing every source that is an io.Closer so that
// a read blocked on the network returns.
func (r *Reader) Close() error {
	select {
	case <-r.done:
		return nil
	default:
	}
	close(r.done)
	for _, s := range r.srcs {
		if c, ok := s.R.(io.Closer); ok {
			c.Close()
		}
	}
	r.wg.Wait()
	// Failures that arrived after their segments were decoded from others still need
	// their archives repaired: keep them for Issues.
	for {
		select {
		case b := <-r.in:
			if b.err != nil {
				r.issues = append(r.issues, b.err)
			}
		default:
			return nil
		}
	}
}
