package hlc

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// logicalBits is the width of the logical counter. Part of the on-disk and wire form of
// Timestamp; never change it.
const logicalBits = 16

// ErrSyntax is returned by Parse when the text is not 16 hex digits.
var ErrSyntax = errors.New("hlc: timestamp must be 16 hex digits")

// Timestamp is a hybrid logical clock reading: wall milliseconds since the Unix epoch in the
// high 48 bits, a logical counter in the low 16. The zero Timestamp is before every reading.
type Timestamp uint64

// FromTime returns the earliest timestamp with wall time t (logical counter zero).
func FromTime(t time.Time) Timestamp {
	return Timestamp(uint64(t.UnixMilli()) << logicalBits)
}

// Time returns the wall-clock part of t.
func (t Timestamp) Time() time.Time { return time.UnixMilli(int64(t >> logicalBits)) }

// Logical returns the logical counter of t.
func (t Timestamp) Logical() uint16 { return uint16(t) }

// String returns t as 16 lowercase hex digits; the text sorts in timestamp order.
func (t Timestamp) String() string {
	var b [16]byte
	return string(t.AppendText(b[:0]))
}

// AppendText appends the 16-hex-digit form of t to b.
func (t Timestamp) AppendText(b []byte) []byte {
	const digits = "0123456789abcdef"
	for i := 15; i >= 0; i-- {
		b = append(b, digits[(t>>(uint(i)*4))&0xf])
	}
	return b
}

// MarshalText implements encoding.TextMarshaler.
func (t Timestamp) MarshalText() ([]byte, error) { return t.AppendText(nil), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *Timestamp) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// Parse reads the 16-hex-digit form written by String.
func Parse(s string) (Timestamp, error) {
	if len(s) != 16 {
		return 0, fmt.Errorf("%w: %q", ErrSyntax, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return 0, fmt.Errorf("%w: %q", ErrSyntax, s)
		}
	}
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrSyntax, s)
	}
	return Timestamp(v), nil
}

// Clock hands out strictly increasing timestamps. It is safe for concurrent use. The zero
// Clock reads the system clock.
type Clock struct {
	// Now, if set, replaces time.Now; tests use it to drive the clock.
	Now func() time.Time

	mu   sync.Mutex
	last Timestamp
}

// Next returns a timestamp greater than every timestamp this clock has returned or observed.
func (c *Clock) Next() Timestamp {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	wall := FromTime(now())
	c.mu.Lock()
	defer c.mu.Unlock()
	if wall > c.last {
		c.last = wall
	} else {
		c.last++
	}
	return c.last
}

// Observe records a timestamp seen from elsewhere (a peer, a stored object), so that later
// readings of this clock order after it.
func (c *Clock) Observe(t Timestamp) {
	c.mu.Lock()
	if t > c.last {
		c.last = t
	}
	c.mu.Unlock()
}
