package client

import (
	"encoding/binary"
	"fmt"
)

// IsBinary reports whether body is in the binary wire form (see EncodeBinary).
func IsBinary(body []byte) bool { return len(body) > 0 && body[0] == wireMagic }

// DecodeBinary decodes a binary body into v, a pointer to one of the bodies HasBinaryForm
// accepts; the body's message type must match. Decoded values alias data, which the caller
// must not modify afterwards. It never panics, whatever data holds: a malformed body is an
// error matching ErrBadWire.
func DecodeBinary(data []byte, v any) error {
	d := wireDecoder{b: data}
	if len(data) < 2 || data[0] != wireMagic {
		return fmt.Errorf("%w: not a binary body", ErrBadWire)
	}
	msg := data[1]
	d.pos = 2
	want := byte(0)
	switch m := v.(type) {
	case *ApplyRequest:
		want = msgApplyRequest
		if msg == want {
			*m = d.applyRequest()
		}
	case *ApplyBatchRequest:
		want = msgApplyBatchRequest
		if msg == want {
			n := d.count("request count", 2)
			reqs := make([]ApplyRequest, 0, n)
			for i := 0; i < n && d.err == nil; i++ {
				reqs = append(reqs, d.applyRequest())
			}
			*m = ApplyBatchRequest{Requests: reqs}
		}
	case *ApplyResponse:
		want = msgApplyResponse
		if msg == want {
			*m = d.applyResponse()
		}
	case *ApplyBatchResponse:
		want = msgApplyBatchResponse
		if msg == want {
			*m = d.applyBatchResponse()
		}
	case *GetRequest:
		want = msgGetRequest
		if msg == want {
			*m = GetRequest{Table: d.table("table"), Key: d.str("key"), Stale: d.bool("stale")}
		}
	case *GetResponse:
		want = msgGetResponse
		if msg == want {
			*m = GetResponse{Item: d.item(), Index: d.uvarint("index")}
		}
	case *ListRequest:
		want = msgListRequest
		if msg == want {
			*m = ListRequest{Table: d.table("table"), Prefix: d.str("prefix"), After: d.str("after"),
				Limit: d.int("limit"), Stale: d.bool("stale"), Delimiter: d.str("delimiter")}
		}
	case *ListResponse:
		want = msgListResponse
		if msg == want {
			// A page holds up to thousands of keys: take them all from one string instead
			// of allocating one each.
			d.whole = string(data)
			n := d.count("item count", 6)
			items := make([]Item, 0, n)
			for i := 0; i < n && d.err == nil; i++ {
				items = append(items, d.item())
			}
			*m = ListResponse{Items: items, More: d.bool("more"), Index: d.uvarint("index")}
		}
	default:
		return fmt.Errorf("%w: %T", errNoBinaryForm, v)
	}
	if msg != want {
		return fmt.Errorf("%w: message type %d, want %d", ErrBadWire, msg, want)
	}
	if d.err == nil && d.pos != len(d.b) {
		d.fail("trailing bytes")
	}
	return d.err
}

// wireDecoder reads the primitives of the binary form; the first failure sticks and every
// later read returns a zero value.
type wireDecoder struct {
	b     []byte
	pos   int
	whole string // if set, string(b): strings are taken from it without allocating
	err   error
}

func (d *wireDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated or invalid %s at byte %d", ErrBadWire, what, d.pos)
	}
}

func (d *wireDecoder) byte(what string) byte {
	if d.err != nil || d.pos >= len(d.b) {
		d.fail(what)
		return 0
	}
	v := d.b[d.pos]
	d.pos++
	return v
}

// bool reads a byte that must be 0 or 1, so each message has a single encoding.
func (d *wireDecoder) bool(what string) bool {
	v := d.byte(what)
	if v > 1 {
		d.fail(what)
	}
	return v == 1
}

func (d *wireDecoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.pos:])
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.pos += n
	return v
}

func (d *wireDecoder) int(what string) int {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.pos:])
	if n <= 0 || int64(int(v)) != v {
		d.fail(what)
		return 0
	}
	d.pos += n
	return int(v)
}

