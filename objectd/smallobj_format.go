package objectd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"stratus/internal/hlc"
	"stratus/objectd/client"
)

// The frame of one entry in a small-object log segment (see smallobj_log.go). Little-endian:
//
//	0   4  magic "SOLG"
//	4   1  kind: 1 a record, 2 a drop
//	5   3  zero
//	8   4  partition
//	12  4  payload length P
//	16  4  payload checksum: CRC-32C of the payload
//	20  4  frame checksum: CRC-32C of bytes [0, 20)
//	24  P  payload
//	…      zero padding up to a multiple of 8
//
// A record's payload is a whole version exactly as a file holds it (client.Record header
// then content), so replication and quarantine copy it as they copy a file. A drop's
// payload is the name hash (32 hex digits) and a timestamp: it removes the partition's
// entry for that hash if it is not newer than the timestamp (a handoff copy delivered, a
// tombstone reclaimed, a version quarantined or superseded by a file).
const (
	frameMagic     = "SOLG"
	frameHeaderLen = 24
	frameRecord    = 1
	frameDrop      = 2
	dropPayloadLen = hashLen + 8
	// maxFramePayload bounds a payload a reader believes, so a damaged length field cannot
	// make it allocate gigabytes.
	maxFramePayload = 64 << 20
)

// frame is one decoded log entry.
type frame struct {
	kind    byte
	part    uint32
	payload []byte
}

// frameSize is the bytes a frame with a payload of n bytes takes in a segment.
func frameSize(n int) int64 { return int64(frameHeaderLen+n+7) &^ 7 }

// appendFrame encodes a frame onto dst.
func appendFrame(dst []byte, kind byte, part uint32, payload []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameSize(len(payload)))...)
	copy(dst[start+frameHeaderLen:], payload)
	putFrameHeader(dst[start:], kind, part, payload)
	return dst
}

// putFrameHeader writes the header of a frame holding payload into dst[:frameHeaderLen].
func putFrameHeader(dst []byte, kind byte, part uint32, payload []byte) {
	h := dst[:frameHeaderLen]
	copy(h[:4], frameMagic)
	h[4], h[5], h[6], h[7] = kind, 0, 0, 0
	binary.LittleEndian.PutUint32(h[8:], part)
	binary.LittleEndian.PutUint32(h[12:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[16:], uint32(client.ChecksumOf(payload)))
	binary.LittleEndian.PutUint32(h[20:], uint32(client.ChecksumOf(h[:20])))
}

func dropPayload(hash string, ts hlc.Timestamp) []byte {
	b := make([]byte, dropPayloadLen)
	copy(b, hash)
	binary.LittleEndian.PutUint64(b[hashLen:], uint64(ts))
	return b
}

func parseDrop(p []byte) (hash string, ts hlc.Timestamp, err error) {
	if len(p) != dropPayloadLen || !validHash(string(p[:hashLen])) {
		return "", 0, errors.New("bad drop payload")
	}
	return string(p[:hashLen]), hlc.Timestamp(binary.LittleEndian.Uint64(p[hashLen:])), nil
}

// errTorn is a frame that is incomplete or fails a checksum.
var errTorn = errors.New("torn or damaged frame")

// decodeFrame decodes the frame at the start of b and returns it and its size in b. It
// returns errTorn for anything that is not one whole, checked frame.
func decodeFrame(b []byte) (frame, int64, error) {
	if len(b) < frameHeaderLen || string(b[:4]) != frameMagic {
		return frame{}, 0, errTorn
	}
	if binary.LittleEndian.Uint32(b[20:]) != uint32(client.ChecksumOf(b[:20])) {
		return frame{}, 0, errTorn
	}
	f := frame{kind: b[4], part: binary.LittleEndian.Uint32(b[8:])}
	n := binary.LittleEndian.Uint32(b[12:])
	if n > maxFramePayload || int64(len(b)) < frameSize(int(n)) {
		return frame{}, 0, errTorn
	}
	f.payload = b[frameHeaderLen : frameHeaderLen+n]
	if binary.LittleEndian.Uint32(b[16:]) != uint32(client.ChecksumOf(f.payload)) {
		return frame{}, 0, errTorn
	}
	if f.kind != frameRecord && f.kind != frameDrop {
		return frame{}, 0, fmt.Errorf("%w: kind %d", errTorn, f.kind)
	}
	return f, frameSize(int(n)), nil
}

// scanFrames calls fn for each whole frame of a segment's bytes, in order, with its offset.
// A damaged stretch is skipped up to the next whole frame (a sector that went bad, or the
// unsynced tail of a batch of which a later part reached the disk); end is where the last
// whole frame ends, so a torn tail is what lies beyond it.
func scanFrames(b []byte, fn func(off int64, f frame, size int64) error) (end int64, err error) {
	var off int64
	for off < int64(len(b)) {
		f, n, derr := decodeFrame(b[off:])
		if derr == nil {
			if err := fn(off, f, n); err != nil {
				return end, err
			}
			off += n
			end = off
			continue
		}
		// Look for the next frame: frames start at multiples of 8.
		next := int64(-1)
		for from := off + 8; from < int64(len(b)); {
			i := bytes.Index(b[from:], []byte(frameMagic))
			if i < 0 {
				break
			}
			at := from + int64(i)
			if at%8 == 0 {
				if _, _, e := decodeFrame(b[at:]); e == nil {
					next = at
					break
				}
			}
			from = at + 1
		}
		if next < 0 {
			return end, nil
		}
		off = next
	}
	return end, nil
}

// recordFrameInfo reads the version a record payload holds.
func recordFrameInfo(p []byte) (client.Record, error) {
	rec, err := client.ReadRecord(bytes.NewReader(p))
	if err != nil {
		return rec, err
	}
	if rec.HeaderLen+rec.Info.Length != int64(len(p)) {
		return rec, fmt.Errorf("%w: record is %d bytes, header says %d", client.ErrBadRecord, len(p), rec.HeaderLen+rec.Info.Length)
	}
	return rec, nil
}
