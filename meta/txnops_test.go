package meta

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"stratus/meta/client"
)

// TestOldEntryDecodesUnchanged: entries written before checks and previous records existed
// stay in logs and snapshots' history and must decode and replay the same.
func TestOldEntryDecodesUnchanged(t *testing.T) {
	// Built by hand, byte by byte, the way entries were written before OpCheck and
	// ReturnPrev: kind bytes 1 and 2 with no flag bit.
	var old []byte
	old = append(old, 1)                                  // entry version
	old = append(old, 0, 0, 0, 0, 0x49, 0x96, 0x02, 0xd2) // time 1234567890
	old = append(old, 2)                                  // requests
	old = append(old, 1, 'a', 2)                          // id "a", 2 ops
	old = append(old, 1, 3, 0, 7)                         // put, newer, mod 0, version 7
	old = append(append(old, 7), "objects"...)
	old = append(append(old, 3), "b/k"...)
	old = append(old, 1, 'v')
	old = append(old, 2, 2, 3, 0) // delete, mod index 3, version 0
	old = append(append(old, 7), "buckets"...)
	old = append(old, 1, 'x', 0)
	old = append(old, 1, 'b', 1) // id "b", 1 op
	old = append(old, 1, 0, 0, 0)
	old = append(append(old, 5), "nodes"...)
	old = append(old, 1, 'n', 0)
	if got := encodeBatch(sampleBatch()); !bytes.Equal(got, old) {
		t.Fatalf("the encoding of old ops changed:\n got %s\nwant %s", hex.EncodeToString(got), hex.EncodeToString(old))
	}
	b, err := decodeBatch(old)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range b.Requests {
		for _, op := range r.Ops {
			if op.ReturnPrev || op.Kind == client.OpCheck {
				t.Fatalf("old op decoded as a new one: %+v", op)
			}
		}
	}
	// Replaying it still applies: the put lands, the conditional delete conflicts.
	f := newTestFSM(t)
	res := applyEntry(t, f, 1, time.Unix(1000, 0), b.Requests...)
	if !errors.Is(res[0].Err, ErrConflict) || res[1].Err != nil {
		t.Fatalf("replay: %+v", res)
	}
}

func TestNewOpsRoundTrip(t *testing.T) {
	b := batch{Time: 5, Requests: []client.ApplyRequest{{ID: "n", Ops: []client.Op{
		{Kind: client.OpCheck, Table: client.TableBuckets, Key: "b", Cond: client.CondModIndex, ModIndex: 9, ReturnPrev: true, Value: []byte{}},
		{Kind: client.OpCheck, Table: client.TableObjects, Key: "b/", Cond: client.CondRangeEmpty, Value: []byte{}},
		{Kind: client.OpPut, Table: client.TableObjects, Key: "b/k", Cond: client.CondNewer, Version: 3, ReturnPrev: true, Value: []byte("v")},
		{Kind: client.OpDelete, Table: client.TableObjects, Key: "b/j", Cond: client.CondExists, ReturnPrev: true, Value: []byte{}},
	}}}}
	got, err := decodeBatch(encodeBatch(b))
	if err != nil || !reflect.DeepEqual(got, b) {
		t.Fatalf("round trip: %v\n got %+v\nwant %+v", err, got, b)
	}
}

func TestValidateNewOps(t *testing.T) {
	bad := []client.Op{
		{Kind: client.OpCheck, Table: client.TableBuckets, Key: "b"},                         // nothing to check
		{Kind: client.OpCheck, Table: client.TableBuckets, Key: "b", Cond: client.CondNewer}, // cannot fail
		{Kind: client.OpCheck, Table: client.TableBuckets, Key: "b", Cond: client.CondAbsent, Value: []byte("x")},
		{Kind: client.OpDelete, Table: client.TableObjects, Key: "b/", Cond: client.CondRangeEmpty}, // ranges only for checks
		{Kind: client.OpPut, Table: client.TableAccessKeys, Key: "k", ReturnPrev: true},             // sealed
		{Kind: client.OpPut, Table: client.TableObjects, Key: "k", Cond: client.CondExists + 1},     // unknown condition
		{Kind: client.OpCheck + 1, Table: client.TableObjects, Key: "k", Cond: client.CondExists},   // unknown kind
	}
	for i, op := range bad {
		if err := validateApply(&client.ApplyRequest{ID: "x", Ops: []client.Op{op}}); !errors.Is(err, ErrBadRequest) {
			t.Errorf("op %d (%+v): %v, want ErrBadRequest", i, op, err)
		}
	}
}

