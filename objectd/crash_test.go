package objectd

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"stratus/internal/faultfs"
	"stratus/internal/hlc"
	"stratus/objectd/client"
)

// crashFS is a faultfs.FS over the real file system that remembers what a power cut would
// keep, under the rules the write path relies on: a file's content is durable as of its
// last fsync, a directory's entries as of the directory's last fsync, and SyncFS (when
// enabled, standing for syncfs(2)) makes everything durable. image writes that state out:
// entries never made durable are gone, and a file whose content was never synced keeps only
// its first half, so that a torn object shows if a name ever reaches one.
type crashFS struct {
	mu      sync.Mutex
	syncFS  bool
	next    int
	ino     map[string]int // current path → inode
	path    map[int]string // inode → current path
	dir     map[int]bool
	durData map[int][]byte         // file inode → content at its last fsync
	durEnts map[int]map[string]int // directory inode → entries at its last fsync
	rootIno int
}

// newCrashFS starts tracking root, whose present contents count as durable.
func newCrashFS(t testing.TB, root string, syncFS bool) *crashFS {
	c := &crashFS{syncFS: syncFS, ino: map[string]int{}, path: map[int]string{}, dir: map[int]bool{},
		durData: map[int][]byte{}, durEnts: map[int]map[string]int{}}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		c.add(p, d.IsDir())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c.rootIno = c.ino[root]
	c.syncAll()
	return c
}

func (c *crashFS) add(p string, isDir bool) int { // with mu held (or before use)
	c.next++
	c.ino[p], c.path[c.next], c.dir[c.next] = c.next, p, isDir
	return c.next
}

// entries lists a directory's current entries.
func (c *crashFS) entries(dir string) map[string]int {
	out := map[string]int{}
	for p, i := range c.ino {
		if filepath.Dir(p) == dir && p != dir {
			out[filepath.Base(p)] = i
		}
	}
	return out
}

func (c *crashFS) syncInode(i int) {
	if c.dir[i] {
		c.durEnts[i] = c.entries(c.path[i])
		return
	}
	if b, err := os.ReadFile(c.path[i]); err == nil {
		c.durData[i] = b
	}
}

func (c *crashFS) syncAll() {
	for _, i := range c.ino {
		c.syncInode(i)
	}
}

func (c *crashFS) OpenFile(name string, flag int, perm fs.FileMode) (faultfs.File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, err := faultfs.OS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	i, ok := c.ino[name]
	if !ok {
		st, _ := f.Stat()
		i = c.add(name, st != nil && st.IsDir())
	}
	return &crashFile{File: f, c: c, ino: i}, nil
}

func (c *crashFS) Rename(oldpath, newpath string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := faultfs.OS.Rename(oldpath, newpath); err != nil {
		return err
	}
	i := c.ino[oldpath]
	delete(c.ino, oldpath)
	if j, ok := c.ino[newpath]; ok {
		delete(c.path, j)
	}
	c.ino[newpath], c.path[i] = i, newpath
	return nil
}

func (c *crashFS) Remove(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := faultfs.OS.Remove(name); err != nil {
		return err
	}
	if i, ok := c.ino[name]; ok {
		delete(c.ino, name)
		delete(c.path, i)
	}
	return nil
}

func (c *crashFS) Mkdir(name string, perm fs.FileMode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := faultfs.OS.Mkdir(name, perm); err != nil {
		return err
	}
	c.add(name, true)
	return nil
}

func (c *crashFS) ReadDir(name string) ([]fs.DirEntry, error) { return faultfs.OS.ReadDir(name) }
func (c *crashFS) Stat(name string) (fs.FileInfo, error)      { return faultfs.OS.Stat(name) }

