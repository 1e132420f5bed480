package client

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"stratus/internal/hlc"
)

// A record is one stored version of an object: a header, then the content. It is both the
// on-disk format of object files (<timestamp>.data and <timestamp>.ts) and the unit of the
// push stream between nodes, so replication copies files byte for byte and the receiver
// checks them exactly as it checks a PUT.
//
// Header layout, little-endian; used on disk and on the wire, never renumber:
//
//	off len field
//	  0   4 magic "STRX"
//	  4   2 format version (1)
//	  6   1 kind (1 data, 2 tombstone)
//	  7   1 checksum algorithm (1 CRC-32C)
//	  8   4 header length H: content starts at offset H
//	 12   4 metadata length M
//	 16   8 timestamp
//	 24   8 content length
//	 32   4 content checksum
//	 36   4 header checksum: CRC-32C of bytes [0, H) with this field zeroed
//	 40   M metadata, JSON (recordMeta)
//	40+M    zero padding up to H (lets a writer align the content; version 1 writers pad to 8)
const (
	recordMagic      = "STRX"
	recordVersion    = 1
	recordFixedLen   = 40
	recordAlgCRC32C  = 1
	offHeaderCRC     = 36
	maxRecordHeader  = recordFixedLen + MaxMetaBytes + 4096
	recordHeaderAlgn = 8
)

// Kind says what a record is.
type Kind uint8

// Record kinds. Used on disk; never renumber.
const (
	KindData      Kind = 1 // an object version with content
	KindTombstone Kind = 2 // a deletion; no content
)

// ErrBadRecord is returned when a record header is malformed or fails its checksum.
var ErrBadRecord = errors.New("objectd: malformed record header")

// Record is a decoded record header.
type Record struct {
	Kind Kind
	Info Info
	// HeaderLen is the encoded header's length: the content's offset in the record.
	HeaderLen int64
}

// recordMeta is the JSON metadata of a record. Keys are part of the format.
type recordMeta struct {
	Name        string            `json:"name"`
	ContentType string            `json:"content_type,omitempty"`
	Meta        map[string]string `json:"meta,omitempty"`
}

// MarshalBinary encodes the header. It sets HeaderLen.
func (r *Record) MarshalBinary() ([]byte, error) {
	meta, err := json.Marshal(recordMeta{Name: r.Info.Name, ContentType: r.Info.ContentType, Meta: r.Info.Meta})
	if err != nil {
		return nil, fmt.Errorf("encode record metadata: %w", err)
	}
	if len(meta) > MaxMetaBytes+256 {
		return nil, fmt.Errorf("%w: metadata of %d bytes", ErrInvalid, len(meta))
	}
	if r.Kind != KindData && r.Kind != KindTombstone {
		return nil, fmt.Errorf("%w: record kind %d", ErrInvalid, r.Kind)
	}
	n := recordFixedLen + len(meta)
	n = (n + recordHeaderAlgn - 1) / recordHeaderAlgn * recordHeaderAlgn
	b := make([]byte, n)
	copy(b, recordMagic)
	binary.LittleEndian.PutUint16(b[4:], recordVersion)
	b[6] = byte(r.Kind)
	b[7] = recordAlgCRC32C
	binary.LittleEndian.PutUint32(b[8:], uint32(n))
	binary.LittleEndian.PutUint32(b[12:], uint32(len(meta)))
	binary.LittleEndian.PutUint64(b[16:], uint64(r.Info.Timestamp))
	binary.LittleEndian.PutUint64(b[24:], uint64(r.Info.Length))
	binary.LittleEndian.PutUint32(b[32:], uint32(r.Info.Checksum))
	copy(b[recordFixedLen:], meta)
	binary.LittleEndian.PutUint32(b[offHeaderCRC:], uint32(ChecksumOf(b)))
	r.HeaderLen = int64(n)
	return b, nil
}

// ReadRecord reads and checks one record header from rd, leaving rd at the content. It
// returns io.EOF if rd is at its end before the first byte.
func ReadRecord(rd io.Reader) (Record, error) {
	var fixed [recordFixedLen]byte
	if _, err := io.ReadFull(rd, fixed[:]); err != nil {
		if err == io.EOF {
			return Record{}, io.EOF
		}
		return Record{}, fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	if string(fixed[:4]) != recordMagic {
		return Record{}, fmt.Errorf("%w: bad magic", ErrBadRecord)
	}
	if v := binary.LittleEndian.Uint16(fixed[4:]); v != recordVersion {
		return Record{}, fmt.Errorf("%w: format version %d", ErrBadRecord, v)
	}
	hlen := binary.LittleEndian.Uint32(fixed[8:])
	mlen := binary.LittleEndian.Uint32(fixed[12:])
	if hlen > maxRecordHeader || mlen > hlen-min(hlen, recordFixedLen) || hlen < recordFixedLen {
		return Record{}, fmt.Errorf("%w: header length %d, metadata length %d", ErrBadRecord, hlen, mlen)
	}
	b := make([]byte, hlen)
	copy(b, fixed[:])
	if _, err := io.ReadFull(rd, b[recordFixedLen:]); err != nil {
		return Record{}, fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	want := binary.LittleEndian.Uint32(b[offHeaderCRC:])
	binary.LittleEndian.PutUint32(b[offHeaderCRC:], 0)
	if got := uint32(ChecksumOf(b)); got != want {
		return Record{}, fmt.Errorf("%w: header checksum %08x, want %08x", ErrBadRecord, got, want)
	}
	r := Record{Kind: Kind(b[6]), HeaderLen: int64(hlen)}
	if b[7] != recordAlgCRC32C {
		return Record{}, fmt.Errorf("%w: checksum algorithm %d", ErrBadRecord, b[7])
	}
	r.Info.Timestamp = hlc.Timestamp(binary.LittleEndian.Uint64(b[16:]))
	r.Info.Length = int64(binary.LittleEndian.Uint64(b[24:]))
	r.Info.Checksum = Checksum(binary.LittleEndian.Uint32(b[32:]))
	var m recordMeta
	if err := json.Unmarshal(b[recordFixedLen:recordFixedLen+mlen], &m); err != nil {
		return Record{}, fmt.Errorf("%w: metadata: %v", ErrBadRecord, err)
	}
	r.Info.Name, r.Info.ContentType, r.Info.Meta = m.Name, m.ContentType, m.Meta
	switch {
	case r.Kind != KindData && r.Kind != KindTombstone:
		return Record{}, fmt.Errorf("%w: kind %d", ErrBadRecord, r.Kind)
	case r.Info.Length < 0 || r.Kind == KindTombstone && r.Info.Length != 0:
		return Record{}, fmt.Errorf("%w: content length %d", ErrBadRecord, r.Info.Length)
	case CheckName(r.Info.Name) != nil:
		return Record{}, fmt.Errorf("%w: %v", ErrBadRecord, CheckName(r.Info.Name))
	}
	return r, nil
}
