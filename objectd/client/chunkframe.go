package client

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A block frame carries one chunk block with its sequence: the body of a blocks response
// (ReadChunkBlocks) and of a repair (RepairChunk), so a repair copies what the source holds,
// sequence and all. Frames follow one another with nothing between them.
//
// Layout, little-endian; used on the wire, never renumber:
//
//	off len field
//	  0   8 offset of the block in the chunk (a multiple of ChunkBlockSize)
//	  8   8 sequence (> 0)
//	 16   4 CRC-32C of the block's data (0 for a zero block)
//	 20   4 flags: 1 zero (no data follows; the block reads as zeros)
//	 24   4 frame header checksum: CRC-32C of bytes [0, 24)
//	 28   4 reserved, 0
//	 32     ChunkBlockSize bytes of data, unless zero
const (
	blockFrameHeader = 32
	// BlockFlagZero marks a zero block, in frames and in the chunk file's block table.
	blockFlagZero = 1
)

// ErrBadFrame is returned for a block frame that is malformed or fails a checksum.
var ErrBadFrame = errors.New("objectd: malformed chunk block frame")

// ChunkBlock is one block of a chunk with the sequence of the write that set it.
type ChunkBlock struct {
	Offset   int64
	Sequence uint64
	// Zero reports a zeroed or trimmed block; Data is then nil.
	Zero bool
	// Data is the block's ChunkBlockSize bytes.
	Data []byte
}

// AppendChunkBlock appends b's frame to dst.
func AppendChunkBlock(dst []byte, b ChunkBlock) ([]byte, error) {
	if b.Offset < 0 || b.Offset%ChunkBlockSize != 0 || b.Offset >= MaxChunkSize {
		return dst, fmt.Errorf("%w: block offset %d", ErrMisaligned, b.Offset)
	}
	if b.Sequence == 0 {
		return dst, fmt.Errorf("%w: block at %d has sequence 0", ErrInvalid, b.Offset)
	}
	var h [blockFrameHeader]byte
	binary.LittleEndian.PutUint64(h[0:], uint64(b.Offset))
	binary.LittleEndian.PutUint64(h[8:], b.Sequence)
	if b.Zero {
		if b.Data != nil {
			return dst, fmt.Errorf("%w: zero block at %d carries data", ErrInvalid, b.Offset)
		}
		binary.LittleEndian.PutUint32(h[20:], blockFlagZero)
	} else {
		if len(b.Data) != ChunkBlockSize {
			return dst, fmt.Errorf("%w: block at %d has %d bytes", ErrInvalid, b.Offset, len(b.Data))
		}
		binary.LittleEndian.PutUint32(h[16:], uint32(ChecksumOf(b.Data)))
	}
	binary.LittleEndian.PutUint32(h[24:], uint32(ChecksumOf(h[:24])))
	dst = append(dst, h[:]...)
	if !b.Zero {
		dst = append(dst, b.Data...)
	}
	return dst, nil
}

// DecodeChunkBlock reads the frame at the start of p and returns it with the number of bytes
// it took. The block's Data aliases p. A frame whose data does not match its checksum is
// ErrChecksum; any other fault is ErrBadFrame.
func DecodeChunkBlock(p []byte) (ChunkBlock, int, error) {
	var b ChunkBlock
	if len(p) < blockFrameHeader {
		return b, 0, fmt.Errorf("%w: %d bytes left, a frame header is %d", ErrBadFrame, len(p), blockFrameHeader)
	}
	h := p[:blockFrameHeader]
	if got, want := ChecksumOf(h[:24]), Checksum(binary.LittleEndian.Uint32(h[24:])); got != want {
		return b, 0, fmt.Errorf("%w: header checksum %v, frame says %v", ErrBadFrame, got, want)
	}
	off := binary.LittleEndian.Uint64(h[0:])
	b.Sequence = binary.LittleEndian.Uint64(h[8:])
	sum := Checksum(binary.LittleEndian.Uint32(h[16:]))
	flags := binary.LittleEndian.Uint32(h[20:])
	switch {
	case off%ChunkBlockSize != 0 || off >= MaxChunkSize:
		return b, 0, fmt.Errorf("%w: block offset %d", ErrBadFrame, off)
	case b.Sequence == 0:
		return b, 0, fmt.Errorf("%w: sequence 0", ErrBadFrame)
	case flags&^blockFlagZero != 0 || binary.LittleEndian.Uint32(h[28:]) != 0:
		return b, 0, fmt.Errorf("%w: unknown flags %#x", ErrBadFrame, flags)
	}
	b.Offset = int64(off)
	if flags&blockFlagZero != 0 {
		if sum != 0 {
			return b, 0, fmt.Errorf("%w: zero block with checksum %v", ErrBadFrame, sum)
		}
		b.Zero = true
		return b, blockFrameHeader, nil
	}
	if len(p) < blockFrameHeader+ChunkBlockSize {
		return b, 0, fmt.Errorf("%w: block at %d truncated", ErrBadFrame, off)
	}
	b.Data = p[blockFrameHeader : blockFrameHeader+ChunkBlockSize]
	if got := ChecksumOf(b.Data); got != sum {
		return b, 0, fmt.Errorf("%w: block at %d: data %v, frame says %v", ErrChecksum, off, got, sum)
	}
	return b, blockFrameHeader + ChunkBlockSize, nil
}
