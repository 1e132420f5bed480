package client_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"

	"pgregory.net/rapid"

	"stratus/meta/client"
)

// Generators of wire bodies. Strings mix known table names (which the decoder shares) with
// arbitrary ones; values are nil or non-empty, as the binary form has one empty value.

func genString(t *rapid.T, label string) string {
	return rapid.OneOf(rapid.Just(""), rapid.SampledFrom([]string{client.TableObjects, client.TableBuckets, "objects/x"}),
		rapid.String()).Draw(t, label)
}

func genValue(t *rapid.T, label string) []byte {
	v := rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, label)
	if len(v) == 0 {
		return nil
	}
	return v
}

func genUint(t *rapid.T, label string) uint64 {
	return rapid.OneOf(rapid.Uint64Range(0, 300), rapid.Uint64()).Draw(t, label)
}

func genItem(t *rapid.T) client.Item {
	return client.Item{Table: genString(t, "table"), Key: genString(t, "key"), Value: genValue(t, "value"),
		ModIndex: genUint(t, "mod"), Version: genUint(t, "version"), CommonPrefix: genString(t, "cp")}
}

func genApplyRequest(t *rapid.T) client.ApplyRequest {
	r := client.ApplyRequest{ID: genString(t, "id"), Ops: []client.Op{}}
	for range rapid.IntRange(0, 5).Draw(t, "ops") {
		r.Ops = append(r.Ops, client.Op{
			Kind: client.OpKind(rapid.Uint8Range(0, 0x7f).Draw(t, "kind")), Table: genString(t, "table"),
			Key: genString(t, "key"), Value: genValue(t, "value"), Cond: client.Cond(rapid.Uint8().Draw(t, "cond")),
			ModIndex: genUint(t, "mod"), Version: genUint(t, "version"), ReturnPrev: rapid.Bool().Draw(t, "prev"),
		})
	}
	return r
}

func genApplyResponse(t *rapid.T) client.ApplyResponse {
	r := client.ApplyResponse{Index: genUint(t, "index"), Duplicate: rapid.Bool().Draw(t, "dup"), Results: []client.OpResult{}}
	for range rapid.IntRange(0, 5).Draw(t, "results") {
		res := client.OpResult{Applied: rapid.Bool().Draw(t, "applied"), PrevLost: rapid.Bool().Draw(t, "lost")}
		if rapid.Bool().Draw(t, "hasPrev") {
			it := genItem(t)
			res.Prev = &it
		}
		r.Results = append(r.Results, res)
	}
	return r
}

// genBody draws any body with a binary form, and a pointer to decode it into.
func genBody(t *rapid.T) (any, any) {
	switch rapid.IntRange(0, 7).Draw(t, "type") {
	case 0:
		return genApplyRequest(t), new(client.ApplyRequest)
	case 1:
		b := client.ApplyBatchRequest{Requests: []client.ApplyRequest{}}
		for range rapid.IntRange(0, 3).Draw(t, "reqs") {
			b.Requests = append(b.Requests, genApplyRequest(t))
		}
		return b, new(client.ApplyBatchRequest)
	case 2:
		return genApplyResponse(t), new(client.ApplyResponse)
	case 3:
		b := client.ApplyBatchResponse{Results: []client.ApplyBatchResult{}}
		for range rapid.IntRange(0, 3).Draw(t, "results") {
			var r client.ApplyBatchResult
			switch rapid.IntRange(0, 2).Draw(t, "kind") {
			case 1:
				resp := genApplyResponse(t)
				r.Response = &resp
			case 2:
				r.Error = &client.ErrorResponse{Code: genString(t, "code"), Message: genString(t, "msg"), Leader: genString(t, "leader")}
			}
			b.Results = append(b.Results, r)
		}
		return b, new(client.ApplyBatchResponse)
	case 4:
		return client.GetRequest{Table: genString(t, "table"), Key: genString(t, "key"), Stale: rapid.Bool().Draw(t, "stale")}, new(client.GetRequest)
	case 5:
		return client.GetResponse{Item: genItem(t), Index: genUint(t, "index")}, new(client.GetResponse)
	case 6:
		return client.ListRequest{Table: genString(t, "table"), Prefix: genString(t, "prefix"), After: genString(t, "after"),
			Limit: rapid.Int().Draw(t, "limit"), Stale: rapid.Bool().Draw(t, "stale"), Delimiter: genString(t, "delim")}, new(client.ListRequest)
	default:
		b := client.ListResponse{Items: []client.Item{}, More: rapid.Bool().Draw(t, "more"), Index: genUint(t, "index")}
		for range rapid.IntRange(0, 6).Draw(t, "items") {
			b.Items = append(b.Items, genItem(t))
		}
		return b, new(client.ListResponse)
	}
}

