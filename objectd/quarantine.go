package objectd

import (
	"errors"
	"io/fs"
	"path/filepath"
)

// quarantine moves a damaged version out of the object tree, so that reads stop finding it
// and the suffix hash changes, which makes replication restore a good copy.
func (s *store) quarantine(o *object, reason string) {
	unlock := s.lock(o.hash)
	defer unlock()
	if o.logged {
		s.quarantineLogged(o, reason)
		return
	}
	src := filepath.Join(hashDirIn(o.devDir, o.sp, o.part, o.hash), o.file)
	qdir := filepath.Join(o.devDir, quarantineDir, objectsDir, o.hash)
	if err := s.mkdirs(o.devDir, qdir); err != nil {
		s.log.Error("quarantine", "device", o.dev, "partition", o.part, "path", src, "err", err)
		return
	}
	if err := s.fs.Rename(src, filepath.Join(qdir, o.file)); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Error("quarantine", "device", o.dev, "partition", o.part, "path", src, "err", err)
		}
		return
	}
	if o.sp == "" {
		s.hashes.invalidate(o.dev, o.part, suffixOf(o.hash))
	}
	s.m.quarantined.WithLabelValues(o.dev).Inc()
	s.log.Warn("quarantined object file", "device", o.dev, "partition", o.part, "path", src, "reason", reason)
}
