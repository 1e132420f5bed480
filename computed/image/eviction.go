package image

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Eviction.
//
// The cache is bounded by Config.MaxBytes. Recency is each file's modification time: set
// when it is downloaded and again whenever Get hands it out, so it survives restarts
// without a file of its own. When a download would take the cache past its bound, the
// least recently used images are removed until it fits, except images in use by an
// instance (Config.InUse: a removed base would break its overlay, a removed kernel its
// next start), the image being fetched, images handed out within MinIdle, and downloads
// in flight. If what may go is not enough, the download is kept anyway — the launch needs
// it — and the cache stays over its bound until instances let go of their images.

// Stats are the cache's figures for metrics.
type Stats struct {
	Bytes, Images           int64
	Evictions, EvictedBytes int64
}

// Stats reads the cache's size from its directory and the evictions so far.
func (c *Cache) Stats() (Stats, error) {
	ents, err := c.entries()
	s := Stats{Evictions: c.evictions.Load(), EvictedBytes: c.evictedBytes.Load()}
	for _, e := range ents {
		s.Bytes += e.size
		s.Images++
	}
	return s, err
}

// cached is one image file in the cache.
type cached struct {
	digest  string
	size    int64
	usedAt  time.Time
	pathFor string
}

// entries lists the cached images (not partial downloads).
func (c *Cache) entries() ([]cached, error) {
	des, err := os.ReadDir(c.cfg.Dir)
	if err != nil {
		return nil, err
	}
	var out []cached
	for _, de := range des {
		digest, ok := strings.CutPrefix(de.Name(), "sha256-")
		if !ok || !digestPattern.MatchString(digest) {
			continue
		}
		info, err := de.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, cached{digest: digest, size: info.Size(), usedAt: info.ModTime(), pathFor: filepath.Join(c.cfg.Dir, de.Name())})
	}
	return out, nil
}

// touch marks an image used now, for the LRU order; a failure only makes it look older.
func (c *Cache) touch(path string) {
	now := time.Now()
	os.Chtimes(path, now, now)
}

// makeRoom evicts least recently used images until need more bytes fit under MaxBytes,
// keeping keep (the image being fetched) and everything protected. It returns what it
// evicted; failures leave the cache as it is (over its bound at worst).
func (c *Cache) makeRoom(need int64, keep string) (evicted []string) {
	if c.cfg.MaxBytes <= 0 {
		return nil
	}
	c.evictMu.Lock()
	defer c.evictMu.Unlock()
	ents, err := c.entries()
	if err != nil {
		return nil
	}
	var total int64
	for _, e := range ents {
		if e.digest != keep {
			total += e.size
		}
	}
	if total+need <= c.cfg.MaxBytes {
		return nil
	}
	if c.cfg.InUse == nil {
		return nil
	}
	inUse, err := c.cfg.InUse()
	if err != nil {
		return nil
	}
	c.mu.Lock()
	inflight := make(map[string]bool, len(c.inflight))
	for d := range c.inflight {
		inflight[d] = true
	}
	c.mu.Unlock()
	idleBefore := time.Now().Add(-c.cfg.MinIdle)
	slices.SortFunc(ents, func(a, b cached) int { return a.usedAt.Compare(b.usedAt) })
	for _, e := range ents {
		if total+need <= c.cfg.MaxBytes {
			break
		}
		if e.digest == keep || inUse[e.digest] || inflight[e.digest] || e.usedAt.After(idleBefore) {
			continue
		}
		if err := os.Remove(e.pathFor); err != nil && !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		total -= e.size
		c.evictions.Add(1)
		c.evictedBytes.Add(e.size)
		evicted = append(evicted, e.digest)
	}
	if len(evicted) > 0 {
		syncDir(c.cfg.Dir)
	}
	return evicted
}
