package client_test

import (
	"errors"
	"testing"
	"time"

	"stratus/meta/client"
)

// A version, once indexed, is not replaced by a second write stamped with the same version
// (two proxies' clocks can agree), whether an object or a delete marker, nor by a multipart
// completion: the write fails with ErrConflict and the entry, its lock included, stays.
func TestIndexedVersionIsNeverReplaced(t *testing.T) {
	cl, ctx := setup(t)
	idx := cl.Index("worm")
	until := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	locked := client.ObjectEntry{Bucket: "worm", Key: "k", Version: 7, Size: 3, ETag: "locked", Data: ".v/worm/7-a/k",
		Lock: &client.ObjectLock{Mode: "COMPLIANCE", RetainUntil: until, LegalHold: "ON"}}
	if err := idx.PutObject(ctx, locked, true); err != nil {
		t.Fatal(err)
	}
	if err := idx.PutObject(ctx, client.ObjectEntry{Bucket: "worm", Key: "k", Version: 7, Size: 9, ETag: "other", Data: ".v/worm/7-b/k"}, true); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("second write of version 7: %v, want ErrConflict", err)
	}
	if err := idx.DeleteObject(ctx, "worm", "k", 7, true); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("delete marker stamped 7: %v, want ErrConflict", err)
	}
	u := client.Upload{Bucket: "worm", Key: "k", UploadID: "u1"}
	if err := idx.CreateUpload(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := idx.CompleteUpload(ctx, u, client.ObjectEntry{Bucket: "worm", Key: "k", Version: 7, ETag: "x-1"}, true, 0); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("completion stamped 7: %v, want ErrConflict", err)
	}
	for _, get := range []func() (client.ObjectEntry, error){
		func() (client.ObjectEntry, error) { return idx.GetObjectVersion(ctx, "worm", "k", 7) },
		func() (client.ObjectEntry, error) { return idx.GetObject(ctx, "worm", "k") },
	} {
		e, err := get()
		if err != nil || e.ETag != "locked" || e.Data != locked.Data || e.Lock == nil || *e.Lock != *locked.Lock {
			t.Fatalf("entry after the refused writes: %+v %v", e, err)
		}
	}
	// A newer version is written as usual.
	if err := idx.PutObject(ctx, client.ObjectEntry{Bucket: "worm", Key: "k", Version: 8, ETag: "newer", Data: ".v/worm/8-c/k"}, true); err != nil {
		t.Fatal(err)
	}
}

// DeleteVersionIf deletes nothing when allow refuses, and asks allow about the version as
// it is in the same round, so a lock set just before is seen.
func TestDeleteVersionIf(t *testing.T) {
	cl, ctx := setup(t)
	idx := cl.Index("worm")
	for v := uint64(1); v <= 2; v++ {
		if err := idx.PutObject(ctx, client.ObjectEntry{Bucket: "worm", Key: "k", Version: v, ETag: "e"}, true); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := idx.UpdateObject(ctx, "worm", "k", 1, func(e *client.ObjectEntry) error {
		e.Lock = &client.ObjectLock{LegalHold: "ON"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	refused := errors.New("locked")
	allow := func(e client.ObjectEntry) error {
		if e.Lock != nil && e.Lock.LegalHold == "ON" {
			return refused
		}
		return nil
	}
	if _, err := idx.DeleteVersionIf(ctx, "worm", "k", 1, allow); !errors.Is(err, refused) {
		t.Fatalf("delete of a held version: %v", err)
	}
	if e, err := idx.GetObjectVersion(ctx, "worm", "k", 1); err != nil || e.Lock == nil {
		t.Fatalf("held version after the refused delete: %+v %v", e, err)
	}
	if _, err := idx.DeleteVersionIf(ctx, "worm", "k", 2, allow); err != nil {
		t.Fatalf("delete of the current, unheld version: %v", err)
	}
	if e, err := idx.GetObject(ctx, "worm", "k"); err != nil || e.Version != 1 {
		t.Fatalf("current after deleting version 2: %+v %v (want the held version 1)", e, err)
	}
}

// A hold set between DeleteVersionIf's check and its write is not lost: the write is
// conditional on the version as checked, so the round reads again and the check refuses.
func TestDeleteVersionIfSeesALockSetMeanwhile(t *testing.T) {
	cl, ctx := setup(t)
	idx := cl.Index("worm")
	if err := idx.PutObject(ctx, client.ObjectEntry{Bucket: "worm", Key: "k", Version: 1, ETag: "e"}, true); err != nil {
		t.Fatal(err)
	}
	refused := errors.New("locked")
	checks := 0
	_, err := idx.DeleteVersionIf(ctx, "worm", "k", 1, func(e client.ObjectEntry) error {
		checks++
		if e.Lock != nil {
			return refused
		}
		// Another request sets a legal hold after this check has passed.
		_, err := idx.UpdateObject(ctx, "worm", "k", 1, func(e *client.ObjectEntry) error {
			e.Lock = &client.ObjectLock{LegalHold: "ON"}
			return nil
		})
		return err
	})
	if !errors.Is(err, refused) || checks != 2 {
		t.Fatalf("delete racing a hold: %v after %d checks, want the hold to refuse it on the second", err, checks)
	}
	if e, err := idx.GetObjectVersion(ctx, "worm", "k", 1); err != nil || e.Lock == nil || e.Lock.LegalHold != "ON" {
		t.Fatalf("held version after the race: %+v %v", e, err)
	}
}
