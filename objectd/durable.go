package objectd

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sync"

	"stratus/internal/faultfs"
)

// Making a published version durable.
//
// A version may be acknowledged only once a crash cannot lose it or show part of it. The
// file's content and header are fsynced before the rename that publishes it, so a name that
// survives a crash always points at complete, checked content. What remains is the chain of
// directory entries from the device down to the file: the version's entry in its hash
// directory, and the entry of every directory on the way that is new. POSIX makes an entry
// durable when its directory is fsynced.
//
// Directories that already exist are not fsynced again when their entry is known to be
// durable: it was durable at start (every device is synced once before the node serves), or
// the write that created it made it durable before acknowledging anything below it. A
// directory created by a write still in flight is in store.dirs until its entry is durable;
// a write that finds such a directory on its path makes the entry durable itself (fsyncing
// the parent) rather than rely on a write that may still fail.
//
// Small writes share their directory barrier (groupCommit): each one fsyncs its own file,
// renames it, then joins the next batch, and one barrier for the batch makes every entry
// renamed or created before it started durable. On Linux with the real file system the
// barrier is one syncfs(2), shared by every device on that file system; since 5.8 it reports
// writeback errors of the file system. Elsewhere it fsyncs each directory the batch named. A
// write is acknowledged only after a barrier that began after its rename has succeeded. syncfs also writes back every
// other dirty file on the device, so large writes do not use it: they fsync their own
// directories and would otherwise make small writes wait for their data.
//
// A refusal that names the sender's own timestamp (a retry of a write that landed) is
// answered only after a barrier, because the version it found may belong to a write still
// in flight between its rename and its barrier (write.go, conflict).

// groupCommitBytes is the largest object whose directory entries are made durable by a
// shared barrier; larger ones fsync their own directories.
const groupCommitBytes = 256 << 10

// dirTracker holds the directories created by writes whose entry in the parent is not yet
// known to be durable. Safe for concurrent use.
type dirTracker struct {
	mu       sync.Mutex
	unsynced map[string]int // directory → writes that created it and have not made it durable
}

func (t *dirTracker) add(dir string) {
	t.mu.Lock()
	if t.unsynced == nil {
		t.unsynced = map[string]int{}
	}
	t.unsynced[dir]++
	t.mu.Unlock()
}

// done records that one creator of dir made its entry durable, or gave up on it.
func (t *dirTracker) done(dir string) {
	t.mu.Lock()
	if t.unsynced[dir]--; t.unsynced[dir] <= 0 {
		delete(t.unsynced, dir)
	}
	t.mu.Unlock()
}

func (t *dirTracker) pending(dir string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.unsynced[dir] > 0
}

// dirPlan is what one write must make durable besides its own file: the directories to
// fsync (or cover with a barrier), and the directories it created, to be marked durable
// once that is done.
type dirPlan struct {
	sync    []string
	created []string
}

func (p *dirPlan) addSync(dir string) {
	if !slices.Contains(p.sync, dir) {
		p.sync = append(p.sync, dir)
	}
}

// makeDirs creates dir and its missing parents below devDir, and adds to p the parents whose
// entries must be made durable: those of the directories it created, and of existing ones
// on the path that another write created and has not yet made durable. The common cases
// cost one mkdir: a new name in an existing suffix directory, or an existing name.
func (s *store) makeDirs(devDir, dir string, p *dirPlan) error {
	var missing []string // dir and the parents that do not exist, deepest first
	for d := dir; ; d = filepath.Dir(d) {
		if len(d) <= len(devDir) {
			return fmt.Errorf("mkdir %s: %w", dir, fs.ErrNotExist)
		}
		s.dirs.add(d)
		err := s.fs.Mkdir(d, 0o755)
		if err == nil {
			p.created = append(p.created, d)
			break
		}
		s.dirs.done(d)
		if errors.Is(err, fs.ErrExist) {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("mkdir %s: %w", d, err)
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		d := missing[i]
		s.dirs.add(d)
		if err := s.fs.Mkdir(d, 0o755); err != nil {
			s.dirs.done(d)
			if !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("mkdir %s: %w", d, err)
			}
			continue
		}
		p.created = append(p.created, d)
	}
	for d := dir; len(d) > len(devDir); d = filepath.Dir(d) {
		if slices.Contains(p.created, d) || s.dirs.pending(d) {
			p.addSync(filepath.Dir(d))
		}
	}
	return nil
}

