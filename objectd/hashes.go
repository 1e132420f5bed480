package objectd

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"stratus/objectd/client"
)

// Suffix hashes, like Swift's hashes.pkl: for each suffix directory of a partition, an MD5
// over the sorted "<hash>/<newest version file>" entries below it. Two replicas hold the same
// versions of a suffix exactly when the hashes agree, so replication compares 4096 short
// strings per partition instead of listing objects, and lists only the suffixes that differ.
//
// The cache is in memory. A write invalidates its suffix; the next request recomputes only
// invalidated suffixes. After a restart each partition is listed in full once, on first use.
// Computing a suffix hash also cleans its hash directories (obsolete versions, tombstones
// past the reclaim age), as Swift's hash_cleanup_listdir does.

type partKey struct {
	dev  string
	part uint32
}

type partHashes struct {
	compute sync.Mutex // one computation of this partition at a time

	// Guarded by hashCache.mu.
	hashes map[string]string   // suffix → hash, for suffixes with something stored
	stale  map[string]struct{} // suffixes written since their hash was computed
	full   bool                // hashes covers every suffix on disk

	loadTried bool // the saved hashes file was looked for; guarded by compute
}

type hashCache struct {
	mu    sync.Mutex
	parts map[partKey]*partHashes
	// touched holds every partition invalidated or forgotten in this run: the ones whose
	// saved hashes file must be rewritten or removed at shutdown.
	touched map[partKey]bool
	// trusted says, per device, whether saved hashes files may be read (see hashfile.go).
	trusted map[string]bool
}

func (c *hashCache) touch(k partKey) { // with mu held
	if c.touched == nil {
		c.touched = map[partKey]bool{}
	}
	c.touched[k] = true
}

func (c *hashCache) get(k partKey) *partHashes {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.parts == nil {
		c.parts = make(map[partKey]*partHashes)
	}
	p := c.parts[k]
	if p == nil {
		p = &partHashes{hashes: map[string]string{}, stale: map[string]struct{}{}}
		c.parts[k] = p
	}
	return p
}

// invalidate marks a suffix as changed. Safe to call while the partition is being hashed:
// the mark survives, and the next request recomputes the suffix.
func (c *hashCache) invalidate(dev string, part uint32, suffix string) {
	p := c.get(partKey{dev, part})
	c.mu.Lock()
	p.stale[suffix] = struct{}{}
	c.touch(partKey{dev, part})
	c.mu.Unlock()
}

// forget drops a partition's cache, so the next request lists it in full.
func (c *hashCache) forget(dev string, part uint32) {
	c.mu.Lock()
	delete(c.parts, partKey{dev, part})
	c.touch(partKey{dev, part})
	c.mu.Unlock()
}

// suffixHashes returns the suffix hashes of a partition, recomputing what has changed.
func (s *store) suffixHashes(dev string, part uint32) (client.SuffixHashes, error) {
	devDir, err := s.devicePath(dev)
	if err != nil {
		return nil, err
	}
	p := s.hashes.get(partKey{dev, part})
	p.compute.Lock()
	defer p.compute.Unlock()

	s.hashes.mu.Lock()
	todo, full := p.stale, p.full
	p.stale = map[string]struct{}{}
	s.hashes.mu.Unlock()

	if !full && !p.loadTried {
		p.loadTried = true
		if saved, ok := s.loadHashes(dev, devDir, part); ok {
			s.hashes.mu.Lock()
			p.hashes, p.full = saved, true
			s.hashes.mu.Unlock()
			full = true
		}
	}
	if !full {
		suffixes, err := s.suffixes(devDir, part)
		if err != nil {
			s.restale(p, todo)
			return nil, err
		}
		for _, sfx := range suffixes {
			todo[sfx] = struct{}{}
		}
	}
	computed := make(map[string]string, len(todo))
	for sfx := range todo {
		h, err := s.hashSuffix(devDir, part, sfx)
		if err != nil {
			s.restale(p, todo)
			return nil, err
		}
		computed[sfx] = h
	}

	s.hashes.mu.Lock()
	defer s.hashes.mu.Unlock()
	if !full {
		p.hashes = map[string]string{}
		p.full = true
	}
	for sfx, h := range computed {
		if h == "" {
			delete(p.hashes, sfx)
		} else {
			p.hashes[sfx] = h
		}
	}
	return maps.Clone(p.hashes), nil
}

