package objectd

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"stratus/internal/hlc"
	"stratus/objectd/client"
)

// missing returns the hashes of the offers this node wants: names it has no version of, or
// only an older one.
func (s *store) missing(dev string, part uint32, offers []client.Offer) ([]string, error) {
	devDir, err := s.devicePath(dev)
	if err != nil {
		return nil, err
	}
	var want []string
	for _, o := range offers {
		if !validHash(o.Hash) {
			return nil, fmt.Errorf("%w: hash %q", client.ErrInvalid, o.Hash)
		}
		vs, err := s.allVersions(devDir, "", part, o.Hash)
		if err != nil {
			return nil, err
		}
		if len(vs) == 0 || vs[0].ts < o.Timestamp {
			want = append(want, o.Hash)
		}
	}
	return want, nil
}

// removeSynced removes the versions of a hash directory up to ts once they are known to be
// on the primaries, and the directory if that empties it. A newer version that landed
// meanwhile stays, and is pushed by a later pass.
func (s *store) removeSynced(dev, devDir string, part uint32, hash string, ts hlc.Timestamp) error {
	unlock := s.lock(hash)
	defer unlock()
	hdir := hashDir(devDir, part, hash)
	vs, err := s.versions(hdir)
	if err != nil {
		return err
	}
	for _, v := range vs {
		if v.ts <= ts {
			if err := s.fs.Remove(filepath.Join(hdir, v.file())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove handoff copy: %w", err)
			}
		}
	}
	s.fs.Remove(hdir) // only succeeds when empty
	l, err := s.loadedLog(devDir)
	if err != nil {
		return err
	}
	if e, ok := l.lookup(part, hash); ok && e.ts <= ts {
		if _, err := l.appendDrop(part, hash, ts); err != nil {
			return fmt.Errorf("remove handoff copy: %w", err)
		}
	}
	s.hashes.invalidate(dev, part, suffixOf(hash))
	return nil
}

// removeEmptyPartition removes a partition's directories if nothing is left in them.
func (s *store) removeEmptyPartition(dev, devDir string, part uint32) {
	sfxs, _ := s.suffixes(devDir, part)
	for _, sfx := range sfxs {
		s.fs.Remove(filepath.Join(partDir(devDir, part), sfx))
	}
	if len(sfxs) > 0 {
		if left, _ := s.suffixes(devDir, part); len(left) > 0 {
			return // something landed meanwhile
		}
	}
	s.fs.Remove(filepath.Join(partDir(devDir, part), hashesFile))
	if s.fs.Remove(partDir(devDir, part)) == nil {
		s.hashes.forget(dev, part)
	}
}