// TestBinaryRoundTrip: decoding the binary form of any body gives the body back, and JSON
// (the other form of the same bodies) agrees with it.
func TestBinaryRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in, out := genBody(t)
		if !client.HasBinaryForm(in) || !client.HasBinaryForm(out) {
			t.Fatalf("%T has no binary form", in)
		}
		data, err := client.EncodeBinary(in)
		if err != nil {
			t.Fatal(err)
		}
		if !client.IsBinary(data) {
			t.Fatalf("encoded body does not start with the magic byte: % x", data[:2])
		}
		if err := client.DecodeBinary(data, out); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if got := reflect.ValueOf(out).Elem().Interface(); !reflect.DeepEqual(got, in) {
			t.Fatalf("round trip:\n got %#v\nwant %#v", got, in)
		}
		// Every strict prefix is refused, never misread.
		cut := rapid.IntRange(0, len(data)-1).Draw(t, "cut")
		if err := client.DecodeBinary(data[:cut], reflect.New(reflect.TypeOf(in)).Interface()); !errors.Is(err, client.ErrBadWire) {
			t.Fatalf("truncated at %d of %d: %v, want ErrBadWire", cut, len(data), err)
		}
	})
}

// TestBinaryRefusesOtherMessage: a body decoded as another message type fails.
func TestBinaryRefusesOtherMessage(t *testing.T) {
	data, err := client.EncodeBinary(client.GetRequest{Table: client.TableObjects, Key: "b/k"})
	if err != nil {
		t.Fatal(err)
	}
	var lr client.ListRequest
	if err := client.DecodeBinary(data, &lr); !errors.Is(err, client.ErrBadWire) {
		t.Fatalf("get request decoded as list request: %v", err)
	}
	if _, err := client.EncodeBinary(client.WatchRequest{}); err == nil {
		t.Fatal("a watch request has no binary form, but encoded")
	}
	var js client.GetRequest
	if err := client.DecodeBinary([]byte(`{"table":"objects"}`), &js); !errors.Is(err, client.ErrBadWire) {
		t.Fatalf("JSON decoded as binary: %v", err)
	}
}

