package meta

import (
	"bytes"
	"reflect"
	"testing"

	"stratus/meta/client"
)

func sampleBatch() batch {
	return batch{Time: 1234567890, Requests: []client.ApplyRequest{
		{ID: "a", Ops: []client.Op{
			{Kind: client.OpPut, Table: client.TableObjects, Key: "b/k", Value: []byte("v"), Cond: client.CondNewer, Version: 7},
			{Kind: client.OpDelete, Table: client.TableBuckets, Key: "x", Cond: client.CondModIndex, ModIndex: 3},
		}},
		{ID: "b", Ops: []client.Op{{Kind: client.OpPut, Table: client.TableNodes, Key: "n", Value: []byte{}}}},
	}}
}

func TestBatchRoundTrip(t *testing.T) {
	b := sampleBatch()
	got, err := decodeBatch(encodeBatch(b))
	if err != nil {
		t.Fatal(err)
	}
	// Empty and nil values both decode as empty.
	b.Requests[0].Ops[1].Value = []byte{}
	if !reflect.DeepEqual(got, b) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, b)
	}
}

func TestDecodeBatchRejectsCorruption(t *testing.T) {
	enc := encodeBatch(sampleBatch())
	for i := 0; i < len(enc); i++ {
		if _, err := decodeBatch(enc[:i]); err == nil {
			t.Fatalf("truncated to %d bytes: no error", i)
		}
	}
	bad := bytes.Clone(enc)
	bad[0] = 99
	if _, err := decodeBatch(bad); err == nil {
		t.Fatal("unknown version accepted")
	}
}

func TestRecordRoundTrip(t *testing.T) {
	r := record{ModIndex: 1 << 40, Version: 99, Value: []byte("hello")}
	got, err := decodeRecord(encodeRecord(r))
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("got %+v, %v", got, err)
	}
}

func TestDedupRoundTrip(t *testing.T) {
	r := applyResult{Index: 42, Err: ErrConflict, Results: make([]client.OpResult, 11)}
	r.Results[0].Applied, r.Results[9].Applied = true, true
	got, err := decodeDedup(encodeDedup(r))
	if err != nil || got.Index != 42 || got.Err != ErrConflict || !reflect.DeepEqual(got.Results, r.Results) {
		t.Fatalf("got %+v, %v", got, err)
	}
}

// FuzzDecodeBatch checks that decoding never panics and that whatever decodes re-encodes to
// the same bytes.
func FuzzDecodeBatch(f *testing.F) {
	f.Add(encodeBatch(sampleBatch()))
	f.Add(encodeBatch(batch{}))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := decodeBatch(data)
		if err != nil {
			return
		}
		if again := encodeBatch(b); !bytes.Equal(again, data) {
			// Varints have non-minimal encodings; re-decoding must still agree.
			b2, err := decodeBatch(again)
			if err != nil || !reflect.DeepEqual(b, b2) {
				t.Fatalf("re-encode mismatch: %v", err)
			}
		}
	})
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(record{ModIndex: 5, Version: 6, Value: []byte("v")}))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeRecord(data)
		if err != nil {
			return
		}
		r2, err := decodeRecord(encodeRecord(r))
		if err != nil || !reflect.DeepEqual(r.Value, r2.Value) && len(r.Value)+len(r2.Value) > 0 || r.ModIndex != r2.ModIndex || r.Version != r2.Version {
			t.Fatalf("record round trip: %+v vs %+v (%v)", r, r2, err)
		}
	})
}