// SyncFS stands for syncfs(2) when enabled; the store then uses it as its barrier.
func (c *crashFS) SyncFS(dir string) error {
	if !c.syncFS {
		return errors.ErrUnsupported
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.syncAll()
	return nil
}

// image writes what would survive a power cut now into dst.
func (c *crashFS) image(t testing.TB, dst string) { c.imageWith(t, dst, nil) }

// imageWith is image, with the content of each file that was synced at least once chosen by
// mix from what its last fsync made durable and what it holds now (nil: the durable
// content). A mix that takes some sectors from each models a disk that wrote back part of
// the page cache before the power went.
func (c *crashFS) imageWith(t testing.TB, dst string, mix func(durable, now []byte) []byte) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var walk func(i int, to string)
	walk = func(i int, to string) {
		if err := os.MkdirAll(to, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, j := range c.durEnts[i] {
			p := filepath.Join(to, name)
			if c.dir[j] {
				walk(j, p)
				continue
			}
			data, ok := c.durData[j]
			switch {
			case !ok: // never synced: keep a torn prefix of what was written, if still readable
				b, _ := os.ReadFile(c.path[j])
				data = b[:len(b)/2]
			case mix != nil:
				if now, err := os.ReadFile(c.path[j]); err == nil {
					data = mix(data, now)
				}
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	walk(c.rootIno, dst)
}

type crashFile struct {
	faultfs.File
	c   *crashFS
	ino int
}

func (f *crashFile) Sync() error {
	if err := f.File.Sync(); err != nil {
		return err
	}
	f.c.mu.Lock()
	f.c.syncInode(f.ino)
	f.c.mu.Unlock()
	return nil
}

// TestCrashKeepsAcknowledgedWrites cuts the power, in effect, while writers of small and
// large objects, overwrites and deletes run, and checks the disk a restarted node finds:
// every acknowledged write is there (or a newer one of the same name), and every version
// file is whole.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	for _, tc := range []struct {
		name   string
		syncFS bool
	}{{"syncfs", true}, {"directory-fsyncs", false}} {
		t.Run(tc.name, func(t *testing.T) {
			for round := range 3 {
				crashRound(t, tc.syncFS, round)
			}
		})
	}
}

type crashWrite struct {
	name string
	at   hlc.Timestamp
	body []byte // nil: a delete
}

func crashRound(t *testing.T, syncFS bool, round int) { crashRoundWith(t, syncFS, round, nil, nil) }

// crashRoundWith is crashRound with the node's config edited, and the disk image mixed from
// what was synced and what was not (crashFS.imageWith).
func crashRoundWith(t *testing.T, syncFS bool, round int, edit func(*Config), mix func(durable, now []byte) []byte) {
	var cfs *crashFS
	n := startNode(t, nil, []string{"d1"}, func(c *Config) {
		cfs = newCrashFS(t, c.DevicesDir, syncFS)
		c.FS = cfs
		if edit != nil {
			edit(c)
		}
	})
	tg := n.target("d1", 3)
	var (
		mu      sync.Mutex
		crashed bool
		acked   []crashWrite
		tried   = map[string][]crashWrite{}
		wg      sync.WaitGroup
		stop    = make(chan struct{})
	)
	const writers = 6
	for w := range writers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Names repeat, so overwrites and deletes hit existing hash directories.
				wr := crashWrite{name: fmt.Sprintf("r%d-o%d", round, (w*7+i)%20), at: hlc.Timestamp(uint64(ts(0)) + uint64(i*writers+w+1))}
				var err error
				switch {
				case i%7 == 6:
					err = n.cl.Delete(ctxT(t), tg, wr.name, wr.at)
				default:
					size := 4 << 10
					if i%5 == 4 {
						size = 300 << 10 // beyond the group-commit size: fsyncs its own directories
					}
					wr.body = payload(size, uint64(wr.at))
					mu.Lock()
					tried[wr.name] = append(tried[wr.name], wr)
					mu.Unlock()
					err = put(t, n, tg, wr.name, wr.at, wr.body)
				}
				mu.Lock()
				if err == nil && !crashed {
					acked = append(acked, wr)
				}
				mu.Unlock()
			}
		})
	}
	time.Sleep(time.Duration(150+100*round) * time.Millisecond) // let writes run; the crash point is arbitrary
	img := t.TempDir()
	mu.Lock()
	cfs.imageWith(t, img, mix)
	crashed = true
	mu.Unlock()
	close(stop)
	wg.Wait()
	n.stop()
	if len(acked) < 10 {
		t.Logf("round %d: only %d writes acknowledged before the crash", round, len(acked))
	}

	// No version file on the crashed disk may be torn, whatever was or was not acknowledged.
	dev := filepath.Join(img, "d1")
	for _, rel := range files(t, filepath.Join(dev, objectsDir)) {
		if strings.HasSuffix(rel, dataExt) || strings.HasSuffix(rel, tombstoneExt) {
			if err := fsckFile(dev, rel); err != nil {
				t.Errorf("round %d: after the crash %s: %v", round, rel, err)
			}
		}
	}

	r := startNode(t, nil, nil, func(c *Config) {
		c.DevicesDir = img
		if edit != nil {
			edit(c)
		}
	})
	tg = r.target("d1", 3)
	newest := map[string]crashWrite{}
	for _, w := range acked {
		if w.at > newest[w.name].at {
			newest[w.name] = w
		}
	}
	for name, w := range newest {
		info, body, err := get(t, r, tg, name)
		var se *client.StatusError
		errors.As(err, &se)
		switch {
		case err != nil && se != nil && errors.Is(err, client.ErrNotFound) &&
			(se.Timestamp > w.at || w.body == nil && se.Timestamp == w.at):
			// deleted at w.at, or by a later delete that reached the disk
		case err != nil:
			t.Errorf("round %d: %s: acknowledged write at %v lost: %v", round, name, w.at, err)
		case info.Timestamp < w.at || w.body == nil && info.Timestamp == w.at:
			t.Errorf("round %d: %s acknowledged at %v, found older %v", round, name, w.at, info.Timestamp)
		default: // the acknowledged version, or a newer one that reached the disk unacknowledged
			found := false
			for _, c := range tried[name] {
				if c.at == info.Timestamp && bytes.Equal(c.body, body) {
					found = true
				}
			}
			if !found {
				t.Errorf("round %d: %s at %v: content is not what was written", round, name, info.Timestamp)
			}
		}
	}
	// Clean the hash directories (older versions a crash left beside newer ones) so the
	// restarted node's own fsck at cleanup sees the steady state.
	if _, err := r.cl.SuffixHashes(ctxT(t), tg); err != nil {
		t.Fatal(err)
	}
	t.Logf("round %d: %d writes acknowledged before the crash, %d names checked", round, len(acked), len(newest))
}
