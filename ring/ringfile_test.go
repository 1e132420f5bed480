package ring

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func smallRing(t testing.TB) (*Builder, *Ring) {
	t.Helper()
	b := newTestBuilder(t, 6, 3, 1)
	addTopology(t, b, topology{1, 3, 2, 2, 100}, 0)
	mustRebalance(t, b, 1, t0)
	r, err := b.Ring()
	if err != nil {
		t.Fatal(err)
	}
	return b, r
}

func TestRingFileRoundTrip(t *testing.T) {
	_, r := smallRing(t)
	path := filepath.Join(t.TempDir(), "object.ring")
	if err := r.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version() != r.Version() || got.HashKey() != r.HashKey() || got.Replicas() != 3 {
		t.Fatalf("header differs after round trip")
	}
	for _, name := range []string{"a/b", "photos/cat.jpg", ""} {
		p := r.Partition(name)
		if gp := got.Partition(name); gp != p {
			t.Fatalf("%q: partition %d, was %d", name, gp, p)
		}
		a, b := r.Primaries(p, nil), got.Primaries(p, nil)
		for i := range a {
			if *a[i] != *b[i] {
				t.Fatalf("%q: primary %d is %v, was %v", name, i, b[i], a[i])
			}
		}
	}
}

func TestBuilderFileRoundTrip(t *testing.T) {
	b, _ := smallRing(t)
	b.Remove(0)
	data, _ := b.MarshalBinary()
	got, err := DecodeBuilder(data)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := got.MarshalBinary()
	if !bytes.Equal(data, again) {
		t.Fatal("builder changed in a round trip")
	}
	if !got.NeedsRebalance() || len(got.Devices()) != len(b.Devices()) {
		t.Fatal("pending removal lost in a round trip")
	}
}

// TestRingFileDamage: every truncation and every flipped byte is refused with a clear
// error; none decodes into a ring.
func TestRingFileDamage(t *testing.T) {
	_, r := smallRing(t)
	data, _ := r.MarshalBinary()
	for n := range len(data) {
		if _, err := Decode(data[:n]); !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFormat) {
			t.Fatalf("truncated to %d bytes: err = %v", n, err)
		}
	}
	for i := 0; i < len(data); i += 7 {
		bad := bytes.Clone(data)
		bad[i] ^= 0x40
		if _, err := Decode(bad); err == nil {
			t.Fatalf("byte %d flipped: decoded without error", i)
		}
	}
	if _, err := Decode(append(bytes.Clone(data), 0)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing byte: err = %v", err)
	}
	bdata, _ := newTestBuilder(t, 4, 1, 0).MarshalBinary()
	if _, err := Decode(bdata); !errors.Is(err, ErrFormat) {
		t.Fatalf("builder file read as a ring: err = %v", err)
	}
}

// TestSaveIsAtomic: a failed save leaves the old file whole and no temporary behind.
func TestSaveIsAtomic(t *testing.T) {
	_, r := smallRing(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "object.ring")
	if err := r.Save(path); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	if os.Getuid() != 0 { // root ignores directory permissions
		if err := r.Save(path); err == nil {
			t.Fatal("save into a read-only directory succeeded")
		}
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("ring file changed by a failed save")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want just the ring", len(entries))
	}
}

func FuzzDecode(f *testing.F) {
	_, r := smallRing(f)
	data, _ := r.MarshalBinary()
	f.Add(data)
	f.Add(data[:40])
	b, _ := smallRing(f)
	bdata, _ := b.MarshalBinary()
	f.Add(bdata)
	f.Fuzz(func(t *testing.T, data []byte) {
		if r, err := Decode(data); err == nil {
			again, _ := r.MarshalBinary()
			if !bytes.Equal(again, data) {
				t.Fatal("ring does not round-trip")
			}
			for p := range min(r.PartitionCount(), 64) {
				r.Primaries(Partition(p), nil)
				for range r.Handoffs(Partition(p)) {
				}
			}
		}
		if b, err := DecodeBuilder(data); err == nil {
			b.Stats()
		}
	})
}

// TestSaveIsPrivate: ring and builder files hold the hash key, so both are written 0600,
// also when they replace a file of a wider mode, and Save creates no directories.
func TestSaveIsPrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits")
	}
	b, r := smallRing(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		save func(string) error
	}{
		{"object.ring", r.Save},
		{"object.builder", b.Save},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			if err := tc.save(path); err != nil {
				t.Fatal(err)
			}
			checkMode(t, path, 0o600)
			// A file an older build wrote world-readable is replaced by a private one.
			if err := os.Chmod(path, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := tc.save(path); err != nil {
				t.Fatal(err)
			}
			checkMode(t, path, 0o600)
		})
	}
	missing := filepath.Join(dir, "missing")
	if err := r.Save(filepath.Join(missing, "object.ring")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("save into a missing directory: err = %v, want not-exist", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("save created a directory: %v", err)
	}
}

func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Fatalf("%s: mode %#o, want %#o", filepath.Base(path), got, want)
	}
}
