package objectd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"

	"stratus/objectd/client"
)

// The chunk file: one per chunk replica, at <device>/chunks/<partition>/<name hash>.chunk.
//
//	offset              size                     contents
//	0                   4096                     header: two 2048-byte slots (below)
//	4096                16 × blocks, to 4 KiB    block table: one entry per block
//	dataOffset          chunk size, sparse       the blocks, block i at dataOffset + i×4096
//
// dataOffset is 4096 plus the table rounded up to 4 KiB (20480 for a 4 MiB chunk), so data
// blocks are 4 KiB-aligned in the file (O_DIRECT could read them). The file holds the header
// and table from its creation and grows only as blocks are written; a block never written
// has no data and is not read.
//
// Header slot, little-endian; used on disk, never renumber:
//
//	off len field
//	  0   8 magic "STRCHNK1"
//	  8   2 format version (1)
//	 10   2 name length N (at most client.MaxNameBytes)
//	 12   4 block size (4096)
//	 16   8 chunk size in bytes (a multiple of the block size, at most client.MaxChunkSize)
//	 24   8 fence generation: changes with an older generation are refused
//	 32   8 chunk version: the highest sequence applied
//	 40   8 slot sequence: the slot with the higher one (of those that check) is current
//	 48   4 table offset (4096)
//	 52   4 data offset
//	 56   4 flags (none in version 1; 0)
//	 60   4 slot checksum: CRC-32C of the 2048-byte slot with this field zeroed
//	 64   N chunk name (its MD5 names the file; a reader checks it)
//	64+N    zero padding to 2048
//
// Two slots, so that a header write torn by a crash never loses the header: the node always
// writes the slot that is not the newest durable one (chunks.go), and only changes slot
// once an fsync has made the slot it wrote durable. A reader takes the slot with the higher
// slot sequence of those whose checksum holds.
//
// Block table entry, little-endian; used on disk, never renumber:
//
//	off len field
//	  0   8 sequence of the write that last set the block (0: never written)
//	  8   4 CRC-32C of the block's 4096 bytes (0 for a zero block)
//	 12   2 flags: 1 zero (zeroed or trimmed; reads as zeros, data not read)
//	 14   2 entry check: the low 16 bits of the CRC-32C of bytes [0, 14)
//
// An entry of 16 zero bytes is a block never written. An entry lies within one 512-byte
// sector, so a crash leaves it old or new, never mixed; the data CRC then tells whether the
// block's data matches it (a torn block does not). The chunk version in the header is a
// summary: a node recomputes it as the highest sequence in the table when it opens a file,
// since the header may reach the disk before or after the table.
const (
	chunksDir          = "chunks"
	chunkExt           = ".chunk"
	chunkMagic         = "STRCHNK1"
	chunkFormatVersion = 1
	chunkHeaderSize    = 4096
	chunkSlotSize      = 2048
	chunkSlotFixed     = 64
	chunkSlotCRCOff    = 60
	chunkEntrySize     = 16
	chunkBlockSize     = client.ChunkBlockSize

	// blockZero marks a zero block in an entry's flags. Used on disk; never renumber.
	blockZero uint16 = 1
	// blockDamaged marks, in memory only, an entry that failed its check: the block reads
	// as torn until a write or repair sets it. Never written to disk.
	blockDamaged uint16 = 1 << 15
)

// errBadChunkHeader is returned when neither header slot of a chunk file checks.
var errBadChunkHeader = errors.New("malformed chunk header")

// chunkHeader is a decoded header slot.
type chunkHeader struct {
	name      string
	chunkSize int64
	fence     uint64
	version   uint64
	slotSeq   uint64
}

func (h *chunkHeader) blocks() int { return int(h.chunkSize / chunkBlockSize) }

// chunkDataOffset returns where block 0 starts in a chunk file of a chunk of size bytes.
func chunkDataOffset(size int64) int64 {
	table := size / chunkBlockSize * chunkEntrySize
	return chunkHeaderSize + (table+chunkBlockSize-1)/chunkBlockSize*chunkBlockSize
}

