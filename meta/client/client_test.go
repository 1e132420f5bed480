package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"stratus/meta/client"
	"stratus/meta/metatest"
)

func setup(t *testing.T) (*client.Client, context.Context) {
	t.Helper()
	c := metatest.New(t, metatest.Options{Nodes: 1, Quiet: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c.Client(), ctx
}

func TestObjectIndex(t *testing.T) {
	cl, ctx := setup(t)
	idx := cl.Index("photos")
	put := func(key string, v uint64, versioned bool) {
		t.Helper()
		if err := idx.PutObject(ctx, client.ObjectEntry{Bucket: "photos", Key: key, Version: v, Size: int64(v), ETag: fmt.Sprint(v)}, versioned); err != nil {
			t.Fatal(err)
		}
	}
	put("a.jpg", 10, false)
	put("a.jpg", 5, false) // older write arriving late loses
	put("b.jpg", 1, false)
	put("dir/c.jpg", 1, false)
	e, err := idx.GetObject(ctx, "photos", "a.jpg")
	if err != nil || e.Version != 10 || e.ModIndex == 0 {
		t.Fatalf("get a.jpg = %+v, %v", e, err)
	}
	list, more, err := idx.ListObjects(ctx, "photos", "", "", 2)
	if err != nil || len(list) != 2 || !more || list[0].Key != "a.jpg" || list[1].Key != "b.jpg" {
		t.Fatalf("list = %+v %v %v", list, more, err)
	}
	list, more, err = idx.ListObjects(ctx, "photos", "", "b.jpg", 10)
	if err != nil || len(list) != 1 || more || list[0].Key != "dir/c.jpg" {
		t.Fatalf("list after b.jpg = %+v %v %v", list, more, err)
	}
	if err := idx.DeleteObject(ctx, "photos", "a.jpg", 9, false); err != nil {
		t.Fatal(err)
	}
	if _, err := idx.GetObject(ctx, "photos", "a.jpg"); err != nil {
		t.Fatalf("delete older than the current version removed it: %v", err)
	}
	if err := idx.DeleteObject(ctx, "photos", "a.jpg", 11, false); err != nil {
		t.Fatal(err)
	}
	if _, err := idx.GetObject(ctx, "photos", "a.jpg"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("deleted object: %v", err)
	}

	// Versioned bucket: every version kept, newest first, delete markers hide the object.
	put("v.txt", 1, true)
	put("v.txt", 3, true)
	put("v.txt", 2, true)
	if err := idx.DeleteObject(ctx, "photos", "v.txt", 4, true); err != nil {
		t.Fatal(err)
	}
	if _, err := idx.GetObject(ctx, "photos", "v.txt"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("object behind a delete marker: %v", err)
	}
	vers, _, err := idx.ListObjectVersions(ctx, "photos", "v.txt", "", 0)
	if err != nil || len(vers) != 4 {
		t.Fatalf("versions = %+v, %v", vers, err)
	}
	for i, want := range []uint64{4, 3, 2, 1} {
		if vers[i].Version != want {
			t.Fatalf("version %d = %d, want %d (newest first)", i, vers[i].Version, want)
		}
	}
	if !vers[0].DeleteMarker {
		t.Fatal("newest version is not the delete marker")
	}
	old, err := idx.GetObjectVersion(ctx, "photos", "v.txt", 2)
	if err != nil || old.ETag != "2" {
		t.Fatalf("get version 2 = %+v, %v", old, err)
	}
}

func TestMultipartUpload(t *testing.T) {
	cl, ctx := setup(t)
	idx := cl.Index("b")
	u := client.Upload{Bucket: "b", Key: "big", UploadID: "up1", Initiated: time.Now()}
	if err := idx.CreateUpload(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := idx.CreateUpload(ctx, u); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("duplicate upload id: %v", err)
	}
	for n := 3; n >= 1; n-- {
		if err := idx.PutPart(ctx, "b", client.Part{UploadID: "up1", Number: n, Size: 5 << 20, ETag: fmt.Sprint(n), Version: 1}); err != nil {
			t.Fatal(err)
		}
	}
	parts, err := idx.ListParts(ctx, "b", "up1")
	if err != nil || len(parts) != 3 || parts[0].Number != 1 || parts[2].Number != 3 {
		t.Fatalf("parts = %+v, %v", parts, err)
	}
	if err := idx.CompleteUpload(ctx, u, client.ObjectEntry{Bucket: "b", Key: "big", Version: 2, Size: 15 << 20, ETag: "x-3"}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := idx.Upload(ctx, "b", "big", "up1"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("upload after complete: %v", err)
	}
	if parts, _ := idx.ListParts(ctx, "b", "up1"); len(parts) != 0 {
		t.Fatalf("parts after complete: %v", parts)
	}
	if e, err := idx.GetObject(ctx, "b", "big"); err != nil || e.ETag != "x-3" {
		t.Fatalf("completed object = %+v, %v", e, err)
	}
}

func TestCatalogRecords(t *testing.T) {
	cl, ctx := setup(t)
	if err := cl.PutClusterConfig(ctx, client.ClusterConfig{HashSecret: "ab12", Policies: []client.StoragePolicy{{Name: "gold", Replicas: 3, Default: true}}}); err != nil {
		t.Fatal(err)
	}
	if cc, err := cl.ClusterConfig(ctx); err != nil || cc.Policies[0].Name != "gold" {
		t.Fatalf("config = %+v, %v", cc, err)
	}
	if err := cl.CreateAccount(ctx, client.Account{ID: "acct1", Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	key := client.AccessKey{ID: "AKID1", Account: "acct1", Secret: "very-secret-value"}
	if err := cl.CreateAccessKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	got, err := cl.AccessKey(ctx, "AKID1")
	if err != nil || got.Secret != key.Secret {
		t.Fatalf("access key = %v, %v", got, err)
	}
	if s := fmt.Sprint(got); strings.Contains(s, key.Secret) {
		t.Fatalf("AccessKey prints its secret: %s", s)
	}
	if err := cl.CreateBucket(ctx, client.Bucket{Name: "b1", Owner: "acct1"}); err != nil {
		t.Fatal(err)
	}
	if err := cl.CreateBucket(ctx, client.Bucket{Name: "b1", Owner: "acct2"}); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("second create: %v", err)
	}
	b, mod, err := cl.Bucket(ctx, "b1")
	if err != nil {
		t.Fatal(err)
	}
	b.Versioning = client.VersioningEnabled
	if err := cl.UpdateBucket(ctx, b, mod); err != nil {
		t.Fatal(err)
	}
	if err := cl.UpdateBucket(ctx, b, mod); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("stale update: %v", err)
	}
	if err := cl.Index("b1").PutObject(ctx, client.ObjectEntry{Bucket: "b1", Key: "k", Version: 1}, false); err != nil {
		t.Fatal(err)
	}
	if err := cl.DeleteBucket(ctx, "b1"); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("delete non-empty bucket: %v", err)
	}
	if err := cl.PutNode(ctx, client.Node{ID: "n1", Addr: "10.0.0.1:6000", Devices: []client.Device{{ID: "d1", CapacityBytes: 1 << 40}}}); err != nil {
		t.Fatal(err)
	}
	if nodes, err := cl.Nodes(ctx); err != nil || len(nodes) != 1 || nodes[0].HeartbeatAt.IsZero() {
		t.Fatalf("nodes = %+v, %v", nodes, err)
	}
}

func TestRingPublishAndWait(t *testing.T) {
	cl, ctx := setup(t)
	if err := cl.PublishRing(ctx, client.RingVersion{Policy: "gold", Version: 1, Data: []byte("ring-v1")}); err != nil {
		t.Fatal(err)
	}
	r, idx, err := cl.Ring(ctx, "gold")
	if err != nil || r.Version != 1 {
		t.Fatalf("ring = %+v, %v", r, err)
	}
	got := make(chan client.RingVersion, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r, _, err := cl.WaitRing(ctx, "gold", idx, 30*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- r
	}()
	if err := cl.PublishRing(ctx, client.RingVersion{Policy: "gold", Version: 2, Data: []byte("ring-v2")}); err != nil {
		t.Fatal(err)
	}
	if r := <-got; r.Version != 2 || string(r.Data) != "ring-v2" {
		t.Fatalf("waited ring = %+v", r)
	}
	wg.Wait()
	if err := cl.PublishRing(ctx, client.RingVersion{Policy: "gold", Version: 2, Data: []byte("again")}); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("republishing version 2: %v", err)
	}
}

func TestConcurrentWritesCombine(t *testing.T) {
	cl, ctx := setup(t)
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Some callers give up at once; the others must still succeed.
			cctx := ctx
			if i%10 == 0 {
				var cancel context.CancelFunc
				cctx, cancel = context.WithCancel(ctx)
				cancel()
			}
			err := cl.Put(cctx, client.TableNodes, fmt.Sprintf("n%03d", i), []byte("x"))
			if i%10 != 0 && err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	items, _, err := cl.List(ctx, client.TableNodes, "", "", 0)
	if err != nil || len(items) < 180 {
		t.Fatalf("stored %d of at least 180 keys: %v", len(items), err)
	}
}

func TestConfigValidate(t *testing.T) {
	if _, err := client.New(client.Config{}); err == nil {
		t.Fatal("empty config accepted")
	}
}
