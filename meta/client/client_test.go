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
	cl, _ := setup(t)
	metatest.TestIndex(t, cl.Index)
}

func TestDelimitedListing(t *testing.T) {
	cl, _ := setup(t)
	metatest.TestDelimitedListing(t, cl.Index)
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
	if err != nil || got.Secret != "" || got.Account != key.Account {
		t.Fatalf("access key = %v, %v (want it without its secret)", got, err)
	}
	got, err = cl.AccessKeySecret(ctx, "AKID1")
	if err != nil || got.Secret != key.Secret {
		t.Fatalf("access key secret = %v, %v", got, err)
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

func TestLargeRing(t *testing.T) {
	cl, ctx := setup(t)
	data := make([]byte, 4<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := cl.PublishRing(ctx, client.RingVersion{Policy: "gold", Version: 1, Data: data}); err != nil {
		t.Fatal(err)
	}
	r, _, err := cl.Ring(ctx, "gold")
	if err != nil || len(r.Data) != len(data) || r.Data[12345] != data[12345] {
		t.Fatalf("ring of %d bytes read back as %d bytes: %v", len(data), len(r.Data), err)
	}
}
