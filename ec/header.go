package ec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// HeaderSize is the size of a fragment archive's header; ChecksumSize of each fragment's
// checksum.
const (
	HeaderSize   = 32
	ChecksumSize = 4
)

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	magic      = [4]byte{'S', 'T', 'E', 'C'}
)

const formatVersion = 1

// Header is what a fragment archive says about itself: its layout and which fragment of
// each segment it holds.
type Header struct {
	Layout
	Index int
}

// Header layout (little-endian): magic "STEC", version (1 byte), k, m, index (1 byte each),
// segment size (4), object size (8), reserved zeros (8), CRC-32C of the 28 bytes before it.
func (h Header) marshal() [HeaderSize]byte {
	var b [HeaderSize]byte
	copy(b[0:4], magic[:])
	b[4] = formatVersion
	b[5], b[6], b[7] = byte(h.K), byte(h.M), byte(h.Index)
	binary.LittleEndian.PutUint32(b[8:12], uint32(h.SegmentSize))
	binary.LittleEndian.PutUint64(b[12:20], uint64(h.Size))
	binary.LittleEndian.PutUint32(b[28:32], crc32.Checksum(b[:28], castagnoli))
	return b
}

// ParseHeader decodes and checks a fragment archive's header.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: %d bytes", ErrHeader, len(b))
	}
	if [4]byte(b[0:4]) != magic {
		return Header{}, fmt.Errorf("%w: not a fragment archive", ErrHeader)
	}
	if crc32.Checksum(b[:28], castagnoli) != binary.LittleEndian.Uint32(b[28:32]) {
		return Header{}, fmt.Errorf("%w: checksum mismatch", ErrHeader)
	}
	if b[4] != formatVersion {
		return Header{}, fmt.Errorf("%w: format version %d", ErrHeader, b[4])
	}
	h := Header{Layout: Layout{K: int(b[5]), M: int(b[6]),
		SegmentSize: int(binary.LittleEndian.Uint32(b[8:12])), Size: int64(binary.LittleEndian.Uint64(b[12:20]))},
		Index: int(b[7])}
	if err := h.Validate(); err != nil {
		return Header{}, fmt.Errorf("%w: %v", ErrHeader, err)
	}
	if h.Index >= h.K+h.M {
		return Header{}, fmt.Errorf("%w: index %d of %d fragments", ErrHeader, h.Index, h.K+h.M)
	}
	return h, nil
}

// ReadHeader reads and checks the header at the start of a fragment archive.
func ReadHeader(r io.Reader) (Header, error) {
	var b [HeaderSize]byte
	if _, err := io.ReadFull(r, b[:]); errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return Header{}, fmt.Errorf("%w: archive shorter than its header", ErrHeader)
	} else if err != nil {
		return Header{}, err // the source's own failure, not the archive's
	}
	return ParseHeader(b[:])
}

// blockSum is the checksum of fragment index of segment seg. It is keyed by both, so a
// block that is intact but in the wrong place (another segment, another fragment's archive)
// fails it too.
func blockSum(seg int64, index int, frag []byte) uint32 {
	var key [9]byte
	binary.LittleEndian.PutUint64(key[:8], uint64(seg))
	key[8] = byte(index)
	return crc32.Update(crc32.Checksum(key[:], castagnoli), castagnoli, frag)
}
