package meta

import (
	"encoding/binary"
	"fmt"

	"stratus/meta/client"
)

// A Raft log entry written by this package is a batch of requests. Its encoding is used on disk
// (in the Raft log and snapshots' history) and must stay decodable forever: bump entryVersion
// for any change and keep decoding the old one.
//
//	byte    entryVersion
//	int64   leader wall clock, unix nanoseconds (big endian); orders request-ID expiry
//	uvarint number of requests, then for each:
//	    bytes   request ID
//	    uvarint number of ops, then for each:
//	        byte    kind (client.OpKind), ORed with opReturnPrev if the op asks for the
//	                previous record (added later: entries written before never set it)
//	        byte    cond (client.Cond)
//	        uvarint mod index (for CondModIndex)
//	        uvarint version
//	        bytes   table
//	        bytes   key
//	        bytes   value
//
// where "bytes" is a uvarint length followed by that many bytes.
const entryVersion = 1

// opReturnPrev is the flag bit of an encoded op kind for Op.ReturnPrev. Op kinds stay far
// below it.
const opReturnPrev = 0x80

// batch is the decoded form of one log entry.
type batch struct {
	Time     int64 // leader wall clock when the batch was formed, unix nanoseconds
	Requests []client.ApplyRequest
}

// encodedSize returns an upper bound of req's share of an encoded batch.
func encodedSize(req *client.ApplyRequest) int {
	n := len(req.ID) + 2*binary.MaxVarintLen64
	for i := range req.Ops {
		op := &req.Ops[i]
		n += 2 + 5*binary.MaxVarintLen64 + len(op.Table) + len(op.Key) + len(op.Value)
	}
	return n
}

func appendBytes(b []byte, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// encodeBatch encodes a batch; the result is a Raft log entry's data.
func encodeBatch(b batch) []byte {
	size := 16
	for i := range b.Requests {
		size += encodedSize(&b.Requests[i])
	}
	out := make([]byte, 0, size)
	out = append(out, entryVersion)
	out = binary.BigEndian.AppendUint64(out, uint64(b.Time))
	out = binary.AppendUvarint(out, uint64(len(b.Requests)))
	for _, r := range b.Requests {
		out = appendString(out, r.ID)
		out = binary.AppendUvarint(out, uint64(len(r.Ops)))
		for _, op := range r.Ops {
			kind := byte(op.Kind)
			if op.ReturnPrev {
				kind |= opReturnPrev
			}
			out = append(out, kind, byte(op.Cond))
			out = binary.AppendUvarint(out, op.ModIndex)
			out = binary.AppendUvarint(out, op.Version)
			out = appendString(out, op.Table)
			out = appendString(out, op.Key)
			out = appendBytes(out, op.Value)
		}
	}
	return out
}

// decoder reads the primitives of the entry and record encodings.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated or invalid %s", ErrCorruptEntry, what)
	}
}

func (d *decoder) byte(what string) byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail(what)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uint64BE(what string) uint64 {
	if d.err != nil || len(d.b) < 8 {
		d.fail(what)
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// bytes returns a slice aliasing the input.
func (d *decoder) bytes(what string) []byte {
	n := d.uvarint(what)
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// count reads a length that announces at least min bytes per element, rejecting lengths the
// remaining input cannot hold (so corrupt input cannot make us allocate wildly).
func (d *decoder) count(what string, min int) int {
	n := d.uvarint(what)
	if d.err != nil || n > uint64(len(d.b)/min) {
		d.fail(what)
		return 0
	}
	return int(n)
}

// decodeBatch decodes a log entry. Values alias data.
func decodeBatch(data []byte) (batch, error) {
	d := decoder{b: data}
	if v := d.byte("version"); d.err == nil && v != entryVersion {
		return batch{}, fmt.Errorf("%w: entry version %d", ErrCorruptEntry, v)
	}
	var b batch
	b.Time = int64(d.uint64BE("time"))
	nreq := d.count("request count", 2)
	b.Requests = make([]client.ApplyRequest, 0, nreq)
	for i := 0; i < nreq && d.err == nil; i++ {
		r := client.ApplyRequest{ID: string(d.bytes("request id"))}
		nops := d.count("op count", 7)
		r.Ops = make([]client.Op, 0, nops)
		for j := 0; j < nops && d.err == nil; j++ {
			var op client.Op
			kind := d.byte("op kind")
			op.Kind, op.ReturnPrev = client.OpKind(kind&^opReturnPrev), kind&opReturnPrev != 0
			op.Cond = client.Cond(d.byte("op cond"))
			op.ModIndex = d.uvarint("mod index")
			op.Version = d.uvarint("version")
			op.Table = string(d.bytes("table"))
			op.Key = string(d.bytes("key"))
			op.Value = d.bytes("value")
			r.Ops = append(r.Ops, op)
		}
		b.Requests = append(b.Requests, r)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return batch{}, d.err
	}
	return b, nil
}

// A stored record is the value of a key in a table bucket of the state machine. Used on disk
// and in snapshots; bump recordVersion for any change.
//
//	byte    recordVersion
//	uvarint mod index
//	uvarint version
//	...     value (rest of the record)
const recordVersion = 1

type record struct {
	ModIndex uint64
	Version  uint64
	Value    []byte
}

func encodeRecord(r record) []byte {
	out := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(r.Value))
	out = append(out, recordVersion)
	out = binary.AppendUvarint(out, r.ModIndex)
	out = binary.AppendUvarint(out, r.Version)
	return append(out, r.Value...)
}

// decodeRecord decodes a stored record; Value aliases data.
func decodeRecord(data []byte) (record, error) {
	d := decoder{b: data}
	if v := d.byte("record version"); d.err == nil && v != recordVersion {
		return record{}, fmt.Errorf("%w: record version %d", ErrCorruptEntry, v)
	}
	r := record{ModIndex: d.uvarint("mod index"), Version: d.uvarint("version")}
	if d.err != nil {
		return record{}, d.err
	}
	r.Value = d.b
	return r, nil
}