// chunkPartDir is the directory of a partition's chunk files.
func chunkPartDir(devDir string, part uint32) string {
	return filepath.Join(devDir, chunksDir, strconv.FormatUint(uint64(part), 10))
}

// chunkFilePath is where the chunk with the given name hash lives.
func chunkFilePath(devDir string, part uint32, hash string) string {
	return filepath.Join(chunkPartDir(devDir, part), hash+chunkExt)
}

// encodeSlot writes h into slot, which is chunkSlotSize bytes.
func encodeSlot(slot []byte, h *chunkHeader) error {
	if err := client.CheckName(h.name); err != nil {
		return err
	}
	if err := client.CheckChunkSize(h.chunkSize); err != nil {
		return err
	}
	clear(slot[:chunkSlotSize])
	copy(slot[0:], chunkMagic)
	le := binary.LittleEndian
	le.PutUint16(slot[8:], chunkFormatVersion)
	le.PutUint16(slot[10:], uint16(len(h.name)))
	le.PutUint32(slot[12:], chunkBlockSize)
	le.PutUint64(slot[16:], uint64(h.chunkSize))
	le.PutUint64(slot[24:], h.fence)
	le.PutUint64(slot[32:], h.version)
	le.PutUint64(slot[40:], h.slotSeq)
	le.PutUint32(slot[48:], chunkHeaderSize)
	le.PutUint32(slot[52:], uint32(chunkDataOffset(h.chunkSize)))
	copy(slot[chunkSlotFixed:], h.name)
	le.PutUint32(slot[chunkSlotCRCOff:], uint32(client.ChecksumOf(slot[:chunkSlotSize])))
	return nil
}

// decodeSlot reads one header slot.
func decodeSlot(slot []byte) (chunkHeader, error) {
	var h chunkHeader
	if len(slot) < chunkSlotSize {
		return h, fmt.Errorf("%w: slot of %d bytes", errBadChunkHeader, len(slot))
	}
	slot = slot[:chunkSlotSize]
	le := binary.LittleEndian
	want := le.Uint32(slot[chunkSlotCRCOff:])
	var zero [4]byte
	sum := client.ChecksumOf(slot[:chunkSlotCRCOff])
	sum = sum.Update(zero[:]).Update(slot[chunkSlotCRCOff+4:])
	switch {
	case string(slot[:8]) != chunkMagic:
		return h, fmt.Errorf("%w: bad magic", errBadChunkHeader)
	case uint32(sum) != want:
		return h, fmt.Errorf("%w: slot checksum %v, slot says %v", errBadChunkHeader, sum, client.Checksum(want))
	case le.Uint16(slot[8:]) != chunkFormatVersion:
		return h, fmt.Errorf("%w: format version %d", errBadChunkHeader, le.Uint16(slot[8:]))
	case le.Uint32(slot[12:]) != chunkBlockSize:
		return h, fmt.Errorf("%w: block size %d", errBadChunkHeader, le.Uint32(slot[12:]))
	case le.Uint32(slot[56:]) != 0:
		return h, fmt.Errorf("%w: unknown flags %#x", errBadChunkHeader, le.Uint32(slot[56:]))
	}
	n := int(le.Uint16(slot[10:]))
	if n > client.MaxNameBytes || chunkSlotFixed+n > chunkSlotSize {
		return h, fmt.Errorf("%w: name of %d bytes", errBadChunkHeader, n)
	}
	size := le.Uint64(slot[16:])
	if size > client.MaxChunkSize {
		return h, fmt.Errorf("%w: chunk size %d", errBadChunkHeader, size)
	}
	h = chunkHeader{
		name:      string(slot[chunkSlotFixed : chunkSlotFixed+n]),
		chunkSize: int64(size),
		fence:     le.Uint64(slot[24:]),
		version:   le.Uint64(slot[32:]),
		slotSeq:   le.Uint64(slot[40:]),
	}
	if err := client.CheckChunkSize(h.chunkSize); err != nil {
		return h, fmt.Errorf("%w: %v", errBadChunkHeader, err)
	}
	if err := client.CheckName(h.name); err != nil {
		return h, fmt.Errorf("%w: %v", errBadChunkHeader, err)
	}
	if le.Uint32(slot[48:]) != chunkHeaderSize || int64(le.Uint32(slot[52:])) != chunkDataOffset(h.chunkSize) {
		return h, fmt.Errorf("%w: table at %d, data at %d", errBadChunkHeader, le.Uint32(slot[48:]), le.Uint32(slot[52:]))
	}
	if !allZero(slot[chunkSlotFixed+n:]) {
		return h, fmt.Errorf("%w: padding not zero", errBadChunkHeader)
	}
	return h, nil
}

