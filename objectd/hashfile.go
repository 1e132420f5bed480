package objectd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Suffix hashes survive a clean restart, as Swift's hashes.pkl does, so a node does not list
// every partition after each upgrade. Each partition's hashes go to
// objects/<partition>/hashes.json at shutdown, and the marker below is written last. At start
// the marker is removed before anything is served: if the node then crashes, the next start
// finds no marker, does not trust any hashes file (writes since the last save are not in
// them) and deletes them all. A file is read at most once, on the partition's first use.
const (
	hashesFile  = "hashes.json"
	cleanMarker = ".stratus-hashes-clean"
)

// hashesOnDisk is the hashes file. Part of the on-disk format; version it on change.
type hashesOnDisk struct {
	Version int               `json:"version"`
	Hashes  map[string]string `json:"hashes"`
}

const hashesFileVersion = 1

// openHashes decides, per device, whether the saved hashes can be trusted, and makes sure
// they will not be trusted after a crash from now on. It also makes everything already on
// each device durable. Call before serving.
func (s *store) openHashes() {
	devs, err := s.devices()
	if err != nil {
		return
	}
	s.hashes.mu.Lock()
	if s.hashes.trusted == nil {
		s.hashes.trusted = map[string]bool{}
	}
	s.hashes.mu.Unlock()
	for _, dev := range devs {
		dir := filepath.Join(s.root, dev)
		// What an earlier run left may not be durable yet (a process killed before its
		// fsyncs); writes count existing directories as durable (durable.go).
		if err := s.syncDevice(dir); err != nil {
			s.log.Warn("sync device", "device", dev, "err", err)
		}
		marker := filepath.Join(dir, cleanMarker)
		clean := false
		if _, err := s.fs.Stat(marker); err == nil {
			clean = s.fs.Remove(marker) == nil && s.syncDir(dir) == nil
		}
		if !clean {
			s.removeHashFiles(dir)
		}
		s.hashes.mu.Lock()
		s.hashes.trusted[dev] = clean
		s.hashes.mu.Unlock()
	}
}

func (s *store) removeHashFiles(devDir string) {
	parts, _ := s.partitions(devDir)
	for _, p := range parts {
		if err := s.fs.Remove(filepath.Join(partDir(devDir, p), hashesFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("remove stale hashes file", "partition", p, "err", err)
		}
	}
}

// loadHashes reads a partition's saved hashes if its device was shut down cleanly.
func (s *store) loadHashes(dev, devDir string, part uint32) (map[string]string, bool) {
	s.hashes.mu.Lock()
	trusted := s.hashes.trusted[dev]
	s.hashes.mu.Unlock()
	if !trusted {
		return nil, false
	}
	f, err := s.fs.OpenFile(filepath.Join(partDir(devDir, part), hashesFile), os.O_RDONLY, 0)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	var h hashesOnDisk
	if err := json.NewDecoder(f).Decode(&h); err != nil || h.Version != hashesFileVersion || h.Hashes == nil {
		return nil, false
	}
	for sfx := range h.Hashes {
		if !validSuffix(sfx) {
			return nil, false
		}
	}
	return h.Hashes, true
}

// saveHashes writes the hashes of every partition this run touched, removes the files of
// those whose hashes are not fully known, and marks each device clean. Call after the last
// request and pass have finished.
func (s *store) saveHashes() {
	s.hashes.mu.Lock()
	type item struct {
		key    partKey
		hashes map[string]string // nil: remove the file
	}
	var items []item
	for k := range s.hashes.touched {
		var h map[string]string
		if p := s.hashes.parts[k]; p != nil && p.full && len(p.stale) == 0 {
			h = p.hashes
		}
		items = append(items, item{k, h})
	}
	s.hashes.mu.Unlock()

	failed := map[string]bool{}
	for _, it := range items {
		devDir := filepath.Join(s.root, it.key.dev)
		path := filepath.Join(partDir(devDir, it.key.part), hashesFile)
		if _, err := s.fs.Stat(partDir(devDir, it.key.part)); errors.Is(err, fs.ErrNotExist) {
			// Nothing of it is in files (all in the small-object log, or gone): its hashes
			// are recomputed from the log's index, in memory, on first use.
			continue
		}
		var err error
		if it.hashes == nil {
			if err = s.fs.Remove(path); errors.Is(err, fs.ErrNotExist) {
				err = nil
			}
		} else {
			err = s.writeHashFile(path, it.hashes)
		}
		if err != nil {
			failed[it.key.dev] = true
			s.log.Warn("save suffix hashes", "device", it.key.dev, "partition", it.key.part, "err", err)
		}
	}
	devs, _ := s.devices()
	for _, dev := range devs {
		if failed[dev] {
			continue
		}
		dir := filepath.Join(s.root, dev)
		f, err := s.fs.OpenFile(filepath.Join(dir, cleanMarker), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err == nil {
			err = f.Sync()
			f.Close()
		}
		if err == nil {
			err = s.syncDir(dir)
		}
		if err != nil {
			s.log.Warn("mark suffix hashes clean", "device", dev, "err", err)
		}
	}
}

func (s *store) writeHashFile(path string, hashes map[string]string) error {
	data, err := json.Marshal(hashesOnDisk{Version: hashesFileVersion, Hashes: hashes})
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := s.fs.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) { // the partition is gone
			return nil
		}
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.fs.Rename(tmp, path)
	}
	if err != nil {
		s.fs.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
