package client_test

import (
	"errors"
	"testing"

	"stratus/meta/client"
)

// TestWriteTxCheckCurrent: a write conditional on the key's current entry as read (its mod
// index; 0 for none) is refused with ErrConflict once another write changed it, and lands
// while it is unchanged, on an existing entry or on none.
func TestWriteTxCheckCurrent(t *testing.T) {
	cl, ctx := setup(t)
	if err := cl.CreateBucket(ctx, client.Bucket{Name: "archive", Owner: "tester"}); err != nil {
		t.Fatal(err)
	}
	idx := cl.Index("archive")
	if err := idx.PutObject(ctx, client.ObjectEntry{Bucket: "archive", Key: "k", Version: 5}, true); err != nil {
		t.Fatal(err)
	}
	cur, err := idx.GetObject(ctx, "archive", "k")
	if err != nil || cur.ModIndex == 0 {
		t.Fatalf("current: %+v %v", cur, err)
	}
	w := client.WriteTx{Entry: client.ObjectEntry{Bucket: "archive", Key: "k", Version: 11}, Versioned: true,
		CheckCurrent: true, CurrentMod: cur.ModIndex}
	if err := idx.PutObject(ctx, client.ObjectEntry{Bucket: "archive", Key: "k", Version: 10}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := idx.WriteTx(ctx, w); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("write on a changed current entry: %v, want ErrConflict", err)
	}
	if _, err := idx.GetObjectVersion(ctx, "archive", "k", 11); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("refused write left a version: %v", err)
	}
	cur, _ = idx.GetObject(ctx, "archive", "k")
	w.CurrentMod = cur.ModIndex
	if res, err := idx.WriteTx(ctx, w); err != nil || !res.Applied {
		t.Fatalf("write on the current entry as read: %+v %v", res, err)
	}
	w.Entry.Key, w.Entry.Version, w.CurrentMod = "absent", 1, 0 // 0: no current entry
	if _, err := idx.WriteTx(ctx, w); err != nil {
		t.Fatalf("write on an absent entry: %v", err)
	}
	w.Entry.Version = 2 // a version of its own: only the current entry's check can fail it
	if _, err := idx.WriteTx(ctx, w); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("write on an entry that now exists, as if absent: %v, want ErrConflict", err)
	}
}
