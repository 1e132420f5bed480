package testguest

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// lz4LegacyMagic starts an LZ4 "legacy" frame, the format the kernel's build uses for an
// LZ4-compressed bzImage payload.
const lz4LegacyMagic = 0x184C2102

// lz4LegacyBlockMax is the most one legacy block decompresses to.
const lz4LegacyBlockMax = 8 << 20

// decodeLZ4Legacy decompresses a legacy LZ4 stream: the magic, then blocks each prefixed by
// its little-endian compressed size. The kernel's build appends the decompressed size as a
// final 4-byte word, and a stream may hold more than one frame, so a size word that equals
// the magic restarts a frame and a size that runs past the input ends the stream.
func decodeLZ4Legacy(src []byte) ([]byte, error) {
	if len(src) < 4 || binary.LittleEndian.Uint32(src) != lz4LegacyMagic {
		return nil, errors.New("lz4: not a legacy frame")
	}
	src = src[4:]
	var out []byte
	for len(src) >= 4 {
		n := binary.LittleEndian.Uint32(src)
		if n == lz4LegacyMagic {
			src = src[4:]
			continue
		}
		if int64(n) > int64(len(src)-4) {
			break
		}
		var err error
		out, err = decodeLZ4Block(out, src[4:4+n])
		if err != nil {
			return nil, err
		}
		src = src[4+n:]
	}
	if len(out) == 0 {
		return nil, errors.New("lz4: no blocks")
	}
	return out, nil
}

// decodeLZ4Block appends the decompression of one LZ4 block to dst. Matches may reach back
// into earlier blocks of dst, as the legacy format allows.
func decodeLZ4Block(dst, src []byte) ([]byte, error) {
	start := len(dst)
	i := 0
	for i < len(src) {
		token := src[i]
		i++
		lit := int(token >> 4)
		if lit == 15 {
			for {
				if i >= len(src) {
					return nil, errors.New("lz4: truncated literal length")
				}
				b := src[i]
				i++
				lit += int(b)
				if b != 255 {
					break
				}
			}
		}
		if i+lit > len(src) {
			return nil, errors.New("lz4: literals past end of block")
		}
		dst = append(dst, src[i:i+lit]...)
		i += lit
		if i == len(src) {
			break // the last sequence has literals only
		}
		if i+2 > len(src) {
			return nil, errors.New("lz4: truncated match offset")
		}
		off := int(src[i]) | int(src[i+1])<<8
		i += 2
		if off == 0 || off > len(dst) {
			return nil, fmt.Errorf("lz4: bad match offset %d", off)
		}
		mlen := int(token & 15)
		if mlen == 15 {
			for {
				if i >= len(src) {
					return nil, errors.New("lz4: truncated match length")
				}
				b := src[i]
				i++
				mlen += int(b)
				if b != 255 {
					break
				}
			}
		}
		mlen += 4
		if len(dst)-start+mlen > lz4LegacyBlockMax {
			return nil, errors.New("lz4: block decompresses past 8 MiB")
		}
		// Byte by byte: an overlapping match (offset < length) repeats what it just wrote.
		p := len(dst) - off
		for k := 0; k < mlen; k++ {
			dst = append(dst, dst[p+k])
		}
	}
	return dst, nil
}
