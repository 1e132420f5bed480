package objectd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"stratus/internal/hlc"
	"stratus/objectd/client"
)

func TestPutGetHeadRangeDelete(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, nil)
	tg := n.target("d1", 5)
	body := payload(3*bufSize+17, 1) // several buffers, to exercise the held-back tail
	sum := client.ChecksumOf(body)
	err := n.cl.Put(ctxT(t), tg, client.PutRequest{Name: "a/b", Timestamp: ts(1), Length: int64(len(body)),
		Checksum: &sum, ContentType: "image/png", Meta: map[string]string{"color": "blue"}}, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	info, got, err := get(t, n, tg, "a/b")
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("get: %d bytes, %v", len(got), err)
	}
	if info.Timestamp != ts(1) || info.Checksum != sum || info.ContentType != "image/png" || info.Meta["color"] != "blue" {
		t.Fatalf("info = %+v", info)
	}
	hi, err := n.cl.Head(ctxT(t), tg, "a/b")
	if err != nil || hi.Length != int64(len(body)) || hi.Timestamp != ts(1) {
		t.Fatalf("head = %+v, %v", hi, err)
	}
	for _, rng := range []client.Range{{Offset: 0, Length: 1}, {Offset: 100, Length: 1000}, {Offset: int64(len(body)) - 5, Length: -1}} {
		o, err := n.cl.Get(ctxT(t), tg, "a/b", &rng)
		if err != nil {
			t.Fatal(err)
		}
		part, err := io.ReadAll(o.Body)
		o.Body.Close()
		end := rng.Offset + rng.Length
		if rng.Length < 0 {
			end = int64(len(body))
		}
		if err != nil || !bytes.Equal(part, body[rng.Offset:end]) || o.Range.Offset != rng.Offset {
			t.Fatalf("range %+v: %d bytes, %+v, %v", rng, len(part), o.Range, err)
		}
	}
	if _, err := n.cl.Get(ctxT(t), tg, "a/b", &client.Range{Offset: int64(len(body)), Length: 1}); !errors.Is(err, client.ErrRange) {
		t.Fatalf("range past end: %v", err)
	}
	if err := n.cl.Delete(ctxT(t), tg, "a/b", ts(2)); err != nil {
		t.Fatal(err)
	}
	_, _, err = get(t, n, tg, "a/b")
	var se *client.StatusError
	if !errors.Is(err, client.ErrNotFound) || !errors.As(err, &se) || se.Timestamp != ts(2) {
		t.Fatalf("get after delete: %v", err)
	}
	if fs := n.objectFiles(t, "d1", 5, "a/b"); !slices.Equal(fs, []string{ts(2).String() + ".ts"}) {
		t.Fatalf("files after delete = %v", fs)
	}
	// Empty objects work too.
	mustPut(t, n, tg, "empty", ts(3), nil)
	if _, b, err := get(t, n, tg, "empty"); err != nil || len(b) != 0 {
		t.Fatalf("empty: %v %d", err, len(b))
	}
}

func TestTimestampOrdering(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, nil)
	tg := n.target("d1", 0)
	mustPut(t, n, tg, "k", ts(10), []byte("v10"))
	cases := []struct {
		name string
		op   func() error
		want error
		held hlc.Timestamp
	}{
		{"older put refused", func() error { return put(t, n, tg, "k", ts(9), []byte("v9")) }, client.ErrConflict, ts(10)},
		{"equal put refused", func() error { return put(t, n, tg, "k", ts(10), []byte("x")) }, client.ErrConflict, ts(10)},
		{"older delete refused", func() error { return n.cl.Delete(ctxT(t), tg, "k", ts(5)) }, client.ErrConflict, ts(10)},
		{"newer put wins", func() error { return put(t, n, tg, "k", ts(11), []byte("v11")) }, nil, 0},
		{"newer delete wins", func() error { return n.cl.Delete(ctxT(t), tg, "k", ts(12)) }, nil, 0},
		{"put older than tombstone refused", func() error { return put(t, n, tg, "k", ts(11)+0, []byte("x")) }, client.ErrConflict, ts(12)},
		{"put after delete", func() error { return put(t, n, tg, "k", ts(13), []byte("v13")) }, nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.op()
			if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var se *client.StatusError
			if tc.held != 0 && (!errors.As(err, &se) || se.Timestamp != tc.held) {
				t.Fatalf("held timestamp: %v, want %v", err, tc.held)
			}
		})
	}
	if _, b, err := get(t, n, tg, "k"); err != nil || string(b) != "v13" {
		t.Fatalf("final = %q, %v", b, err)
	}
	if fs := n.objectFiles(t, "d1", 0, "k"); len(fs) != 1 {
		t.Fatalf("old versions not removed: %v", fs)
	}
}

