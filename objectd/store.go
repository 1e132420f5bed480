package objectd

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"stratus/internal/faultfs"
	"stratus/internal/hlc"
	"stratus/objectd/client"
)

// store is the on-disk object store of one node: every device under root. It is safe for
// concurrent use. Writes to one name are ordered by a striped lock on the name hash; the
// lock is held only around the rename that publishes a version, never while content
// streams.
type store struct {
	root       string
	fs         faultfs.FS
	mountCheck bool
	reclaimAge time.Duration
	maxSkew    time.Duration // how far ahead of now a version may be dated
	now        func() time.Time
	log        *slog.Logger
	m          *metrics
	hashes     hashCache
	locks      [256]sync.Mutex
	dirs       dirTracker // directories whose entry may not be durable yet (durable.go)

	// isMountPoint reports whether a device directory is a mount point (Config.IsMountPoint).
	isMountPoint func(dir string) (bool, error)

	commitMu sync.Mutex
	commit   map[commitKey]*groupCommit

	// smallMax is the largest content stored in the small-object log (smallobj_log.go);
	// 0 stores every version as a file. Logs on disk are read whatever it is.
	smallMax int64
	logMu    sync.Mutex
	logs     map[string]*devLog // device directory → its log, once read
	// noLog holds the devices found without a log while smallMax is 0: this process will
	// never make one, so reads and writes need not look for it on disk again.
	noLog  map[string]bool
	segMax int64 // segment size; 0 means segmentMaxBytes (tests make it small)
	// compactHook, if set, is called at each step of a compaction (tests cut the power there).
	compactHook func(step string)
}

// checkSkew refuses a timestamp more than maxSkew ahead of the node's clock. Such a version
// would win over every write until its time comes (a forged ffffffffffffffff tombstone,
// forever), and replication would carry it everywhere.
func (s *store) checkSkew(ts hlc.Timestamp) error {
	if limit := s.now().Add(s.maxSkew); ts.Time().After(limit) {
		return fmt.Errorf("%w: %v (%s) is more than %v ahead of this node's clock", client.ErrFutureTimestamp,
			ts, ts.Time().UTC().Format(time.RFC3339), s.maxSkew)
	}
	return nil
}

func (s *store) lock(hash string) func() {
	i, _ := strconv.ParseUint(hash[:2], 16, 8)
	mu := &s.locks[i]
	mu.Lock()
	return mu.Unlock
}

// versions lists the versions in a hash directory, newest first; a missing directory has
// none.
func (s *store) versions(hdir string) ([]version, error) {
	ents, err := s.fs.ReadDir(hdir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("list %s: %w", hdir, err)
	}
	vs := make([]version, 0, len(ents))
	for _, e := range ents {
		if v, ok := parseFileName(e.Name()); ok {
			vs = append(vs, v)
		}
	}
	sortVersions(vs)
	return vs, nil
}

// checkNewer returns a *VersionError unless ts is newer than every version in hdir, and
// otherwise those versions, newest first.
func (s *store) checkNewer(hdir string, ts hlc.Timestamp) ([]version, error) {
	vs, err := s.versions(hdir)
	if err != nil {
		return nil, err
	}
	if len(vs) > 0 && vs[0].ts >= ts {
		return nil, &VersionError{Timestamp: vs[0].ts, Err: client.ErrConflict}
	}
	return vs, nil
}

// mkdirs creates dir and its missing parents below devDir, fsyncing each parent that gained
// an entry so that the new path survives a crash.
func (s *store) mkdirs(devDir, dir string) error {
	var missing []string
	for d := dir; d != devDir && len(d) > len(devDir); d = filepath.Dir(d) {
		if _, err := s.fs.Stat(d); err == nil {
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := s.fs.Mkdir(missing[i], 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("mkdir %s: %w", missing[i], err)
		}
		if err := s.syncDir(filepath.Dir(missing[i])); err != nil {
			return fmt.Errorf("fsync %s: %w", filepath.Dir(missing[i]), err)
		}
	}
	return nil
}

func (s *store) syncDir(dir string) error {
	f, err := s.fs.OpenFile(dir, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeOlder removes versions older than ts from hdir. Failures only leave garbage that the
// next cleanup removes; readers always pick the newest. Call with the hash locked.
func (s *store) removeOlder(hdir string, ts hlc.Timestamp) {
	vs, _ := s.versions(hdir)
	for _, v := range vs {
		if v.ts < ts {
			if err := s.fs.Remove(filepath.Join(hdir, v.file())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				s.log.Warn("remove old version", "path", filepath.Join(hdir, v.file()), "err", err)
			}
		}
	}
}

// cleanup removes every version but the newest of a name hash, among its files and its log
// entry, reclaims the newest if it is a tombstone older than the reclaim age, and removes
// the hash directory once empty. It returns the surviving version, if any.
func (s *store) cleanup(dev string, part uint32, hdir string) (version, bool, error) {
	hash := filepath.Base(hdir)
	unlock := s.lock(hash)
	defer unlock()
	vs, err := s.versions(hdir)
	if err != nil {
		return version{}, false, err
	}
	devDir := filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(hdir))))
	l, err := s.loadedLog(devDir)
	if err != nil {
		return version{}, false, err
	}
	le, inLog := l.lookup(part, hash)
	if len(vs) == 0 && !inLog {
		return version{}, false, nil
	}
	if inLog && (len(vs) == 0 || !le.olderThan(vs[0].ts, vs[0].kind)) {
		// The log holds the newest: every file is obsolete.
		for _, v := range vs {
			if err := s.fs.Remove(filepath.Join(hdir, v.file())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				s.log.Warn("remove old version", "path", filepath.Join(hdir, v.file()), "err", err)
			}
		}
		if len(vs) > 0 {
			s.fs.Remove(hdir)
		}
		newest := le.version()
		if newest.kind == client.KindTombstone && s.now().Sub(newest.ts.Time()) > s.reclaimAge {
			if _, err := l.appendDrop(part, hash, newest.ts); err != nil {
				return newest, true, fmt.Errorf("reclaim %s: %w", newest.file(), err)
			}
			s.hashes.invalidate(dev, part, suffixOf(hash))
			return version{}, false, nil
		}
		return newest, true, nil
	}
	if inLog { // a file is newer: the log entry is obsolete
		if _, err := l.appendDrop(part, hash, le.ts); err != nil {
			return version{}, false, fmt.Errorf("drop obsolete log entry: %w", err)
		}
	}
	s.removeOlder(hdir, vs[0].ts)
	for _, v := range vs[1:] {
		if v.ts == vs[0].ts { // a data file beside a tombstone of the same time
			s.fs.Remove(filepath.Join(hdir, v.file()))
		}
	}
	newest := vs[0]
	if newest.kind == client.KindTombstone && s.now().Sub(newest.ts.Time()) > s.reclaimAge {
		if err := s.fs.Remove(filepath.Join(hdir, newest.file())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return newest, true, fmt.Errorf("reclaim %s: %w", newest.file(), err)
		}
		s.fs.Remove(hdir) // fails harmlessly if something else is there
		// The suffix hash changes; if a hash computation is what called, it recomputes
		// once more, finds nothing to reclaim, and settles.
		s.hashes.invalidate(dev, part, suffixOf(hash))
		return version{}, false, nil
	}
	return newest, true, nil
}