func TestFSMCheckAndReturnPrev(t *testing.T) {
	f := newTestFSM(t)
	now := time.Unix(1000, 0)
	bucket := client.ApplyRequest{ID: "mk", Ops: []client.Op{{Kind: client.OpPut, Table: client.TableBuckets, Key: "b", Value: []byte("{}")}}}
	applyEntry(t, f, 1, now, bucket)
	check := func(id string, mod uint64, key, val string, version uint64) client.ApplyRequest {
		return client.ApplyRequest{ID: id, Ops: []client.Op{
			{Kind: client.OpCheck, Table: client.TableBuckets, Key: "b", Cond: client.CondModIndex, ModIndex: mod},
			{Kind: client.OpPut, Table: client.TableObjects, Key: key, Value: []byte(val), Cond: client.CondNewer, Version: version, ReturnPrev: true},
		}}
	}
	res := applyEntry(t, f, 2, now, check("p1", 1, "b/k", "one", 10))[0]
	if res.Err != nil || !res.Results[0].Applied || !res.Results[1].Applied || res.Results[1].Prev != nil {
		t.Fatalf("first put: %+v", res)
	}
	res = applyEntry(t, f, 3, now, check("p2", 1, "b/k", "two", 20))[0]
	if p := res.Results[1].Prev; res.Err != nil || p == nil || string(p.Value) != "one" || p.Version != 10 || p.ModIndex != 2 {
		t.Fatalf("second put: %+v prev %+v", res, p)
	}
	// Losing last-writer-wins: not applied, nothing replaced.
	res = applyEntry(t, f, 4, now, check("p3", 1, "b/k", "old", 15))[0]
	if res.Err != nil || res.Results[1].Applied || res.Results[1].Prev != nil {
		t.Fatalf("older put: %+v", res)
	}
	// The bucket changes: a check at the old mod index fails the whole request.
	applyEntry(t, f, 5, now, client.ApplyRequest{ID: "upd", Ops: []client.Op{{Kind: client.OpPut, Table: client.TableBuckets, Key: "b", Value: []byte(`{"policy":"deny"}`)}}})
	res = applyEntry(t, f, 6, now, check("p4", 1, "b/k2", "x", 30))[0]
	if !errors.Is(res.Err, ErrConflict) {
		t.Fatalf("stale check: %+v", res)
	}
	if _, _, err := f.get(client.TableObjects, "b/k2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("write behind a failed check landed: %v", err)
	}
	// A retry of an applied request gets its outcome but no previous record.
	res = applyEntry(t, f, 7, now, check("p2", 1, "b/k", "two", 20))[0]
	if !res.Duplicate || !res.Results[1].Applied || res.Results[1].Prev != nil || !res.Results[1].PrevLost {
		t.Fatalf("duplicate: %+v", res)
	}
}

func TestFSMRangeEmpty(t *testing.T) {
	f := newTestFSM(t)
	now := time.Unix(1000, 0)
	applyEntry(t, f, 1, now, putReq("a", "bb/k", "1"))
	del := func(id, prefix string) client.ApplyRequest {
		return client.ApplyRequest{ID: id, Ops: []client.Op{
			{Kind: client.OpCheck, Table: client.TableObjects, Key: prefix, Cond: client.CondRangeEmpty},
			{Kind: client.OpPut, Table: client.TableNodes, Key: id, Value: []byte("done")},
		}}
	}
	// "b/" is empty although "bb/k" sorts right after it.
	if res := applyEntry(t, f, 2, now, del("x", "b/"))[0]; res.Err != nil {
		t.Fatalf("empty range refused: %v", res.Err)
	}
	if res := applyEntry(t, f, 3, now, del("y", "bb/"))[0]; !errors.Is(res.Err, ErrConflict) {
		t.Fatalf("non-empty range accepted: %+v", res)
	}
}

