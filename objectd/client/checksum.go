package client

import (
	"fmt"
	"hash"
	"hash/crc32"
	"strconv"
	"strings"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum is the CRC-32C (Castagnoli) of an object's content.
type Checksum uint32

// NewHash returns a hash.Hash32 computing a Checksum.
func NewHash() hash.Hash32 { return crc32.New(castagnoli) }

// Update returns the checksum of the content covered by c followed by p.
func (c Checksum) Update(p []byte) Checksum {
	return Checksum(crc32.Update(uint32(c), castagnoli, p))
}

// ChecksumOf returns the checksum of p.
func ChecksumOf(p []byte) Checksum { return Checksum(0).Update(p) }

// checksumPrefix names the algorithm in the text form, so another can be added later.
const checksumPrefix = "crc32c:"

// String returns the wire form, "crc32c:" and eight hex digits.
func (c Checksum) String() string { return fmt.Sprintf("%s%08x", checksumPrefix, uint32(c)) }

// ParseChecksum reads the form written by String.
func ParseChecksum(s string) (Checksum, error) {
	hex, ok := strings.CutPrefix(s, checksumPrefix)
	if !ok || len(hex) != 8 {
		return 0, fmt.Errorf("%w: checksum %q (want crc32c:<8 hex digits>)", ErrInvalid, s)
	}
	v, err := strconv.ParseUint(hex, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: checksum %q", ErrInvalid, s)
	}
	return Checksum(v), nil
}
