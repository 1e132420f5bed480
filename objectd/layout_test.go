package objectd

import (
	"path/filepath"
	"testing"

	"stratus/objectd/client"
)

func TestLayoutPaths(t *testing.T) {
	h := nameHash("photos/cat.jpg")
	if len(h) != hashLen || !validHash(h) || suffixOf(h) != h[29:] {
		t.Fatalf("nameHash = %q", h)
	}
	got := hashDir("/srv/node/sdb1", 17, h)
	want := filepath.Join("/srv/node/sdb1/objects/17", h[29:], h)
	if got != want {
		t.Fatalf("hashDir = %q, want %q", got, want)
	}
	// Hostile names only ever become a hash: nothing of the name reaches the path.
	for _, name := range []string{"../../../etc/passwd", "a/../../b", "/abs", "x\x00y"} {
		if d := hashDir("/dev1", 0, nameHash(name)); filepath.Dir(filepath.Dir(d)) != "/dev1/objects/0" {
			t.Errorf("name %q escaped: %s", name, d)
		}
	}
}

func TestFileNames(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
		v    version
	}{
		{"0000018c2d1e0a00.data", true, version{0x18c2d1e0a00, client.KindData}},
		{"0000018c2d1e0a00.ts", true, version{0x18c2d1e0a00, client.KindTombstone}},
		{"0000018c2d1e0a00.meta", false, version{}},
		{"18c2d1e0a00.data", false, version{}},
		{"0000018C2D1E0A00.data", false, version{}},
		{"hashes.json", false, version{}},
	}
	for _, tc := range cases {
		v, ok := parseFileName(tc.name)
		if ok != tc.ok || ok && v != tc.v {
			t.Errorf("parseFileName(%q) = %+v, %v; want %+v, %v", tc.name, v, ok, tc.v, tc.ok)
		}
		if ok && v.file() != tc.name {
			t.Errorf("file() = %q, want %q", v.file(), tc.name)
		}
	}
}

func TestSortVersionsNewestFirstTombstoneWinsTie(t *testing.T) {
	vs := []version{{1, client.KindData}, {3, client.KindData}, {3, client.KindTombstone}, {2, client.KindTombstone}}
	sortVersions(vs)
	want := []version{{3, client.KindTombstone}, {3, client.KindData}, {2, client.KindTombstone}, {1, client.KindData}}
	for i := range want {
		if vs[i] != want[i] {
			t.Fatalf("sorted = %v, want %v", vs, want)
		}
	}
}
