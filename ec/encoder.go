package ec

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/reedsolomon"
)

// Encoder turns an object written to it into its K+M fragment archives, one segment at a
// time: it holds one segment and its K+M fragments (about (2+M/K) segments of memory),
// whatever the object's size. Each segment's fragments go to their outputs in parallel.
//
// An output whose Write fails is dropped and written no more; the encoder carries on while
// at least minLive outputs remain (the caller decides how many archives must be durable),
// and fails with a *TooFewFragmentsError when fewer do.
type Encoder struct {
	l       Layout
	rs      reedsolomon.Encoder
	outs    []io.Writer
	errs    []error
	minLive int

	seg     []byte   // the segment being filled
	fill    int      // bytes of it filled
	shards  [][]byte // K+M fragments of the segment, each with room for its checksum after it
	next    int64    // the segment number being filled
	written int64
	err     error // sticky
}

// NewEncoder starts encoding an object of layout l into outs (K+M writers, one per
// fragment index) and writes each archive's header.
func NewEncoder(l Layout, outs []io.Writer, minLive int) (*Encoder, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	if len(outs) != l.K+l.M {
		return nil, fmt.Errorf("%w: %d outputs for %d fragments", ErrLayout, len(outs), l.K+l.M)
	}
	if minLive < 1 || minLive > len(outs) {
		return nil, fmt.Errorf("%w: minimum of %d live outputs out of %d", ErrLayout, minLive, len(outs))
	}
	rs, err := newCode(l.K, l.M)
	if err != nil {
		return nil, err
	}
	e := &Encoder{l: l, rs: rs, outs: outs, errs: make([]error, len(outs)), minLive: minLive}
	segLen := min(int64(l.SegmentSize), l.Size)
	e.seg = make([]byte, segLen)
	e.shards = shardBuffers(l.K+l.M, int(l.stride()))
	e.send(func(i int) []byte { h := Header{Layout: l, Index: i}.marshal(); return h[:] })
	if e.err != nil {
		return nil, e.err
	}
	return e, nil
}

// newCode builds the Reed-Solomon code; one goroutine per call is enough at our segment
// sizes, and the callers already run many requests in parallel.
func newCode(k, m int) (reedsolomon.Encoder, error) {
	rs, err := reedsolomon.New(k, m, reedsolomon.WithMaxGoroutines(1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrLayout, err)
	}
	return rs, nil
}

// shardBuffers allocates n buffers of size bytes from one slab.
func shardBuffers(n, size int) [][]byte {
	slab := make([]byte, n*size)
	b := make([][]byte, n)
	for i := range b {
		b[i] = slab[i*size : (i+1)*size : (i+1)*size]
	}
	return b
}

// Write implements io.Writer.
func (e *Encoder) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if int64(len(p)) > e.l.Size-e.written {
		return 0, fmt.Errorf("%w: more than %d bytes", ErrLength, e.l.Size)
	}
	n := 0
	for n < len(p) {
		c := copy(e.seg[e.fill:], p[n:])
		e.fill += c
		n += c
		e.written += int64(c)
		if e.fill == e.l.segmentLen(e.next) {
			if err := e.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// flush encodes the filled segment and writes its blocks.
func (e *Encoder) flush() error {
	j := e.next
	fl := e.l.fragmentLen(j)
	shards := make([][]byte, len(e.shards))
	for i := range shards {
		shards[i] = e.shards[i][:fl]
		if i < e.l.K {
			c := copy(shards[i], e.seg[min(i*fl, e.fill):e.fill])
			clear(shards[i][c:]) // zero padding of the last data fragment
		}
	}
	if err := e.rs.Encode(shards); err != nil {
		e.err = fmt.Errorf("ec: encode segment %d: %w", j, err)
		return e.err
	}
	e.send(func(i int) []byte {
		b := e.shards[i][:fl+ChecksumSize]
		binary.LittleEndian.PutUint32(b[fl:], blockSum(j, i, b[:fl]))
		return b
	})
	e.next++
	e.fill = 0
	return e.err
}

// send writes block(i) to every live output in parallel and drops the outputs that fail.
func (e *Encoder) send(block func(i int) []byte) {
	var wg sync.WaitGroup
	for i, w := range e.outs {
		if e.errs[i] != nil {
			continue
		}
		b := block(i)
		wg.Go(func() {
			if _, err := w.Write(b); err != nil {
				e.errs[i] = &FragmentError{Index: i, Err: err}
			}
		})
	}
	wg.Wait()
	if live := len(e.Live()); live < e.minLive {
		e.err = &TooFewFragmentsError{Segment: -1, Want: e.minLive, Got: live, Errs: e.Errors()}
	}
}

// Close checks that the whole object was written and flushes its last, short segment. It
// does not close the outputs.
func (e *Encoder) Close() error {
	if e.err != nil {
		return e.err
	}
	if e.written != e.l.Size {
		e.err = fmt.Errorf("%w: %d of %d bytes", ErrLength, e.written, e.l.Size)
		return e.err
	}
	if e.fill > 0 {
		return e.flush()
	}
	return nil
}

// Live lists the fragment indexes whose outputs took every write so far.
func (e *Encoder) Live() []int {
	var live []int
	for i, err := range e.errs {
		if err == nil {
			live = append(live, i)
		}
	}
	return live
}

// Errors lists the failures of the outputs that were dropped.
func (e *Encoder) Errors() []error {
	var errs []error
	for _, err := range e.errs {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// Fail drops output i, as if its Write had failed with err: the caller saw its node go
// away some other way (a failed response, a deadline).
func (e *Encoder) Fail(i int, err error) {
	if i >= 0 && i < len(e.errs) && e.errs[i] == nil {
		e.errs[i] = &FragmentError{Index: i, Err: err}
	}
	if live := len(e.Live()); live < e.minLive && e.err == nil {
		e.err = &TooFewFragmentsError{Segment: -1, Want: e.minLive, Got: live, Errs: e.Errors()}
	}
}
