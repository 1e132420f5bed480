package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// blobs is a fetch source; it counts fetches and can hold them until released.
type blobs struct {
	data    map[string][]byte
	fetches atomic.Int64
	hold    chan struct{}
}

func (b *blobs) fetch(ctx context.Context, key string, w io.Writer) error {
	b.fetches.Add(1)
	if b.hold != nil {
		select {
		case <-b.hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	d, ok := b.data[key]
	if !ok {
		return errors.New("no such key")
	}
	_, err := w.Write(d)
	return err
}

func newCache(t *testing.T, b *blobs) *Cache {
	t.Helper()
	c, err := NewCache(Config{Dir: t.TempDir(), Fetch: b.fetch, FetchTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestCacheFetchesOnceAndShares(t *testing.T) {
	img := bytes.Repeat([]byte("disk"), 1<<16)
	b := &blobs{data: map[string][]byte{"emi/root.img": img}, hold: make(chan struct{})}
	c := newCache(t, b)
	ref := Ref{Key: "emi/root.img", SHA256: digestOf(img)}

	var wg sync.WaitGroup
	paths := make([]string, 8)
	errs := make([]error, 8)
	for i := range paths {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			paths[i], errs[i] = c.Get(ctxT(t), ref)
		}(i)
	}
	// Every caller is waiting on the one download before it is let go.
	deadline := time.Now().Add(5 * time.Second)
	for b.fetches.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(b.hold)
	wg.Wait()
	for i := range paths {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if paths[i] != c.Path(ref.SHA256) {
			t.Fatalf("path %s, want %s", paths[i], c.Path(ref.SHA256))
		}
	}
	if n := b.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for 8 concurrent Gets, want 1", n)
	}
	got, err := os.ReadFile(paths[0])
	if err != nil || !bytes.Equal(got, img) {
		t.Fatalf("cached bytes differ (%v)", err)
	}
	// Cached now: no fetch.
	if _, err := c.Get(ctxT(t), ref); err != nil {
		t.Fatal(err)
	}
	if n := b.fetches.Load(); n != 1 {
		t.Fatalf("cached image fetched again (%d fetches)", n)
	}
	if err := c.Verify(ref.SHA256); err != nil {
		t.Fatal(err)
	}
}

func TestCacheRejectsWrongBytes(t *testing.T) {
	b := &blobs{data: map[string][]byte{"k": []byte("tampered")}}
	c := newCache(t, b)
	want := digestOf([]byte("original"))
	_, err := c.Get(ctxT(t), Ref{Key: "k", SHA256: want})
	if !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("got %v, want ErrDigestMismatch", err)
	}
	entries, _ := os.ReadDir(c.cfg.Dir)
	if len(entries) != 0 {
		t.Fatalf("a rejected download left %v", entries)
	}
	if _, err := c.Get(ctxT(t), Ref{Key: "k", SHA256: "ABC"}); !errors.Is(err, ErrBadDigest) {
		t.Fatalf("bad digest: got %v", err)
	}
}

func TestCacheVerifyRemovesRot(t *testing.T) {
	img := []byte("kernel bytes")
	c := newCache(t, &blobs{data: map[string][]byte{"eki": img}})
	ref := Ref{Key: "eki", SHA256: digestOf(img)}
	path, err := c.Get(ctxT(t), ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("kernel bytez"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(ref.SHA256); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("got %v, want ErrDigestMismatch", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("rotten image kept: %v", err)
	}
}

func TestCacheCallerGivingUpDoesNotCancelSharedDownload(t *testing.T) {
	img := []byte("shared")
	b := &blobs{data: map[string][]byte{"k": img}, hold: make(chan struct{})}
	c := newCache(t, b)
	ref := Ref{Key: "k", SHA256: digestOf(img)}
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Get(short, ref); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	close(b.hold)
	if _, err := c.Get(ctxT(t), ref); err != nil {
		t.Fatal(err)
	}
	if n := b.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want the first download to have carried on", n)
	}
}