// settle marks the directories p created as durable; call after their parents were synced.
func (s *store) settle(p *dirPlan) {
	for _, d := range p.created {
		s.dirs.done(d)
	}
	p.created = nil
}

// syncDirs fsyncs each directory.
func (s *store) syncDirs(dirs []string) error {
	for _, d := range dirs {
		if err := s.syncDir(d); err != nil {
			return fmt.Errorf("fsync %s: %w", d, err)
		}
	}
	return nil
}

// barrier makes durable every directory entry created or renamed on the device before it
// was called: one syncfs where available, else an fsync of each directory in dirs.
func (s *store) barrier(devDir string, dirs []string) error {
	if s.fs == faultfs.OS && haveSyncFS {
		return syncFS(devDir)
	}
	if sf, ok := s.fs.(interface{ SyncFS(dir string) error }); ok {
		if err := sf.SyncFS(devDir); !errors.Is(err, errors.ErrUnsupported) {
			return err
		}
	}
	return s.syncDirs(dirs)
}

// groupCommit runs one barrier for many writers (one per device). A writer joins the batch
// being collected. If no barrier is running it leads: it runs the barrier for its batch and,
// if writers arrived meanwhile, hands the lead to one of them. Every member of a batch joined
// it after its own rename, so the batch's barrier covers every member.
type groupCommit struct {
	mu      sync.Mutex
	running bool
	next    *commitBatch
}

type commitBatch struct {
	dirs []string
	lead chan struct{} // receives one token when this batch is to be run
	done chan struct{} // closed when err is set
	err  error
}

// sync returns once a barrier covering dirs (run by run) that started after the call has
// succeeded, or with its error.
func (g *groupCommit) sync(dirs []string, run func(dirs []string) error) error {
	g.mu.Lock()
	b := g.next
	if b == nil {
		b = &commitBatch{lead: make(chan struct{}, 1), done: make(chan struct{})}
		g.next = b
	}
	for _, d := range dirs {
		if !slices.Contains(b.dirs, d) {
			b.dirs = append(b.dirs, d)
		}
	}
	if !g.running {
		g.running = true
		b.lead <- struct{}{}
	}
	g.mu.Unlock()

	select {
	case <-b.done:
		return b.err
	case <-b.lead:
	}
	g.mu.Lock()
	g.next = nil // b stops collecting; later writers start the next batch
	g.mu.Unlock()
	b.err = run(b.dirs)
	close(b.done)
	g.mu.Lock()
	if g.next != nil {
		g.next.lead <- struct{}{}
	} else {
		g.running = false
	}
	g.mu.Unlock()
	return b.err
}

// commitKey names a group commit: a file system, or where its ID is unknown a device.
type commitKey struct {
	fs  uint64
	dir string
}

// commits returns the group commit of the file system holding devDir. Devices that share a
// file system (directories on one disk, as in the all-in-one server) share its batches,
// since one syncfs covers them all; the file system is looked up on every call, so a device
// remounted elsewhere joins the right batches at once.
func (s *store) commits(devDir string) *groupCommit {
	key := commitKey{dir: devDir}
	if fi, err := s.fs.Stat(devDir); err == nil {
		if id, ok := fileSystemID(fi); ok {
			key = commitKey{fs: id}
		}
	}
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	if s.commit == nil {
		s.commit = map[commitKey]*groupCommit{}
	}
	g := s.commit[key]
	if g == nil {
		g = &groupCommit{}
		s.commit[key] = g
	}
	return g
}

// syncDevice makes everything already on a device durable, so that directories left by an
// earlier run count as durable. Called before the node serves. Without syncfs it fsyncs
// only the device and objects directories: a directory left by a run killed between its
// mkdir and the parent's fsync is then trusted as it is.
func (s *store) syncDevice(devDir string) error {
	dirs := []string{devDir}
	if _, err := s.fs.Stat(filepath.Join(devDir, objectsDir)); err == nil {
		dirs = append(dirs, filepath.Join(devDir, objectsDir))
	}
	return s.barrier(devDir, dirs)
}