// span reads a length and returns the bounds of that many following bytes.
func (d *wireDecoder) span(what string) (int, int) {
	n := d.uvarint(what)
	if d.err != nil || n > uint64(len(d.b)-d.pos) {
		d.fail(what)
		return 0, 0
	}
	start := d.pos
	d.pos += int(n)
	return start, d.pos
}

func (d *wireDecoder) str(what string) string {
	start, end := d.span(what)
	if start == end {
		return ""
	}
	if d.whole != "" {
		return d.whole[start:end]
	}
	return string(d.b[start:end])
}

// table reads a table name, sharing the schema's string for known tables.
func (d *wireDecoder) table(what string) string {
	start, end := d.span(what)
	if name, ok := tableNames[string(d.b[start:end])]; ok {
		return name
	}
	if d.whole != "" {
		return d.whole[start:end]
	}
	return string(d.b[start:end])
}

// value reads a value; it aliases the input, and an empty one is nil.
func (d *wireDecoder) value(what string) []byte {
	start, end := d.span(what)
	if start == end {
		return nil
	}
	return d.b[start:end:end]
}

// count reads a number of elements that take at least min bytes each, rejecting counts the
// remaining input cannot hold, so a corrupt count cannot make the decoder allocate wildly.
func (d *wireDecoder) count(what string, min int) int {
	n := d.uvarint(what)
	if d.err != nil {
		return 0
	}
	if n > uint64((len(d.b)-d.pos)/min) {
		d.fail(what)
		return 0
	}
	return int(n)
}

func (d *wireDecoder) op() Op {
	kind := d.byte("op kind")
	op := Op{Kind: OpKind(kind &^ wireOpReturnPrev), ReturnPrev: kind&wireOpReturnPrev != 0}
	op.Cond = Cond(d.byte("op cond"))
	op.ModIndex = d.uvarint("mod index")
	op.Version = d.uvarint("version")
	op.Table = d.table("table")
	op.Key = d.str("key")
	op.Value = d.value("value")
	return op
}

func (d *wireDecoder) item() Item {
	return Item{Table: d.table("table"), Key: d.str("key"), Value: d.value("value"),
		ModIndex: d.uvarint("mod index"), Version: d.uvarint("version"), CommonPrefix: d.str("common prefix")}
}

func (d *wireDecoder) applyRequest() ApplyRequest {
	r := ApplyRequest{ID: d.str("request id")}
	n := d.count("op count", 7)
	r.Ops = make([]Op, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		r.Ops = append(r.Ops, d.op())
	}
	return r
}

func (d *wireDecoder) applyResponse() ApplyResponse {
	r := ApplyResponse{Index: d.uvarint("index"), Duplicate: d.bool("duplicate")}
	n := d.count("result count", 1)
	r.Results = make([]OpResult, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		flags := d.byte("result flags")
		if flags&^(resultApplied|resultPrevLost|resultPrev) != 0 {
			d.fail("result flags")
			break
		}
		res := OpResult{Applied: flags&resultApplied != 0, PrevLost: flags&resultPrevLost != 0}
		if flags&resultPrev != 0 {
			it := d.item()
			res.Prev = &it
		}
		r.Results = append(r.Results, res)
	}
	return r
}

func (d *wireDecoder) applyBatchResponse() ApplyBatchResponse {
	n := d.count("result count", 1)
	r := ApplyBatchResponse{Results: make([]ApplyBatchResult, 0, n)}
	for i := 0; i < n && d.err == nil; i++ {
		var res ApplyBatchResult
		switch d.byte("result kind") {
		case batchResultEmpty:
		case batchResultResponse:
			resp := d.applyResponse()
			res.Response = &resp
		case batchResultError:
			res.Error = &ErrorResponse{Code: d.str("error code"), Message: d.str("error message"), Leader: d.str("leader")}
		default:
			d.fail("result kind")
		}
		r.Results = append(r.Results, res)
	}
	return r
}

// tableNames maps each table name to the schema's own string, so decoding a known table
// name allocates nothing.
var tableNames = func() map[string]string {
	m := make(map[string]string, len(Tables))
	for _, t := range Tables {
		m[t.Name] = t.Name
	}
	return m
}()
