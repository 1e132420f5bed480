package client

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
)

// The binary form of an ObjectEntry, the record stored most (one per object and version,
// decoded a thousand at a time by every listing). JSON decoding was most of a listing's CPU;
// this form reads the fields every entry has without reflection.
//
//	byte    entryMagic (a JSON record starts with '{')
//	str     bucket, str key, uvarint version, varint size, str etag, str content type
//	byte    flags: 1 delete marker, 2 checksum follows, 4 checksum is composite
//	str     checksum algorithm, str checksum value (if flag 2)
//	str     data
//	uvarint user metadata count, then str name, str value for each, in name order
//	str     rest: JSON of every other field (EC, ACL, lock, tags, parts, and any field
//	        added later), empty when all of them are unset
//
// where str is a uvarint length and that many bytes. Keeping the rare, nested fields in JSON
// keeps this form short and means a field added to ObjectEntry is carried (in rest) without
// a format change.
//
// Readers accept both forms. Writers use this one only when Config.BinaryEntries is set:
// clients from before it cannot read it, so it is turned on once every process that reads
// the index runs a version that can (see docs/meta.md).
const entryMagic = 0xE1

const (
	entryDeleteMarker = 1
	entryChecksum     = 2
	entryComposite    = 4
)

// zeroEntryRest is the JSON of an entry whose binary-coded fields are all zero: a rest equal
// to it holds nothing and is left out.
var zeroEntryRest = encodeJSON(ObjectEntry{})

// encodeEntryBinary returns the binary form of e (ModIndex is not stored).
func encodeEntryBinary(e ObjectEntry) []byte {
	rest := e
	rest.Bucket, rest.Key, rest.Version, rest.Size, rest.ETag, rest.ContentType = "", "", 0, 0, "", ""
	rest.DeleteMarker, rest.Checksum, rest.Data, rest.UserMeta, rest.ModIndex = false, nil, "", nil, 0
	restJSON := encodeJSON(rest)
	if bytes.Equal(restJSON, zeroEntryRest) {
		restJSON = nil
	}
	w := wireEncoder{b: make([]byte, 0, 1+8*varintRoom+len(e.Bucket)+len(e.Key)+len(e.ETag)+len(e.ContentType)+len(e.Data)+len(restJSON)+64)}
	w.b = append(w.b, entryMagic)
	w.str(e.Bucket)
	w.str(e.Key)
	w.uvarint(e.Version)
	w.b = binary.AppendVarint(w.b, e.Size)
	w.str(e.ETag)
	w.str(e.ContentType)
	var flags byte
	if e.DeleteMarker {
		flags |= entryDeleteMarker
	}
	if e.Checksum != nil {
		flags |= entryChecksum
		if e.Checksum.Composite {
			flags |= entryComposite
		}
	}
	w.b = append(w.b, flags)
	if e.Checksum != nil {
		w.str(e.Checksum.Algorithm)
		w.str(e.Checksum.Value)
	}
	w.str(e.Data)
	names := make([]string, 0, len(e.UserMeta))
	for k := range e.UserMeta {
		names = append(names, k)
	}
	slices.Sort(names)
	w.uvarint(uint64(len(names)))
	for _, k := range names {
		w.str(k)
		w.str(e.UserMeta[k])
	}
	w.bytes(restJSON)
	return w.b
}

// decodeEntryBinary decodes the binary form of an entry. It never panics: malformed input
// is an error matching ErrBadWire.
func decodeEntryBinary(data []byte) (ObjectEntry, error) {
	var e ObjectEntry
	if len(data) == 0 || data[0] != entryMagic {
		return e, fmt.Errorf("%w: not a binary object entry", ErrBadWire)
	}
	d := wireDecoder{b: data, pos: 1}
	bucket, key, version := d.str("bucket"), d.str("key"), d.uvarint("version")
	size := d.int64("size")
	etag, ctype := d.str("etag"), d.str("content type")
	flags := d.byte("flags")
	if flags&^(entryDeleteMarker|entryChecksum|entryComposite) != 0 || (flags&entryComposite != 0 && flags&entryChecksum == 0) {
		d.fail("flags")
	}
	var sum *Checksum
	if flags&entryChecksum != 0 {
		sum = &Checksum{Algorithm: d.str("checksum algorithm"), Value: d.str("checksum value"), Composite: flags&entryComposite != 0}
	}
	dataName := d.str("data")
	var um map[string]string
	if n := d.count("user metadata count", 2); n > 0 {
		um = make(map[string]string, n)
		prev := ""
		for i := 0; i < n && d.err == nil; i++ {
			k, v := d.str("user metadata name"), d.str("user metadata value")
			if i > 0 && k <= prev {
				d.fail("user metadata order")
			}
			um[k], prev = v, k
		}
	}
	rest := d.value("rest")
	if d.err == nil && d.pos != len(d.b) {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return ObjectEntry{}, d.err
	}
	if rest != nil {
		if err := json.Unmarshal(rest, &e); err != nil {
			return ObjectEntry{}, fmt.Errorf("%w: object entry rest: %v", ErrBadWire, err)
		}
	}
	e.Bucket, e.Key, e.Version, e.Size, e.ETag, e.ContentType = bucket, key, version, size, etag, ctype
	e.DeleteMarker, e.Checksum, e.Data, e.UserMeta = flags&entryDeleteMarker != 0, sum, dataName, um
	return e, nil
}

func (d *wireDecoder) int64(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.pos:])
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.pos += n
	return v
}

// encodeEntry returns the stored form of e: binary if this client writes it.
func (c *Client) encodeEntry(e ObjectEntry) []byte {
	if c.cfg.BinaryEntries {
		return encodeEntryBinary(e)
	}
	return encodeJSON(e)
}
