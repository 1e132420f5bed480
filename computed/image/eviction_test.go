package image

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"
)

// TestEvictionLRUKeepsImagesInUse fills a bounded cache on disk and checks that a download
// past the bound removes the least recently used images not in use, that an image handed
// out again is recent, that images in use stay even when the cache must then go over its
// bound, and that nothing goes when the images in use cannot be known or were just handed out.
func TestEvictionLRUKeepsImagesInUse(t *testing.T) {
	img := func(c byte, n int) []byte { return bytes.Repeat([]byte{c}, n) }
	data := map[string][]byte{"a": img('a', 1000), "b": img('b', 1000), "c": img('c', 1000), "d": img('d', 1000),
		"e": img('e', 1000), "f": img('f', 2000), "g": img('g', 1000)}
	b := &blobs{data: data}
	inUse := map[string]bool{}
	var inUseErr error
	dir := t.TempDir()
	c, err := NewCache(Config{Dir: dir, Fetch: b.fetch, FetchTimeout: 10 * time.Second, MaxBytes: 3000, MinIdle: time.Nanosecond,
		InUse: func() (map[string]bool, error) { return inUse, inUseErr }})
	if err != nil {
		t.Fatal(err)
	}
	get := func(key string, sized bool) {
		t.Helper()
		ref := Ref{Key: key, SHA256: digestOf(data[key])}
		if sized {
			ref.SizeBytes = int64(len(data[key]))
		}
		if _, err := c.Get(ctxT(t), ref); err != nil {
			t.Fatal(err)
		}
	}
	cachedNow := func() map[string]bool {
		t.Helper()
		out := map[string]bool{}
		for k, v := range data {
			if _, err := os.Stat(c.Path(digestOf(v))); err == nil {
				out[k] = true
			}
		}
		return out
	}
	want := func(keys ...string) {
		t.Helper()
		got := cachedNow()
		if len(got) != len(keys) {
			t.Fatalf("cached %v, want %v", got, keys)
		}
		for _, k := range keys {
			if !got[k] {
				t.Fatalf("cached %v, want %v", got, keys)
			}
		}
	}
	age := func(key string, ago time.Duration) {
		t.Helper()
		at := time.Now().Add(-ago)
		if err := os.Chtimes(c.Path(digestOf(data[key])), at, at); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"a", "b", "c"} {
		get(k, false)
	}
	age("a", 3*time.Hour)
	age("b", 2*time.Hour)
	age("c", time.Hour)
	want("a", "b", "c")

	// a is the oldest but in use: b goes.
	inUse[digestOf(data["a"])] = true
	get("d", false)
	want("a", "c", "d")
	if s, err := c.Stats(); err != nil || s.Bytes != 3000 || s.Images != 3 || s.Evictions != 1 || s.EvictedBytes != 1000 {
		t.Fatalf("stats %+v, %v", s, err)
	}
	// c handed out again is now the most recent: d goes, before the download (size known).
	age("d", 30*time.Minute)
	get("c", false)
	get("e", true)
	want("a", "c", "e")

	// Everything in use: f is kept and the cache goes over its bound.
	inUse[digestOf(data["c"])], inUse[digestOf(data["e"])] = true, true
	get("f", false)
	want("a", "c", "e", "f")
	if s, _ := c.Stats(); s.Bytes != 5000 || s.Evictions != 2 {
		t.Fatalf("over the bound: stats %+v", s)
	}
	// The images in use unknown: nothing goes.
	inUse, inUseErr = map[string]bool{}, errors.New("instances unreadable")
	get("g", false)
	want("a", "c", "e", "f", "g")
	// Known again and none in use, but only a was not handed out within MinIdle: a alone
	// goes, though the cache stays over its bound.
	c2, err := NewCache(Config{Dir: dir, Fetch: b.fetch, MaxBytes: 1000, MinIdle: time.Hour,
		InUse: func() (map[string]bool, error) { return map[string]bool{}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if got := c2.makeRoom(1000, ""); len(got) != 1 || got[0] != digestOf(data["a"]) {
		t.Fatalf("evicted %v, want a alone (the others were handed out within MinIdle)", got)
	}
	want("c", "e", "f", "g")
	// Without a bound nothing is ever evicted.
	c3, _ := NewCache(Config{Dir: dir, Fetch: b.fetch, MinIdle: time.Nanosecond})
	if got := c3.makeRoom(1<<40, ""); len(got) != 0 {
		t.Fatalf("unbounded cache evicted %v", got)
	}
}