// TestFSMConditionsProperty checks random requests against a model: a request applies
// entirely when every condition holds on the state before it, and not at all otherwise.
func TestFSMConditionsProperty(t *testing.T) {
	f := newTestFSM(t)
	rng := rand.New(rand.NewPCG(1, 2))
	type rec struct {
		mod, version uint64
		val          string
	}
	model := map[string]rec{}
	keys := []string{"a/1", "a/2", "b/1", "ab/1"}
	prefixes := []string{"a/", "b/", "ab/", "c/"}
	now := time.Unix(1000, 0)
	for index := uint64(1); index <= 600; index++ {
		req := client.ApplyRequest{ID: fmt.Sprint("r", index)}
		for range 1 + rng.IntN(3) {
			op := client.Op{Table: client.TableObjects, Key: keys[rng.IntN(len(keys))]}
			switch rng.IntN(4) {
			case 0:
				op.Kind, op.Cond, op.Key = client.OpCheck, client.CondRangeEmpty, prefixes[rng.IntN(len(prefixes))]
			case 1:
				op.Kind = client.OpCheck
				op.Cond = []client.Cond{client.CondAbsent, client.CondExists, client.CondModIndex}[rng.IntN(3)]
			case 2:
				op.Kind, op.Value, op.Version = client.OpPut, []byte(fmt.Sprint(index)), uint64(rng.IntN(50))
				op.Cond = []client.Cond{client.CondNone, client.CondNewer, client.CondModIndex}[rng.IntN(3)]
			default:
				op.Kind, op.Cond, op.Version = client.OpDelete, client.CondNewer, uint64(rng.IntN(50))
			}
			if op.Cond == client.CondModIndex {
				op.ModIndex = model[op.Key].mod
				if rng.IntN(3) == 0 {
					op.ModIndex = uint64(rng.IntN(int(index)))
				}
			}
			op.ReturnPrev = op.Cond != client.CondRangeEmpty && rng.IntN(2) == 0
			req.Ops = append(req.Ops, op)
		}
		ok := true
		for _, op := range req.Ops {
			cur, has := model[op.Key]
			switch op.Cond {
			case client.CondRangeEmpty:
				for k := range model {
					ok = ok && !strings.HasPrefix(k, op.Key)
				}
			case client.CondAbsent:
				ok = ok && !has
			case client.CondExists:
				ok = ok && has
			case client.CondModIndex:
				ok = ok && cur.mod == op.ModIndex
			}
		}
		res := applyEntry(t, f, index, now, req)[0]
		if ok != (res.Err == nil) {
			t.Fatalf("request %d %+v: model says ok=%v, fsm %v", index, req.Ops, ok, res.Err)
		}
		if !ok {
			continue
		}
		for i, op := range req.Ops {
			cur, has := model[op.Key]
			apply := op.Kind != client.OpCheck && !(op.Cond == client.CondNewer && has && cur.version >= op.Version)
			if op.Kind == client.OpDelete && !has {
				apply = false
			}
			got := res.Results[i]
			if op.Kind != client.OpCheck && got.Applied != apply {
				t.Fatalf("request %d op %d %+v: applied %v, want %v", index, i, op, got.Applied, apply)
			}
			wantPrev := op.ReturnPrev && has && (apply || op.Kind == client.OpCheck)
			if (got.Prev != nil) != wantPrev || wantPrev && (got.Prev.Version != cur.version || string(got.Prev.Value) != cur.val || got.Prev.ModIndex != cur.mod) {
				t.Fatalf("request %d op %d %+v: prev %+v, model %+v (has %v)", index, i, op, got.Prev, cur, has)
			}
			if !apply {
				continue
			}
			if op.Kind == client.OpPut {
				model[op.Key] = rec{mod: index, version: op.Version, val: string(op.Value)}
			} else {
				delete(model, op.Key)
			}
		}
	}
	for _, k := range keys {
		it, _, err := f.get(client.TableObjects, k)
		m, has := model[k]
		if has != (err == nil) || has && (it.ModIndex != m.mod || string(it.Value) != m.val) {
			t.Fatalf("%s: fsm %+v %v, model %+v %v", k, it, err, m, has)
		}
	}
}
