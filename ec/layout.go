package ec

import (
	"fmt"
)

// Limits of a layout. The fragment index is one byte of the header, and a segment must be
// held in memory (about twice over) by every encoder and decoder.
const (
	MaxFragments   = 255
	MaxSegmentSize = 64 << 20
	// DefaultSegmentSize balances memory per request (about 2.5 segments for 4+2) against
	// the per-block overhead (a 4-byte checksum per fragment per segment).
	DefaultSegmentSize = 1 << 20
)

// Layout is everything needed to map an object onto its fragment archives: the code (K data
// and M parity fragments per segment), the segment size, and the object's size.
type Layout struct {
	K, M        int
	SegmentSize int
	Size        int64
}

// Validate reports whether l can describe a fragment archive.
func (l Layout) Validate() error {
	switch {
	case l.K < 1 || l.M < 1 || l.K+l.M > MaxFragments:
		return fmt.Errorf("%w: k=%d m=%d (need k>=1, m>=1, k+m<=%d)", ErrLayout, l.K, l.M, MaxFragments)
	case l.SegmentSize < l.K || l.SegmentSize > MaxSegmentSize:
		return fmt.Errorf("%w: segment size %d (need %d..%d)", ErrLayout, l.SegmentSize, l.K, MaxSegmentSize)
	case l.Size < 0:
		return fmt.Errorf("%w: size %d", ErrLayout, l.Size)
	}
	return nil
}

// Segments is the number of segments of the object: the last one may be short.
func (l Layout) Segments() int64 {
	return (l.Size + int64(l.SegmentSize) - 1) / int64(l.SegmentSize)
}

// segmentLen is how many bytes of the object segment j holds.
func (l Layout) segmentLen(j int64) int {
	return int(min(int64(l.SegmentSize), l.Size-j*int64(l.SegmentSize)))
}

// fragmentLen is the size of each of segment j's fragments, checksum excluded: the
// segment split in K, the last data fragment zero-padded.
func (l Layout) fragmentLen(j int64) int {
	return (l.segmentLen(j) + l.K - 1) / l.K
}

// stride is the archive bytes of one full segment's block: fragment and checksum.
func (l Layout) stride() int64 {
	return int64((l.SegmentSize+l.K-1)/l.K) + ChecksumSize
}

// blockOffset is where segment j's block starts in an archive.
func (l Layout) blockOffset(j int64) int64 {
	return HeaderSize + j*l.stride()
}

// ArchiveSize is the size of each of the object's K+M fragment archives.
func (l Layout) ArchiveSize() int64 {
	n := l.Segments()
	if n == 0 {
		return HeaderSize
	}
	return l.blockOffset(n-1) + int64(l.fragmentLen(n-1)) + ChecksumSize
}

// Overhead is the stored bytes per object byte, K+M archives over the object's size
// (headers and checksums included); 0 for an empty object.
func (l Layout) Overhead() float64 {
	if l.Size == 0 {
		return 0
	}
	return float64(l.ArchiveSize()*int64(l.K+l.M)) / float64(l.Size)
}

// Plan says which archive bytes a read of the object's bytes [Off, Off+Len) needs.
type Plan struct {
	Off, Len int64 // the object bytes wanted
	// First and Last are the segments they span (Last < First when Len is 0).
	First, Last int64
}

// Plan maps the object byte range [off, off+n) to the segments that hold it.
func (l Layout) Plan(off, n int64) (Plan, error) {
	if off < 0 || n < 0 || off+n > l.Size || off+n < off {
		return Plan{}, fmt.Errorf("%w: %d+%d of %d bytes", ErrRange, off, n, l.Size)
	}
	if n == 0 {
		return Plan{Off: off, First: 0, Last: -1}, nil
	}
	s := int64(l.SegmentSize)
	return Plan{Off: off, Len: n, First: off / s, Last: (off + n - 1) / s}, nil
}

// Whole is the plan of a read of the whole object.
func (l Layout) Whole() Plan {
	p, _ := l.Plan(0, l.Size)
	return p
}

// ArchiveRange is the byte range [off, off+n) of every fragment archive that a read
// following p needs: the blocks of its segments, or with withHeader everything from the
// archive's start (the decoder then checks the header; a range read usually skips it, the
// block checksums being keyed by segment and fragment index already).
func (l Layout) ArchiveRange(p Plan, withHeader bool) (off, n int64) {
	if p.Last < p.First {
		if withHeader {
			return 0, HeaderSize
		}
		return 0, 0
	}
	off = l.blockOffset(p.First)
	end := l.blockOffset(p.Last) + int64(l.fragmentLen(p.Last)) + ChecksumSize
	if withHeader {
		off = 0
	}
	return off, end - off
}

// ArchiveRangeFrom is ArchiveRange without the header, from segment from of p on: what a
// source added in the middle of a read (MoreFunc) must yield.
func (l Layout) ArchiveRangeFrom(p Plan, from int64) (off, n int64) {
	if from > p.First {
		p.First = from
	}
	return l.ArchiveRange(p, false)
}