// decodeChunkHeader reads the 4096-byte header and returns the current slot and its index.
func decodeChunkHeader(b []byte) (chunkHeader, int, error) {
	if len(b) < chunkHeaderSize {
		return chunkHeader{}, 0, fmt.Errorf("%w: %d bytes", errBadChunkHeader, len(b))
	}
	h0, err0 := decodeSlot(b[:chunkSlotSize])
	h1, err1 := decodeSlot(b[chunkSlotSize:chunkHeaderSize])
	switch {
	case err0 == nil && err1 == nil:
		if h0.name != h1.name || h0.chunkSize != h1.chunkSize {
			return chunkHeader{}, 0, fmt.Errorf("%w: slots name different chunks", errBadChunkHeader)
		}
		if h1.slotSeq > h0.slotSeq {
			return h1, 1, nil
		}
		return h0, 0, nil
	case err0 == nil:
		return h0, 0, nil
	case err1 == nil:
		return h1, 1, nil
	}
	return chunkHeader{}, 0, fmt.Errorf("slot 0: %w; slot 1: %v", err0, err1)
}

// blockEntry is one block table entry.
type blockEntry struct {
	seq   uint64
	crc   uint32
	flags uint16
}

func (e blockEntry) zero() bool    { return e.flags&blockZero != 0 }
func (e blockEntry) damaged() bool { return e.flags&blockDamaged != 0 }

// encodeEntry writes e into b, which is chunkEntrySize bytes. A never-written block is 16
// zero bytes.
func encodeEntry(b []byte, e blockEntry) {
	if e.seq == 0 {
		clear(b[:chunkEntrySize])
		return
	}
	le := binary.LittleEndian
	le.PutUint64(b[0:], e.seq)
	le.PutUint32(b[8:], e.crc)
	le.PutUint16(b[12:], e.flags&^blockDamaged)
	le.PutUint16(b[14:], uint16(client.ChecksumOf(b[:14])))
}

// decodeEntry reads one entry; ok is false if it fails its check.
func decodeEntry(b []byte) (e blockEntry, ok bool) {
	b = b[:chunkEntrySize]
	if allZero(b) {
		return blockEntry{}, true
	}
	le := binary.LittleEndian
	e = blockEntry{seq: le.Uint64(b[0:]), crc: le.Uint32(b[8:]), flags: le.Uint16(b[12:])}
	switch {
	case le.Uint16(b[14:]) != uint16(client.ChecksumOf(b[:14])),
		e.seq == 0,
		e.flags&^blockZero != 0,
		e.zero() && e.crc != 0:
		return blockEntry{}, false
	}
	return e, true
}

// decodeTable reads a block table of n entries. Entries that fail their check come back
// marked damaged, with sequence 0, so that any write or repair may set them.
func decodeTable(b []byte, n int) []blockEntry {
	t := make([]blockEntry, n)
	for i := range t {
		e, ok := decodeEntry(b[i*chunkEntrySize:])
		if !ok {
			e = blockEntry{flags: blockDamaged}
		}
		t[i] = e
	}
	return t
}

func allZero(b []byte) bool {
	return len(b) == 0 || b[0] == 0 && bytes.Equal(b[1:], b[:len(b)-1])
}
