package client

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The binary wire form of the hot-path bodies: writes (ApplyRequest, ApplyBatchRequest and
// their replies), single-key reads (GetRequest, GetResponse) and list pages (ListRequest,
// ListResponse). JSON carries every value in base64 and makes both sides parse text; this
// form carries values as raw bytes, length-prefixed, so a 4 KiB record costs a copy, not an
// encode and a decode.
//
// A body starts with wireMagic (JSON bodies start with '{' or whitespace, never with it),
// then a message type byte, then the message's fields:
//
//	str    uvarint length, then that many bytes (strings and values alike)
//	Op     byte kind (ORed with 0x80 for ReturnPrev), byte cond, uvarint mod index,
//	       uvarint version, str table, str key, str value
//	Item   str table, str key, str value, uvarint mod index, uvarint version,
//	       str common prefix
//	ApplyRequest       str id, uvarint op count, ops
//	ApplyBatchRequest  uvarint request count, ApplyRequests
//	ApplyResponse      uvarint index, byte flags (1 duplicate), uvarint result count, each:
//	                   byte flags (1 applied, 2 prev lost, 4 prev follows), Item if 4
//	ApplyBatchResponse uvarint result count, each: byte 1 then ApplyResponse, or byte 2
//	                   then str code, str message, str leader,
//	                   or byte 0 for neither
//	GetRequest         str table, str key, byte stale
//	GetResponse        Item, uvarint index
//	ListRequest        str table, str prefix, str after, varint limit, byte stale,
//	                   str delimiter
//	ListResponse       uvarint item count, Items, byte more, uvarint index
//
// Every length and count is checked against the bytes that remain, so a hostile body fails
// with ErrBadWire instead of panicking or allocating beyond its own size. An empty value
// decodes as nil, as JSON's omitted value does. Bump the magic for an incompatible change;
// fields may only be added through a new message type.

// ContentTypeBinary is the media type of the binary wire form. A client sends it as the
// Content-Type of a binary body and in Accept when it can read a binary reply; a server
// answers in it only when asked to.
const ContentTypeBinary = "application/x-stratus-meta"

// wireMagic is the first byte of a binary body. It is not valid as the first byte of JSON.
const wireMagic = 0xB1

// Message types of the binary wire form; never renumber.
const (
	msgApplyRequest       = 1
	msgApplyBatchRequest  = 2
	msgApplyResponse      = 3
	msgApplyBatchResponse = 4
	msgGetRequest         = 5
	msgGetResponse        = 6
	msgListRequest        = 7
	msgListResponse       = 8
)

// ErrBadWire reports a binary body that is truncated, malformed or of another message type.
var ErrBadWire = errors.New("meta: bad binary body")

// errNoBinaryForm reports a type that has only the JSON form.
var errNoBinaryForm = errors.New("meta: no binary form for this type")

const wireOpReturnPrev = 0x80

// HasBinaryForm reports whether v (a value or pointer) is a body with a binary form.
func HasBinaryForm(v any) bool {
	switch v.(type) {
	case ApplyRequest, *ApplyRequest, ApplyBatchRequest, *ApplyBatchRequest,
		ApplyResponse, *ApplyResponse, ApplyBatchResponse, *ApplyBatchResponse,
		GetRequest, *GetRequest, GetResponse, *GetResponse,
		ListRequest, *ListRequest, ListResponse, *ListResponse:
		return true
	}
	return false
}

// EncodeBinary returns the binary wire form of v, which must be one of the bodies
// HasBinaryForm accepts (a value or a pointer to one).
func EncodeBinary(v any) ([]byte, error) {
	var e wireEncoder
	switch m := v.(type) {
	case ApplyRequest:
		e.applyRequestMsg(&m)
	case *ApplyRequest:
		e.applyRequestMsg(m)
	case ApplyBatchRequest:
		e.applyBatchRequestMsg(&m)
	case *ApplyBatchRequest:
		e.applyBatchRequestMsg(m)
	case ApplyResponse:
		e.applyResponseMsg(&m)
	case *ApplyResponse:
		e.applyResponseMsg(m)
	case ApplyBatchResponse:
		e.applyBatchResponseMsg(&m)
	case *ApplyBatchResponse:
		e.applyBatchResponseMsg(m)
	case GetRequest:
		e.getRequestMsg(&m)
	case *GetRequest:
		e.getRequestMsg(m)
	case GetResponse:
		e.getResponseMsg(&m)
	case *GetResponse:
		e.getResponseMsg(m)
	case ListRequest:
		e.listRequestMsg(&m)
	case *ListRequest:
		e.listRequestMsg(m)
	case ListResponse:
		e.listResponseMsg(&m)
	case *ListResponse:
		e.listResponseMsg(m)
	default:
		return nil, fmt.Errorf("%w: %T", errNoBinaryForm, v)
	}
	return e.b, nil
}

type wireEncoder struct{ b []byte }

func (e *wireEncoder) header(msg byte, size int) {
	e.b = make([]byte, 0, 2+size)
	e.b = append(e.b, wireMagic, msg)
}

func (e *wireEncoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }

func (e *wireEncoder) str(s string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *wireEncoder) bytes(s []byte) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *wireEncoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// Size estimates, so that each message is encoded into one allocation.
const varintRoom = binary.MaxVarintLen64

func opSize(op *Op) int { return 2 + 5*varintRoom + len(op.Table) + len(op.Key) + len(op.Value) }

func itemSize(it *Item) int {
	return 6*varintRoom + len(it.Table) + len(it.Key) + len(it.Value) + len(it.CommonPrefix)
}

func applyRequestSize(r *ApplyRequest) int {
	n := 2*varintRoom + len(r.ID)
	for i := range r.Ops {
		n += opSize(&r.Ops[i])
	}
	return n
}

func applyResponseSize(r *ApplyResponse) int {
	n := 1 + 2*varintRoom
	for i := range r.Results {
		n++
		if r.Results[i].Prev != nil {
			n += itemSize(r.Results[i].Prev)
		}
	}
	return n
}

func (e *wireEncoder) op(op *Op) {
	kind := byte(op.Kind)
	if op.ReturnPrev {
		kind |= wireOpReturnPrev
	}
	e.b = append(e.b, kind, byte(op.Cond))
	e.uvarint(op.ModIndex)
	e.uvarint(op.Version)
	e.str(op.Table)
	e.str(op.Key)
	e.bytes(op.Value)
}

func (e *wireEncoder) item(it *Item) {
	e.str(it.Table)
	e.str(it.Key)
	e.bytes(it.Value)
	e.uvarint(it.ModIndex)
	e.uvarint(it.Version)
	e.str(it.CommonPrefix)
}

func (e *wireEncoder) applyRequest(r *ApplyRequest) {
	e.str(r.ID)
	e.uvarint(uint64(len(r.Ops)))
	for i := range r.Ops {
		e.op(&r.Ops[i])
	}
}

func (e *wireEncoder) applyRequestMsg(r *ApplyRequest) {
	e.header(msgApplyRequest, applyRequestSize(r))
	e.applyRequest(r)
}

func (e *wireEncoder) applyBatchRequestMsg(r *ApplyBatchRequest) {
	n := varintRoom
	for i := range r.Requests {
		n += applyRequestSize(&r.Requests[i])
	}
	e.header(msgApplyBatchRequest, n)
	e.uvarint(uint64(len(r.Requests)))
	for i := range r.Requests {
		e.applyRequest(&r.Requests[i])
	}
}

const (
	respDuplicate = 1

	resultApplied  = 1
	resultPrevLost = 2
	resultPrev     = 4
)

func (e *wireEncoder) applyResponse(r *ApplyResponse) {
	e.uvarint(r.Index)
	e.bool(r.Duplicate)
	e.uvarint(uint64(len(r.Results)))
	for i := range r.Results {
		res := &r.Results[i]
		var flags byte
		if res.Applied {
			flags |= resultApplied
		}
		if res.PrevLost {
			flags |= resultPrevLost
		}
		if res.Prev != nil {
			flags |= resultPrev
		}
		e.b = append(e.b, flags)
		if res.Prev != nil {
			e.item(res.Prev)
		}
	}
}

func (e *wireEncoder) applyResponseMsg(r *ApplyResponse) {
	e.header(msgApplyResponse, applyResponseSize(r))
	e.applyResponse(r)
}

const (
	batchResultEmpty    = 0
	batchResultResponse = 1
	batchResultError    = 2
)

func (e *wireEncoder) applyBatchResponseMsg(r *ApplyBatchResponse) {
	n := varintRoom
	for i := range r.Results {
		n++
		if res := r.Results[i].Response; res != nil {
			n += applyResponseSize(res)
		} else if er := r.Results[i].Error; er != nil {
			n += 3*varintRoom + len(er.Code) + len(er.Message) + len(er.Leader)
		}
	}
	e.header(msgApplyBatchResponse, n)
	e.uvarint(uint64(len(r.Results)))
	for i := range r.Results {
		res := &r.Results[i]
		switch {
		case res.Response != nil:
			e.b = append(e.b, batchResultResponse)
			e.applyResponse(res.Response)
		case res.Error != nil:
			e.b = append(e.b, batchResultError)
			e.str(res.Error.Code)
			e.str(res.Error.Message)
			e.str(res.Error.Leader)
		default:
			// Neither, as JSON's {}: the client reports an empty result.
			e.b = append(e.b, batchResultEmpty)
		}
	}
}

func (e *wireEncoder) getRequestMsg(r *GetRequest) {
	e.header(msgGetRequest, 3*varintRoom+len(r.Table)+len(r.Key))
	e.str(r.Table)
	e.str(r.Key)
	e.bool(r.Stale)
}

func (e *wireEncoder) getResponseMsg(r *GetResponse) {
	e.header(msgGetResponse, itemSize(&r.Item)+varintRoom)
	e.item(&r.Item)
	e.uvarint(r.Index)
}

func (e *wireEncoder) listRequestMsg(r *ListRequest) {
	e.header(msgListRequest, 6*varintRoom+len(r.Table)+len(r.Prefix)+len(r.After)+len(r.Delimiter))
	e.str(r.Table)
	e.str(r.Prefix)
	e.str(r.After)
	e.b = binary.AppendVarint(e.b, int64(r.Limit))
	e.bool(r.Stale)
	e.str(r.Delimiter)
}

func (e *wireEncoder) listResponseMsg(r *ListResponse) {
	n := 3 * varintRoom
	for i := range r.Items {
		n += itemSize(&r.Items[i])
	}
	e.header(msgListResponse, n)
	e.uvarint(uint64(len(r.Items)))
	for i := range r.Items {
		e.item(&r.Items[i])
	}
	e.bool(r.More)
	e.uvarint(r.Index)
}
