package daemon

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"stratus/computed/image"
)

type imageStats = image.Stats

// imagesInUseFile lists, in an instance's directory, the digests of the cached images its
// domain is defined on (its overlay's base, its kernel and ramdisk), one a line. It is
// written before the domain is defined and goes with the directory at termination, so the
// cache's eviction knows what must stay, across restarts too.
const imagesInUseFile = "images-in-use"

// recordImagesInUse writes the instance's images-in-use file atomically.
func (d *Daemon) recordImagesInUse(id string, paths ...string) error {
	var b strings.Builder
	for _, p := range paths {
		if digest, ok := strings.CutPrefix(filepath.Base(p), "sha256-"); ok && p != "" {
			b.WriteString(digest + "\n")
		}
	}
	dir := d.instanceDir(id)
	tmp, err := os.CreateTemp(dir, "."+imagesInUseFile+".*")
	if err != nil {
		return err
	}
	if _, err = tmp.WriteString(b.String()); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, imagesInUseFile))
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// imagesInUse is the image cache's InUse: the digests every instance directory lists. An
// instance directory without the list (a launch before it was written, or by an older
// daemon) makes the answer unknown, so nothing is evicted rather than something needed.
func (d *Daemon) imagesInUse() (map[string]bool, error) {
	ents, err := os.ReadDir(d.instancesDir())
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		f, err := os.Open(filepath.Join(d.instancesDir(), e.Name(), imagesInUseFile))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("instance %s: no %s yet", e.Name(), imagesInUseFile)
		}
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" {
				out[line] = true
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// registerCacheMetrics exports the cache's size and evictions, read at each scrape.
func (d *Daemon) registerCacheMetrics(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	stat := func(f func(s imageStats) float64) func() float64 {
		return func() float64 {
			s, err := d.cache.Stats()
			if err != nil {
				return 0
			}
			return f(s)
		}
	}
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stratus_computed_image_cache_bytes",
			Help: "Bytes of the images in the host's cache."}, stat(func(s imageStats) float64 { return float64(s.Bytes) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stratus_computed_image_cache_images",
			Help: "Images in the host's cache."}, stat(func(s imageStats) float64 { return float64(s.Images) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stratus_computed_image_cache_max_bytes",
			Help: "The bound of the host's image cache (0: none)."}, func() float64 { return float64(d.cfg.ImageCacheMaxBytes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stratus_computed_image_cache_evictions_total",
			Help: "Images evicted from the host's cache (least recently used, not in use)."}, stat(func(s imageStats) float64 { return float64(s.Evictions) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stratus_computed_image_cache_evicted_bytes_total",
			Help: "Bytes of the images evicted from the host's cache."}, stat(func(s imageStats) float64 { return float64(s.EvictedBytes) })),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
