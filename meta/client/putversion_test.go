package client_test

import (
	"errors"
	"testing"
	"time"

	"stratus/meta/client"
)

// PutVersion (turning versioning on files the current objects as their null versions)
// never replaces a version already in the history: a second, slower PutBucketVersioning
// would otherwise write back the entry as it listed it, dropping a legal hold, a retention
// period, an ACL or tags set on the version since.
func TestPutVersionKeepsAnIndexedVersion(t *testing.T) {
	cl, ctx := setup(t)
	idx := cl.Index("hist")
	plain := client.ObjectEntry{Bucket: "hist", Key: "k", Version: 5, ETag: "e"}
	if err := idx.PutObject(ctx, plain, false); err != nil {
		t.Fatal(err)
	}
	if err := idx.PutVersion(ctx, plain); err != nil {
		t.Fatal(err)
	}
	hold := &client.ObjectLock{LegalHold: "ON", Mode: "COMPLIANCE", RetainUntil: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := idx.UpdateObject(ctx, "hist", "k", 5, func(e *client.ObjectEntry) error { e.Lock = hold; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := idx.PutVersion(ctx, plain); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("PutVersion over an indexed version: %v, want ErrConflict", err)
	}
	e, err := idx.GetObjectVersion(ctx, "hist", "k", 5)
	if err != nil || e.Lock == nil || *e.Lock != *hold {
		t.Fatalf("version after a second PutVersion: %+v %v, want its legal hold kept", e, err)
	}
}
