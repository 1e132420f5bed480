package meta_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stratus/internal/testutil"
	"stratus/meta/client"
	"stratus/meta/metatest"
)

func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestSingleNodeReadWrite(t *testing.T) {
	c := metatest.New(t, metatest.Options{Nodes: 1})
	cl := c.Client()
	ctx := ctxT(t, 30*time.Second)

	if err := cl.Put(ctx, client.TableBuckets, "b1", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	it, err := cl.Get(ctx, client.TableBuckets, "b1")
	if err != nil || string(it.Value) != "v1" || it.ModIndex == 0 {
		t.Fatalf("get = %+v, %v", it, err)
	}
	if _, err := cl.Get(ctx, client.TableBuckets, "nope"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("get missing: %v, want ErrNotFound", err)
	}
	// Conditions.
	if _, err := cl.Apply(ctx, client.Op{Kind: client.OpPut, Table: client.TableBuckets, Key: "b1", Value: []byte("x"), Cond: client.CondAbsent}); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("create existing: %v, want ErrConflict", err)
	}
	if _, err := cl.Apply(ctx, client.Op{Kind: client.OpPut, Table: client.TableBuckets, Key: "b1", Value: []byte("v2"), Cond: client.CondModIndex, ModIndex: it.ModIndex}); err != nil {
		t.Fatalf("cas: %v", err)
	}
	if _, err := cl.Apply(ctx, client.Op{Kind: client.OpPut, Table: client.TableBuckets, Key: "b1", Value: []byte("v3"), Cond: client.CondModIndex, ModIndex: it.ModIndex}); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("stale cas: %v, want ErrConflict", err)
	}
	// Last writer wins by version.
	put := func(v uint64, val string) bool {
		t.Helper()
		resp, err := cl.Apply(ctx, client.Op{Kind: client.OpPut, Table: client.TableObjects, Key: "b1/k", Value: []byte(val), Cond: client.CondNewer, Version: v})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Results[0].Applied
	}
	if !put(10, "ten") || put(5, "five") || !put(11, "eleven") {
		t.Fatal("CondNewer applied the wrong writes")
	}
	it, _ = cl.Get(ctx, client.TableObjects, "b1/k")
	if string(it.Value) != "eleven" || it.Version != 11 {
		t.Fatalf("lww result %+v", it)
	}
	// Idempotency: the same request ID twice applies once.
	req := client.ApplyRequest{ID: "fixed-id", Ops: []client.Op{{Kind: client.OpPut, Table: client.TableBuckets, Key: "once", Value: []byte("1"), Cond: client.CondAbsent}}}
	r1, err := cl.ApplyRequest(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := cl.ApplyRequest(ctx, req)
	if err != nil || !r2.Duplicate || r2.Index != r1.Index {
		t.Fatalf("retry = %+v, %v; want duplicate of index %d", r2, err, r1.Index)
	}
	// List with paging.
	for _, k := range []string{"p/a", "p/b", "p/c", "q/a"} {
		if err := cl.Put(ctx, client.TableNodes, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	items, more, err := cl.List(ctx, client.TableNodes, "p/", "", 2)
	if err != nil || len(items) != 2 || !more || items[0].Key != "p/a" {
		t.Fatalf("list page 1 = %v %v %v", items, more, err)
	}
	items, more, err = cl.List(ctx, client.TableNodes, "p/", items[1].Key, 2, client.Stale())
	if err != nil || len(items) != 1 || more || items[0].Key != "p/c" {
		t.Fatalf("list page 2 = %v %v %v", items, more, err)
	}
	if err := cl.Delete(ctx, client.TableNodes, "p/a"); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Get(ctx, client.TableNodes, "p/a"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("deleted key: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	c := metatest.New(t, metatest.Options{Nodes: 1})
	cl := c.Client()
	ctx := ctxT(t, 30*time.Second)
	tests := []struct {
		name string
		op   client.Op
		want error
	}{
		{"unknown table", client.Op{Kind: client.OpPut, Table: "nope", Key: "k"}, client.ErrUnknownTable},
		{"internal table", client.Op{Kind: client.OpPut, Table: "_requests", Key: "k"}, client.ErrUnknownTable},
		{"oversized value", client.Op{Kind: client.OpPut, Table: client.TableObjects, Key: "k", Value: make([]byte, 64<<10+1)}, client.ErrValueTooLarge},
		{"oversized key", client.Op{Kind: client.OpPut, Table: client.TableObjects, Key: strings.Repeat("k", client.MaxKeyBytes+1)}, client.ErrKeyTooLarge},
		{"empty key", client.Op{Kind: client.OpPut, Table: client.TableObjects}, client.ErrBadRequest},
		{"bad kind", client.Op{Kind: 9, Table: client.TableObjects, Key: "k"}, client.ErrBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cl.Apply(ctx, tc.op)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := cl.Apply(ctx); !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("no ops: %v", err)
	}
	if _, err := cl.Get(ctx, "nope", "k"); !errors.Is(err, client.ErrUnknownTable) {
		t.Fatalf("get unknown table: %v", err)
	}
	if _, _, err := cl.List(ctx, "nope", "", "", 0); !errors.Is(err, client.ErrUnknownTable) {
		t.Fatalf("list unknown table: %v", err)
	}
	if err := cl.Remove(ctx, "ghost"); !errors.Is(err, client.ErrNotMember) {
		t.Fatalf("remove unknown server: %v", err)
	}
}

func TestNodeNotInCluster(t *testing.T) {
	c := metatest.StartUnjoined(t)
	cfg := client.DefaultConfig(c.Nodes[0].Addr)
	cfg.CallTimeout, cfg.RetryTimeout = time.Second, 2*time.Second
	cl, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := ctxT(t, 30*time.Second)
	if err := cl.Put(ctx, client.TableBuckets, "b", nil); !errors.Is(err, client.ErrNotMember) {
		t.Fatalf("write to unjoined node: %v, want ErrNotMember", err)
	}
	if _, err := cl.Get(ctx, client.TableBuckets, "b", client.Stale()); !errors.Is(err, client.ErrNotMember) {
		t.Fatalf("stale read from unjoined node: %v, want ErrNotMember", err)
	}
	if !strings.Contains(errString(cl.Put(ctx, client.TableBuckets, "b", nil)), "join") {
		t.Fatal("error does not say how to fix it")
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestWatch(t *testing.T) {
	c := metatest.New(t, metatest.Options{Nodes: 1})
	cl := c.Client()
	ctx := ctxT(t, 30*time.Second)
	if err := cl.Put(ctx, client.TableRings, "other", []byte("x")); err != nil {
		t.Fatal(err)
	}
	w, err := cl.Watch(ctx, client.TableRings, "policy/", 0, 0)
	if err != nil || len(w.Events) != 0 {
		t.Fatalf("initial watch = %+v, %v", w, err)
	}
	type result struct {
		w   client.WatchResponse
		err error
	}
	got := make(chan result, 1)
	go func() {
		w, err := cl.Watch(ctx, client.TableRings, "policy/", w.Index, 20*time.Second)
		got <- result{w, err}
	}()
	if err := cl.Put(ctx, client.TableRings, "policy/gold", []byte("ring")); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.err != nil || len(r.w.Events) != 1 || r.w.Events[0].Key != "policy/gold" {
		t.Fatalf("watch = %+v, %v", r.w, r.err)
	}
	// A timeout returns no events.
	w, err = cl.Watch(ctx, client.TableRings, "policy/", r.w.Index, 50*time.Millisecond)
	if err != nil || len(w.Events) != 0 || w.Index < r.w.Index {
		t.Fatalf("idle watch = %+v, %v", w, err)
	}
}

func TestSealedTable(t *testing.T) {
	c := metatest.New(t, metatest.Options{Nodes: 1})
	cl := c.Client()
	ctx := ctxT(t, 30*time.Second)
	secret := []byte("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	if err := cl.CreateAccessKey(ctx, client.AccessKey{ID: "AKIDEXAMPLE", Account: "a", Secret: string(secret)}); err != nil {
		t.Fatal(err)
	}
	// Generic reads return the record without its secret; only the secret call has it.
	it, err := cl.Get(ctx, client.TableAccessKeys, "AKIDEXAMPLE")
	if err != nil || bytes.Contains(it.Value, secret) || !bytes.Contains(it.Value, []byte(`"account":"a"`)) {
		t.Fatalf("get sealed = %q, %v", it.Value, err)
	}
	items, _, err := cl.List(ctx, client.TableAccessKeys, "", "", 0)
	if err != nil || len(items) != 1 || bytes.Contains(items[0].Value, secret) {
		t.Fatalf("list sealed = %v, %v", items, err)
	}
	if k, err := cl.AccessKeySecret(ctx, "AKIDEXAMPLE"); err != nil || k.Secret != string(secret) {
		t.Fatalf("secret call = %v, %v", k, err)
	}
	// Neither the log, the state machine nor a snapshot holds the plaintext.
	var backup bytes.Buffer
	if _, err := cl.Backup(ctx, &backup); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(backup.Bytes(), secret) {
		t.Fatal("backup holds the secret in plaintext")
	}
	err = filepath.WalkDir(c.Nodes[0].Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(data, secret) {
			t.Errorf("%s holds the secret in plaintext", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBackupRestore(t *testing.T) {
	c := metatest.New(t, metatest.Options{Nodes: 1, Quiet: true})
	cl := c.Client()
	ctx := ctxT(t, 60*time.Second)
	for i := 0; i < 50; i++ {
		if err := cl.Put(ctx, client.TableBuckets, fmt.Sprintf("b%02d", i), []byte("before")); err != nil {
			t.Fatal(err)
		}
	}
	var backup bytes.Buffer
	n, err := cl.Backup(ctx, &backup)
	if err != nil || n == 0 {
		t.Fatalf("backup = %d, %v", n, err)
	}
	if err := cl.Put(ctx, client.TableBuckets, "b00", []byte("after")); err != nil {
		t.Fatal(err)
	}
	if err := cl.Put(ctx, client.TableBuckets, "new", []byte("after")); err != nil {
		t.Fatal(err)
	}

	// Restore into a fresh cluster of three.
	c2 := metatest.New(t, metatest.Options{Quiet: true})
	cl2 := c2.Client()
	if err := cl2.Restore(ctx, bytes.NewReader(backup.Bytes()), int64(backup.Len())); err != nil {
		t.Fatal(err)
	}
	it, err := cl2.Get(ctx, client.TableBuckets, "b00")
	if err != nil || string(it.Value) != "before" {
		t.Fatalf("restored b00 = %q, %v", it.Value, err)
	}
	if _, err := cl2.Get(ctx, client.TableBuckets, "new"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("key written after the backup: %v", err)
	}
	// Followers get the restored state too.
	for i := range c2.Nodes {
		nc := c2.NodeClient(i)
		testutil.Eventually(t, 10*time.Second, func() error {
			_, err := nc.Get(ctx, client.TableBuckets, "b49", client.Stale())
			return err
		})
	}
	if err := cl2.Put(ctx, client.TableBuckets, "post-restore", nil); err != nil {
		t.Fatal(err)
	}
}