// TestBinaryHostileCounts: counts and lengths beyond the body fail before anything is
// allocated for them.
func TestBinaryHostileCounts(t *testing.T) {
	for name, body := range map[string][]byte{
		"huge item count":   {0xB1, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
		"huge key length":   {0xB1, 5, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 'a'},
		"overlong varint":   {0xB1, 6, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"bool not 0 or 1":   {0xB1, 5, 0, 0, 7},
		"bad result flags":  {0xB1, 3, 1, 0, 1, 0x40},
		"bad batch result":  {0xB1, 4, 1, 9},
		"trailing bytes":    {0xB1, 5, 0, 0, 0, 0},
		"magic only":        {0xB1},
		"requests too many": {0xB1, 2, 0x80, 0x80, 0x04},
	} {
		for _, v := range []any{new(client.ListResponse), new(client.GetRequest), new(client.GetResponse), new(client.ApplyResponse),
			new(client.ApplyBatchResponse), new(client.ApplyBatchRequest)} {
			if err := client.DecodeBinary(body, v); !errors.Is(err, client.ErrBadWire) {
				t.Errorf("%s into %T: %v, want ErrBadWire", name, v, err)
			}
		}
	}
}

// TestBinarySmallerThanJSON: a 4 KiB value travels as itself, not in base64 inside JSON.
func TestBinarySmallerThanJSON(t *testing.T) {
	v := bytes.Repeat([]byte{0xAB}, 4096)
	resp := client.GetResponse{Item: client.Item{Table: client.TableObjects, Key: "bucket/key", Value: v, ModIndex: 7, Version: 9}, Index: 7}
	bin, err := client.EncodeBinary(resp)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(resp)
	if len(bin) > 4096+64 || len(js) < 4096*4/3 {
		t.Fatalf("binary %d bytes, JSON %d bytes", len(bin), len(js))
	}
}

// FuzzDecodeBinary: no input makes the decoder panic, and whatever it accepts re-encodes to a
// body that decodes to the same value.
func FuzzDecodeBinary(f *testing.F) {
	seeds := []any{
		client.ApplyRequest{ID: "r1", Ops: []client.Op{{Kind: client.OpPut, Table: client.TableObjects, Key: "b/k", Value: []byte("v"), Cond: client.CondNewer, Version: 5, ReturnPrev: true}}},
		client.ApplyBatchRequest{Requests: []client.ApplyRequest{{ID: "a", Ops: []client.Op{{Kind: client.OpCheck, Table: client.TableBuckets, Key: "b", Cond: client.CondModIndex, ModIndex: 3}}}}},
		client.ApplyResponse{Index: 9, Duplicate: true, Results: []client.OpResult{{Applied: true, Prev: &client.Item{Table: "objects", Key: "b/k", Value: []byte("x")}}, {PrevLost: true}}},
		client.ApplyBatchResponse{Results: []client.ApplyBatchResult{{Response: &client.ApplyResponse{Index: 1, Results: []client.OpResult{{Applied: true}}}}, {Error: &client.ErrorResponse{Code: "conflict", Message: "m"}}, {}}},
		client.GetRequest{Table: client.TableObjects, Key: "b/k", Stale: true},
		client.GetResponse{Item: client.Item{Table: client.TableObjects, Key: "b/k", Value: []byte("{}"), ModIndex: 4, Version: 2}, Index: 4},
		client.ListRequest{Table: client.TableObjects, Prefix: "b/", After: "b/a", Limit: 1000, Delimiter: "/"},
		client.ListResponse{Items: []client.Item{{Table: "objects", Key: "b/a/", CommonPrefix: "b/a/"}, {Table: "objects", Key: "b/c", Value: []byte("v")}}, More: true, Index: 12},
	}
	for _, s := range seeds {
		data, err := client.EncodeBinary(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{0xB1, 8, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte(`{"items":[]}`))
	targets := []func() any{
		func() any { return new(client.ApplyRequest) }, func() any { return new(client.ApplyBatchRequest) },
		func() any { return new(client.ApplyResponse) }, func() any { return new(client.ApplyBatchResponse) },
		func() any { return new(client.GetRequest) }, func() any { return new(client.GetResponse) },
		func() any { return new(client.ListRequest) }, func() any { return new(client.ListResponse) },
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, mk := range targets {
			v := mk()
			if err := client.DecodeBinary(data, v); err != nil {
				if !errors.Is(err, client.ErrBadWire) {
					t.Fatalf("%T: error %v does not match ErrBadWire", v, err)
				}
				continue
			}
			again, err := client.EncodeBinary(v)
			if err != nil {
				t.Fatal(err)
			}
			w := mk()
			if err := client.DecodeBinary(again, w); err != nil || !reflect.DeepEqual(v, w) {
				t.Fatalf("%T: accepted body does not round-trip: %v", v, err)
			}
		}
	})
}

// TestReadBody: a body is read whole whether its length is declared or not, a short one is
// an error, and one beyond MaxBodyBytes comes back one byte too long for the caller to refuse.
func TestReadBody(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 1000)
	for _, length := range []int64{1000, -1} {
		got, err := client.ReadBody(bytes.NewReader(body), length)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("length %d: %d bytes, %v", length, len(got), err)
		}
	}
	if _, err := client.ReadBody(bytes.NewReader(body), 2000); err == nil {
		t.Fatal("a body shorter than its length was read without error")
	}
	big := io.LimitReader(zeros{}, client.MaxBodyBytes+100)
	got, err := client.ReadBody(big, client.MaxBodyBytes+100)
	if err != nil || len(got) != client.MaxBodyBytes+1 {
		t.Fatalf("oversized body: %d bytes, %v", len(got), err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
