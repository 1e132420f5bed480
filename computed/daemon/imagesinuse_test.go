package daemon

import (
	"os"
	"strings"
	"testing"

	"stratus/computed/driver"
)

// TestImagesInUse: what instances record at launch is what the cache's eviction must
// keep, and an instance directory without its record makes the answer unknown.
func TestImagesInUse(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Host, cfg.DomainType, cfg.VCPUs, cfg.MemoryMiB, cfg.DataDir = "h", driver.DomainQEMU, 1, 64, t.TempDir()
	d, err := New(cfg, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b, k := strings.Repeat("a", 64), strings.Repeat("b", 64), strings.Repeat("c", 64)
	for id, paths := range map[string][]string{"i-1": {d.cache.Path(a), "", ""}, "i-2": {"", d.cache.Path(k), d.cache.Path(b)}} {
		if err := os.MkdirAll(d.instanceDir(id), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := d.recordImagesInUse(id, paths...); err != nil {
			t.Fatal(err)
		}
	}
	got, err := d.imagesInUse()
	if err != nil || len(got) != 3 || !got[a] || !got[b] || !got[k] {
		t.Fatalf("in use %v, %v; want %s, %s, %s", got, err, a, b, k)
	}
	// A launch that has not recorded its images yet: unknown, so nothing is evicted.
	if err := os.MkdirAll(d.instanceDir("i-3"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := d.imagesInUse(); err == nil {
		t.Fatalf("in use %v with an instance unrecorded; want an error", got)
	}
	// Terminated instances' directories are gone: their images are free.
	for _, id := range []string{"i-1", "i-3"} {
		os.RemoveAll(d.instanceDir(id))
	}
	if got, err := d.imagesInUse(); err != nil || len(got) != 2 || got[a] {
		t.Fatalf("after termination: in use %v, %v", got, err)
	}
	if cfg.ImageCacheMaxBytes != DefaultImageCacheMaxBytes {
		t.Fatalf("default bound %d", cfg.ImageCacheMaxBytes)
	}
}