func (s *store) restale(p *partHashes, todo map[string]struct{}) {
	s.hashes.mu.Lock()
	for sfx := range todo {
		p.stale[sfx] = struct{}{}
	}
	s.hashes.mu.Unlock()
}

// hashSuffix cleans and hashes one suffix directory; "" means nothing is stored under it.
func (s *store) hashSuffix(devDir string, part uint32, suffix string) (string, error) {
	entries, err := s.suffixEntries(devDir, part, suffix)
	if err != nil || len(entries) == 0 {
		return "", err
	}
	h := md5.New()
	for _, e := range entries {
		fmt.Fprintf(h, "%s/%s\n", e.hash, e.v.file())
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// entry is the newest version of one name hash.
type entry struct {
	hash string
	v    version
}

// suffixEntries cleans the hash directories of a suffix and returns their newest versions,
// sorted by hash.
func (s *store) suffixEntries(devDir string, part uint32, suffix string) ([]entry, error) {
	sdir := filepath.Join(partDir(devDir, part), suffix)
	ents, err := s.fs.ReadDir(sdir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("list %s: %w", sdir, err)
	}
	var hashes []string
	for _, e := range ents {
		if e.IsDir() && validHash(e.Name()) && suffixOf(e.Name()) == suffix {
			hashes = append(hashes, e.Name())
		}
	}
	l, err := s.loadedLog(devDir)
	if err != nil {
		return nil, err
	}
	if logged := l.hashes(part, suffix); len(logged) > 0 {
		seen := make(map[string]bool, len(hashes))
		for _, h := range hashes {
			seen[h] = true
		}
		for _, h := range logged {
			if !seen[h] {
				hashes = append(hashes, h)
			}
		}
	}
	var out []entry
	for _, h := range hashes {
		v, ok, err := s.cleanup(filepath.Base(devDir), part, filepath.Join(sdir, h))
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, entry{hash: h, v: v})
		}
	}
	slices.SortFunc(out, func(a, b entry) int {
		if a.hash < b.hash {
			return -1
		}
		if a.hash > b.hash {
			return 1
		}
		return 0
	})
	return out, nil
}

// suffixes lists the suffixes of a partition with something stored: its suffix directories
// and the suffixes of its log entries.
func (s *store) suffixes(devDir string, part uint32) ([]string, error) {
	ents, err := s.fs.ReadDir(partDir(devDir, part))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("list partition %d: %w", part, err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && validSuffix(e.Name()) {
			out = append(out, e.Name())
		}
	}
	l, err := s.loadedLog(devDir)
	if err != nil {
		return nil, err
	}
	if logged := l.suffixes(part); len(logged) > 0 {
		seen := make(map[string]bool, len(out))
		for _, sfx := range out {
			seen[sfx] = true
		}
		for _, sfx := range logged {
			if !seen[sfx] {
				out = append(out, sfx)
			}
		}
	}
	return out, nil
}

// partitions lists the partitions of a device with something stored: its partition
// directories and the partitions of its log entries.
func (s *store) partitions(devDir string) ([]uint32, error) {
	ents, err := s.fs.ReadDir(filepath.Join(devDir, objectsDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("list partitions: %w", err)
	}
	var out []uint32
	for _, e := range ents {
		if p, err := strconv.ParseUint(e.Name(), 10, 32); err == nil && e.IsDir() {
			out = append(out, uint32(p))
		}
	}
	l, err := s.loadedLog(devDir)
	if err != nil {
		return nil, err
	}
	if logged := l.partitions(); len(logged) > 0 {
		seen := make(map[uint32]bool, len(out))
		for _, p := range out {
			seen[p] = true
		}
		for _, p := range logged {
			if !seen[p] {
				out = append(out, p)
			}
		}
	}
	return out, nil
}
