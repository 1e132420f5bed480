package proxy_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"stratus/internal/testcluster"
	"stratus/objectd/client"
	"stratus/proxy"
)

// TestSupersededPutSucceeds: a write that replicas refuse for holding a newer version has
// lost last-writer-wins, not failed. It succeeds, says so, and still commits (the index
// orders versions the same way); no handoff stores a version already replaced.
func TestSupersededPutSucceeds(t *testing.T) {
	st := testcluster.StartStorage(t, testcluster.StorageOptions{})
	p, nodes := newProxy(t, st)
	r := st.Ring
	part := r.Partition("b/partly")
	older := p.Stamp() // stamped first, as by a write that started first and finishes last
	newer := p.Stamp()

	// Every replica holds the newer version.
	if _, err := p.Put(ctxT(t), proxy.PutRequest{Name: "b/whole", Timestamp: newer, Length: 3}, bytes.NewReader([]byte("new")), nil); err != nil {
		t.Fatal(err)
	}
	committed := 0
	commit := func(context.Context, proxy.PutResult) error { committed++; return nil }
	res, err := p.Put(ctxT(t), proxy.PutRequest{Name: "b/whole", Timestamp: older, Length: 3}, bytes.NewReader([]byte("old")), commit)
	if err != nil || !res.Superseded || res.DeletedAfter || res.Replicas != 0 || committed != 1 {
		t.Fatalf("fully superseded put: %+v %v, committed %d; want success, superseded, 0 replicas, one commit", res, err, committed)
	}
	if got, err := read(t, p, "b/whole", newer); err != nil || string(got) != "new" {
		t.Fatalf("newer version after the superseded put: %q %v", got, err)
	}
	if n := holders(t, r, nodes, "b/whole", older); n != 0 {
		t.Fatalf("%d primaries hold the superseded version", n)
	}

	// Every replica holds a deletion stamped after the write: the write says so, for its
	// caller not to index it.
	stamped := p.Stamp()
	if _, err := p.Delete(ctxT(t), "b/deleted", nil); err != nil {
		t.Fatal(err)
	}
	res, err = p.Put(ctxT(t), proxy.PutRequest{Name: "b/deleted", Timestamp: stamped, Length: 3}, bytes.NewReader([]byte("old")), nil)
	if err != nil || !res.Superseded || !res.DeletedAfter {
		t.Fatalf("put overtaken by a delete: %+v %v; want success, superseded, deleted after", res, err)
	}

	// One replica holds the newer version: the others take the older one.
	d := r.Primaries(part, nil)[0]
	tgt := client.Target{Host: d.Host, Device: d.Name, Partition: uint32(part)}
	if err := nodes.Put(ctxT(t), tgt, client.PutRequest{Name: "b/partly", Timestamp: newer, Length: 3}, bytes.NewReader([]byte("new"))); err != nil {
		t.Fatal(err)
	}
	res, err = p.Put(ctxT(t), proxy.PutRequest{Name: "b/partly", Timestamp: older, Length: 3}, bytes.NewReader([]byte("old")), nil)
	if err != nil || !res.Superseded || res.Replicas != 2 {
		t.Fatalf("partly superseded put: %+v %v; want success, superseded, 2 replicas", res, err)
	}
	if n := holders(t, r, nodes, "b/partly", older); n != 2 {
		t.Fatalf("%d primaries hold the older version, want 2", n)
	}
	// Handoffs were not asked to stand in for the replica that holds the newer version.
	handoffs := 0
	for h := range r.Handoffs(part) {
		ht := client.Target{Host: h.Host, Device: h.Name, Partition: uint32(part)}
		if info, err := nodes.Head(ctxT(t), ht, "b/partly"); err == nil && info.Timestamp == older {
			handoffs++
		}
	}
	if handoffs != 0 {
		t.Fatalf("%d handoffs took a superseded write", handoffs)
	}
}

// TestVerifyRefusalStoresNothing: a write whose Verify refuses the content is aborted
// before any replica completes it, so the version the replicas hold is untouched.
func TestVerifyRefusalStoresNothing(t *testing.T) {
	st := testcluster.StartStorage(t, testcluster.StorageOptions{})
	p, nodes := newProxy(t, st)
	first, err := put(t, p, "b/kept", []byte("kept"))
	if err != nil {
		t.Fatal(err)
	}
	refused := errors.New("digest mismatch")
	body := payload(200<<10, 3)
	committed := false
	_, err = p.Put(ctxT(t), proxy.PutRequest{Name: "b/kept", Length: int64(len(body)), Verify: func([]byte) error { return refused }},
		bytes.NewReader(body), func(context.Context, proxy.PutResult) error { committed = true; return nil })
	if !errors.Is(err, refused) || committed {
		t.Fatalf("put refused by Verify: %v, committed %v", err, committed)
	}
	if n := holders(t, st.Ring, nodes, "b/kept", first.Timestamp); n != 3 {
		t.Fatalf("%d replicas still hold the version the refused write would have replaced, want 3", n)
	}
}