// TestConcurrentPutDeleteRace has many writers race PUTs and DELETEs of one name with shuffled
// timestamps: whatever the interleaving, the newest timestamp wins and one file remains.
func TestConcurrentPutDeleteRace(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, nil)
	tg := n.target("d1", 3)
	const writers = 41
	order := rand.Perm(writers)
	var wg sync.WaitGroup
	for _, i := range order {
		wg.Go(func() {
			var err error
			if i%3 == 0 {
				err = n.cl.Delete(ctxT(t), tg, "race", ts(100+i))
			} else {
				err = put(t, n, tg, "race", ts(100+i), fmt.Appendf(nil, "v%d", i))
			}
			if err != nil && !errors.Is(err, client.ErrConflict) {
				t.Errorf("writer %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	newest := writers - 1 // 40: not a multiple of 3, so a PUT
	if _, b, err := get(t, n, tg, "race"); err != nil || string(b) != fmt.Sprintf("v%d", newest) {
		t.Fatalf("winner = %q, %v; want v%d", b, err, newest)
	}
	if fs := n.objectFiles(t, "d1", 3, "race"); !slices.Equal(fs, []string{ts(100+newest).String() + ".data"}) {
		t.Fatalf("files = %v", fs)
	}
	if fs := files(t, filepath.Join(n.dir, "d1", tmpDir)); len(fs) != 0 {
		t.Fatalf("temp files left: %v", fs)
	}
}

func TestQuarantineOnRead(t *testing.T) {
	cases := []struct {
		name   string
		size   int
		offset func(hdrLen int64) int64 // byte to flip
	}{
		{"small content", 1000, func(h int64) int64 { return h + 10 }},
		{"header", 1000, func(h int64) int64 { return 20 }},
		{"large content tail", 2*bufSize + 5, func(h int64) int64 { return h + 2*bufSize + 1 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := startNode(t, nil, []string{"d1"}, nil)
			tg := n.target("d1", 9)
			mustPut(t, n, tg, "obj", ts(1), payload(tc.size, 2))
			n.corruptVersion(t, "d1", 9, "obj", ts(1), tc.offset)
			_, _, err := get(t, n, tg, "obj")
			if err == nil {
				t.Fatal("corrupt object served without error")
			}
			if tc.size < bufSize && !errors.Is(err, client.ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			if fs := n.objectFiles(t, "d1", 9, "obj"); len(fs) != 0 {
				t.Fatalf("corrupt version still in place: %v", fs)
			}
			q := filepath.Join(n.dir, "d1", quarantineDir, objectsDir, nameHash("obj"), ts(1).String()+".data")
			if _, err := os.Stat(q); err != nil {
				t.Fatalf("not quarantined: %v", err)
			}
			if _, _, err := get(t, n, tg, "obj"); !errors.Is(err, client.ErrNotFound) {
				t.Fatalf("after quarantine: %v", err)
			}
		})
	}
}

// corrupt flips one byte of a file; at picks the offset from the header length.
func corrupt(t testing.TB, path string, at func(hdrLen int64) int64) { corruptRecordAt(t, path, 0, at) }

// corruptRecordAt flips one byte of the record at base in a file.
func corruptRecordAt(t testing.TB, path string, base int64, at func(hdrLen int64) int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rec, err := client.ReadRecord(io.NewSectionReader(f, base, 1<<40))
	if err != nil {
		t.Fatal(err)
	}
	off := base + at(rec.HeaderLen)
	b := make([]byte, 1)
	f.ReadAt(b, off)
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestTombstoneReclaim(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	n := startNode(t, nil, []string{"d1"}, func(c *Config) {
		c.ReclaimAge = 24 * time.Hour
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	tg := n.target("d1", 1)
	at := hlc.FromTime(now)
	mustPut(t, n, tg, "old", at, []byte("x"))
	if err := n.cl.Delete(ctxT(t), tg, "old", at+1); err != nil {
		t.Fatal(err)
	}
	mustPut(t, n, tg, "live", at, []byte("y"))
	h1, err := n.cl.SuffixHashes(ctxT(t), tg)
	if err != nil {
		t.Fatal(err)
	}
	if fs := n.objectFiles(t, "d1", 1, "old"); len(fs) != 1 {
		t.Fatalf("tombstone reclaimed too early: %v", fs)
	}
	mu.Lock()
	now = now.Add(25 * time.Hour)
	mu.Unlock()
	// A full rehash (as after a restart) reclaims; so does a rehash of a written suffix.
	n.srv.store.hashes.forget("d1", 1)
	h2, err := n.cl.SuffixHashes(ctxT(t), tg)
	if err != nil {
		t.Fatal(err)
	}
	if fs := n.objectFiles(t, "d1", 1, "old"); len(fs) != 0 {
		t.Fatalf("tombstone not reclaimed: %v", fs)
	}
	if _, err := os.Stat(hashDir(filepath.Join(n.dir, "d1"), 1, nameHash("old"))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("hash directory left behind: %v", err)
	}
	if _, b, err := get(t, n, tg, "live"); err != nil || string(b) != "y" {
		t.Fatalf("live object harmed: %q %v", b, err)
	}
	if sfx := suffixOf(nameHash("old")); sfx != suffixOf(nameHash("live")) && h2[sfx] != "" {
		t.Fatalf("suffix of reclaimed tombstone still hashed: %v (before %v)", h2[sfx], h1[sfx])
	}
}

func TestSuffixHashesInvalidatedOnWrite(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, nil)
	tg := n.target("d1", 2)
	mustPut(t, n, tg, "a", ts(1), []byte("1"))
	h1, err := n.cl.SuffixHashes(ctxT(t), tg)
	if err != nil || len(h1) != 1 {
		t.Fatalf("hashes = %v, %v", h1, err)
	}
	again, _ := n.cl.SuffixHashes(ctxT(t), tg)
	if !equalMaps(h1, again) {
		t.Fatalf("hashes changed without writes: %v vs %v", h1, again)
	}
	mustPut(t, n, tg, "a", ts(2), []byte("2"))
	h2, _ := n.cl.SuffixHashes(ctxT(t), tg)
	sfx := suffixOf(nameHash("a"))
	if h2[sfx] == h1[sfx] {
		t.Fatal("suffix hash not invalidated by a write")
	}
	// A fresh node with the same versions computes the same hashes.
	m := startNode(t, nil, []string{"d1"}, nil)
	mustPut(t, m, m.target("d1", 2), "a", ts(2), []byte("2"))
	h3, _ := m.cl.SuffixHashes(ctxT(t), m.target("d1", 2))
	if !equalMaps(h2, h3) {
		t.Fatalf("same versions, different hashes: %v vs %v", h2, h3)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestDeviceChecks(t *testing.T) {
	// d1 has its marker but is a plain directory, not a mount point; d2 poses as a mounted
	// disk, so the node starts.
	n := startNode(t, nil, []string{"d1", "d2"}, func(c *Config) {
		c.MountCheck = true
		c.IsMountPoint = func(dir string) (bool, error) { return filepath.Base(dir) == "d2", nil }
	})
	if err := put(t, n, n.target("d1", 0), "x", ts(1), []byte("x")); !errors.Is(err, client.ErrDeviceUnavailable) {
		t.Fatalf("plain directory with mount check: %v, want ErrDeviceUnavailable", err)
	}
	mustPut(t, n, n.target("d2", 0), "x", ts(1), []byte("x"))
	m := startNode(t, nil, []string{"d1"}, nil)
	if err := os.Mkdir(filepath.Join(m.dir, "unmounted"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, dev := range []string{"unmounted", "missing", "..", "."} {
		if err := put(t, m, m.target(dev, 0), "x", ts(1), []byte("x")); !errors.Is(err, client.ErrDeviceUnavailable) && !errors.Is(err, client.ErrInvalid) {
			t.Errorf("device %q: %v, want ErrDeviceUnavailable", dev, err)
		}
	}
	if fs := files(t, filepath.Join(m.dir, "unmounted")); len(fs) != 0 {
		t.Fatalf("wrote into an unmarked directory: %v", fs)
	}
}

func TestGetVersion(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, nil)
	tg := n.target("d1", 3)
	read := func(v hlc.Timestamp) (hlc.Timestamp, string, error) {
		o, err := n.cl.GetVersion(ctxT(t), tg, "k", v, nil)
		if err != nil {
			return 0, "", err
		}
		defer o.Body.Close()
		b, err := io.ReadAll(o.Body)
		return o.Timestamp, string(b), err
	}
	mustPut(t, n, tg, "k", ts(5), []byte("five"))
	for _, want := range []hlc.Timestamp{ts(5), ts(4), 0} { // held, not held (older), any
		if got, body, err := read(want); err != nil || got != ts(5) || body != "five" {
			t.Fatalf("GetVersion(%v) = %v %q %v, want the version held", want, got, body, err)
		}
	}
	mustPut(t, n, tg, "k", ts(7), []byte("seven"))
	if got, body, err := read(ts(5)); err != nil || got != ts(7) || body != "seven" {
		t.Fatalf("GetVersion of a replaced version = %v %q %v, want the newest", got, body, err)
	}
	if err := n.cl.Delete(ctxT(t), tg, "k", ts(9)); err != nil {
		t.Fatal(err)
	}
	var se *client.StatusError
	if _, _, err := read(ts(7)); !errors.Is(err, client.ErrNotFound) || !errors.As(err, &se) || se.Timestamp != ts(9) {
		t.Fatalf("GetVersion after delete = %v, want not found at %v", err, ts(9))
	}
	// A version file whose header is damaged is quarantined, not served.
	mustPut(t, n, tg, "k", ts(11), []byte("eleven"))
	n.corruptVersion(t, "d1", 3, "k", ts(11), func(int64) int64 { return 20 })
	if _, _, err := read(ts(11)); !errors.Is(err, client.ErrCorrupt) {
		t.Fatalf("GetVersion of a damaged file = %v, want ErrCorrupt", err)
	}
}
