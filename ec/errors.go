package ec

import (
	"errors"
	"fmt"
)

var (
	// ErrLayout is returned for a layout that cannot describe a fragment archive: k or m out
	// of range, a segment smaller than k bytes or larger than MaxSegmentSize, a negative size.
	ErrLayout = errors.New("ec: invalid layout")
	// ErrRange is returned by Layout.Plan for a byte range outside the object.
	ErrRange = errors.New("ec: range outside the object")
	// ErrHeader is returned when a fragment archive's header is unreadable, fails its
	// checksum, or describes another layout or fragment index than the reader expects.
	ErrHeader = errors.New("ec: bad fragment archive header")
	// ErrLength is returned by Encoder.Write past the declared size and by Encoder.Close
	// before it: the archives' headers name the size, so any other length is refused.
	ErrLength = errors.New("ec: object length differs from the layout's size")
)

// TooFewFragmentsError is returned when a segment cannot be decoded because fewer than k
// of its fragments were read intact, or by the encoder when fewer outputs than it needs
// still accept writes. Errs holds what went wrong with each fragment given up on.
type TooFewFragmentsError struct {
	Segment   int64 // the segment that could not be decoded (-1 from the encoder)
	Want, Got int
	Errs      []error
}

func (e *TooFewFragmentsError) Error() string {
	where := fmt.Sprintf("segment %d", e.Segment)
	if e.Segment < 0 {
		where = "encode"
	}
	return fmt.Sprintf("ec: %s: %d of the %d fragments needed: %v", where, e.Got, e.Want, errors.Join(e.Errs...))
}

func (e *TooFewFragmentsError) Unwrap() []error { return e.Errs }

// CorruptError says that one fragment of one segment failed its checksum. The decoder
// excludes such a fragment and decodes from the others; it reports these so the caller can
// have the archive repaired.
type CorruptError struct {
	Index   int   // fragment index
	Segment int64 // segment number
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("ec: fragment %d of segment %d fails its checksum", e.Index, e.Segment)
}

// FragmentError is a read or header failure of one fragment archive, which the decoder
// then stops reading.
type FragmentError struct {
	Index int
	Err   error
}

func (e *FragmentError) Error() string { return fmt.Sprintf("ec: fragment %d: %v", e.Index, e.Err) }
func (e *FragmentError) Unwrap() error { return e.Err }
