package objectd

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
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
	now        func() time.Time
	log        *slog.Logger
	m          *metrics
	hashes     hashCache
	locks      [256]sync.Mutex
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

// checkNewer returns a *VersionError unless ts is newer than every version in hdir.
func (s *store) checkNewer(hdir string, ts hlc.Timestamp) error {
	vs, err := s.versions(hdir)
	if err != nil {
		return err
	}
	if len(vs) > 0 && vs[0].ts >= ts {
		return &VersionError{Timestamp: vs[0].ts, Err: client.ErrConflict}
	}
	return nil
}

// write stores one version. For a data record, body must yield exactly rec.Info.Length
// bytes and want, called once the body is consumed, returns the checksum the content must
// have. The version is visible only once complete, verified and durable: content and header
// go to a temp file that is fsynced, renamed into the hash directory, and the directory is
// fsynced. Older versions of the name are then removed.
func (s *store) write(dev string, part uint32, rec client.Record, body io.Reader, want func() (client.Checksum, error)) error {
	devDir, err := s.devicePath(dev)
	if err != nil {
		return err
	}
	if err := client.CheckName(rec.Info.Name); err != nil {
		return err
	}
	if rec.Kind == client.KindTombstone {
		rec.Info = client.Info{Name: rec.Info.Name, Timestamp: rec.Info.Timestamp}
	}
	if err := client.CheckMeta(&rec.Info); err != nil {
		return err
	}
	hash := nameHash(rec.Info.Name)
	hdir := hashDir(devDir, part, hash)
	ts := rec.Info.Timestamp
	if err := s.checkNewer(hdir, ts); err != nil {
		return err
	}

	tmp, err := s.createTemp(devDir, hash)
	if err != nil {
		return noSpace(err)
	}
	tmpName, open := tmp.Name(), true
	// Create the hash directory (fsyncing each parent that gains an entry) while the content
	// streams, so those fsyncs are not added to the PUT's latency. If the write fails, an
	// empty directory is removed again.
	var prep sync.WaitGroup
	var prepErr error
	defer func() {
		if open {
			tmp.Close()
		}
		if tmpName != "" {
			s.fs.Remove(tmpName)
			prep.Wait()
			unlock := s.lock(hash)
			s.fs.Remove(hdir) // only if empty
			unlock()
		}
	}()
	prep.Go(func() { prepErr = s.mkdirs(devDir, hdir) })
	defer prep.Wait()
	hdr, err := rec.MarshalBinary()
	if err != nil {
		return err
	}
	if _, err := tmp.Write(hdr); err != nil {
		return fmt.Errorf("write %s: %w", tmpName, noSpace(err))
	}
	if rec.Kind == client.KindData {
		sum, err := copyContent(tmp, int64(len(hdr)), body, rec.Info.Length)
		if err != nil {
			return err
		}
		expect, err := want()
		if err != nil {
			return err
		}
		if sum != expect {
			return fmt.Errorf("%w: content %v, sender said %v", client.ErrChecksum, sum, expect)
		}
		rec.Info.Checksum = sum
		final, err := rec.MarshalBinary()
		if err != nil {
			return err
		}
		if len(final) != len(hdr) {
			return fmt.Errorf("%w: header length changed", client.ErrInternal)
		}
		if _, err := tmp.WriteAt(final, 0); err != nil {
			return fmt.Errorf("write %s: %w", tmpName, noSpace(err))
		}
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmpName, noSpace(err))
	}
	open = false
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmpName, noSpace(err))
	}

	prep.Wait()
	if prepErr != nil {
		return noSpace(prepErr)
	}
	unlock := s.lock(hash)
	defer unlock()
	if err := s.checkNewer(hdir, ts); err != nil {
		return err
	}
	final := filepath.Join(hdir, fileName(rec.Kind, ts))
	for attempt := 0; ; attempt++ {
		if err := s.mkdirs(devDir, hdir); err != nil {
			return noSpace(err)
		}
		err := s.fs.Rename(tmpName, final)
		if err == nil {
			break
		}
		// A handoff cleanup may remove an empty suffix or partition directory between
		// mkdirs and rename; try again.
		if !errors.Is(err, fs.ErrNotExist) || attempt == 2 {
			return fmt.Errorf("publish %s: %w", final, noSpace(err))
		}
	}
	tmpName = ""
	if err := s.syncDir(hdir); err != nil {
		// The version is in place but may not survive a crash; say so rather than ack.
		return fmt.Errorf("fsync %s: %w", hdir, noSpace(err))
	}
	s.removeOlder(hdir, ts)
	s.hashes.invalidate(dev, part, suffixOf(hash))
	if rec.Kind == client.KindData {
		s.m.writeBytes.WithLabelValues(dev).Add(float64(rec.Info.Length))
	}
	return nil
}

// writebackBytes is how much content is written before asking the kernel to start writing
// it back (see startWriteback).
const writebackBytes = 1 << 20

// pipelineDepth is how many buffers a PUT has in flight between the goroutine reading the
// network and the one writing the disk; it bounds memory per PUT at pipelineDepth*bufSize.
const pipelineDepth = 4

type chunk struct {
	bp  *[]byte
	n   int
	err error
}

// copyContent copies exactly n bytes from body to f, which is at offset off, and returns
// their checksum. Reading (and checksumming) runs in its own goroutine, a few buffers ahead
// of writing, so the network and the disk work at the same time. A body that ends early is
// ErrLength; a write error is the disk's.
func copyContent(f io.Writer, off int64, body io.Reader, n int64) (client.Checksum, error) {
	free := make(chan *[]byte, pipelineDepth)
	for range pipelineDepth {
		free <- getBuf()
	}
	full := make(chan chunk, pipelineDepth)
	stop := make(chan struct{})
	var sum client.Checksum
	var wg sync.WaitGroup
	wg.Go(func() { // the reader; owned here, waited for below
		defer close(full)
		for left := n; left > 0; {
			var bp *[]byte
			select {
			case bp = <-free:
			case <-stop:
				return
			}
			k, err := io.ReadFull(body, (*bp)[:min(int64(len(*bp)), left)])
			sum = sum.Update((*bp)[:k])
			left -= int64(k)
			if err != nil {
				err = fmt.Errorf("%w: body ended after %d of %d bytes: %v", client.ErrLength, n-left, n, err)
			}
			full <- chunk{bp, k, err}
			if err != nil {
				return
			}
		}
	})
	var werr error
	flushed := off
	for c := range full {
		if werr == nil && c.n > 0 {
			if _, err := f.Write((*c.bp)[:c.n]); err != nil {
				werr = fmt.Errorf("write content: %w", noSpace(err))
				close(stop)
			}
			off += int64(c.n)
			if off-flushed >= writebackBytes {
				startWriteback(f, flushed, off-flushed)
				flushed = off
			}
		}
		if werr == nil && c.err != nil {
			werr = c.err
		}
		free <- c.bp
	}
	wg.Wait()
	close(free)
	for bp := range free {
		putBuf(bp)
	}
	if werr != nil {
		return 0, werr
	}
	var extra [1]byte
	if k, _ := io.ReadFull(body, extra[:]); k > 0 {
		return 0, fmt.Errorf("%w: body longer than %d bytes", client.ErrLength, n)
	}
	return sum, nil
}

// createTemp creates a new temp file on the device.
func (s *store) createTemp(devDir, hash string) (faultfs.File, error) {
	dir := filepath.Join(devDir, tmpDir)
	for attempt := 0; ; attempt++ {
		name := filepath.Join(dir, fmt.Sprintf("%s.%016x.tmp", hash, rand.Uint64()))
		f, err := s.fs.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrNotExist) || attempt > 0 {
			return nil, fmt.Errorf("create temp file: %w", err)
		}
		if err := s.fs.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
	}
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

// cleanup removes every version but the newest from hdir, reclaims the newest if it is a
// tombstone older than the reclaim age, and removes the directory once empty. It returns
// the surviving version, if any.
func (s *store) cleanup(dev string, part uint32, hdir string) (version, bool, error) {
	unlock := s.lock(filepath.Base(hdir))
	defer unlock()
	vs, err := s.versions(hdir)
	if err != nil || len(vs) == 0 {
		return version{}, false, err
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
		s.hashes.invalidate(dev, part, suffixOf(filepath.Base(hdir)))
		return version{}, false, nil
	}
	return newest, true, nil
}

// object is an open version ready to serve.
type object struct {
	f   faultfs.File
	rec client.Record
	// where it lives, for quarantine
	dev, devDir string
	part        uint32
	hash, file  string
}

// open opens the newest version of name. It returns a *VersionError wrapping ErrNotFound if
// the name is deleted, and ErrCorrupt (after quarantining the file) if the file is damaged.
func (s *store) open(dev string, part uint32, name string) (*object, error) {
	devDir, err := s.devicePath(dev)
	if err != nil {
		return nil, err
	}
	hash := nameHash(name)
	hdir := hashDir(devDir, part, hash)
	var o *object
	for attempt := 0; ; attempt++ {
		vs, err := s.versions(hdir)
		if err != nil {
			return nil, err
		}
		if len(vs) == 0 {
			return nil, fmt.Errorf("%w: %q", client.ErrNotFound, name)
		}
		if vs[0].kind == client.KindTombstone {
			return nil, &VersionError{Timestamp: vs[0].ts, Err: client.ErrNotFound}
		}
		o, err = s.openFile(dev, devDir, part, hash, vs[0])
		// A newer version may have replaced the listed one between the listing and the
		// open; look again rather than answer 404 for a name that exists.
		if errors.Is(err, client.ErrNotFound) && attempt < 5 {
			continue
		}
		if err != nil {
			return nil, err
		}
		break
	}
	if o.rec.Info.Name != name {
		o.f.Close()
		return nil, fmt.Errorf("%w: %q (hash directory holds %q)", client.ErrNotFound, name, o.rec.Info.Name)
	}
	return o, nil
}

// openFile opens one version file and checks its header. A damaged file is quarantined and
// reported as ErrCorrupt; a file gone since it was listed is ErrNotFound.
func (s *store) openFile(dev, devDir string, part uint32, hash string, v version) (*object, error) {
	o := &object{dev: dev, devDir: devDir, part: part, hash: hash, file: v.file()}
	var err error
	o.f, err = s.fs.OpenFile(filepath.Join(hashDir(devDir, part, hash), o.file), os.O_RDONLY, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) { // replaced or quarantined since the listing
			return nil, fmt.Errorf("%w: version %s", client.ErrNotFound, o.file)
		}
		return nil, err
	}
	if err := o.readHeader(v); err != nil {
		o.f.Close()
		s.quarantine(o, err.Error())
		return nil, fmt.Errorf("%w: %v", client.ErrCorrupt, err)
	}
	return o, nil
}

// readHeader reads and checks the header and the file size.
func (o *object) readHeader(v version) error {
	rec, err := client.ReadRecord(io.NewSectionReader(o.f, 0, 1<<62))
	if err != nil {
		return err
	}
	if rec.Kind != v.kind || rec.Info.Timestamp != v.ts {
		return fmt.Errorf("header says kind %d at %v, file name %s", rec.Kind, rec.Info.Timestamp, o.file)
	}
	st, err := o.f.Stat()
	if err != nil {
		return err
	}
	if st.Size() != rec.HeaderLen+rec.Info.Length {
		return fmt.Errorf("file is %d bytes, header says %d", st.Size(), rec.HeaderLen+rec.Info.Length)
	}
	o.rec = rec
	return nil
}

// content returns a reader of the content bytes [off, off+n).
func (o *object) content(off, n int64) *io.SectionReader {
	return io.NewSectionReader(o.f, o.rec.HeaderLen+off, n)
}

// quarantine moves a damaged version out of the object tree, so that reads stop finding it
// and the suffix hash changes, which makes replication restore a good copy.
func (s *store) quarantine(o *object, reason string) {
	unlock := s.lock(o.hash)
	defer unlock()
	src := filepath.Join(hashDir(o.devDir, o.part, o.hash), o.file)
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
	s.hashes.invalidate(o.dev, o.part, suffixOf(o.hash))
	s.m.quarantined.WithLabelValues(o.dev).Inc()
	s.log.Warn("quarantined object file", "device", o.dev, "partition", o.part, "path", src, "reason", reason)
}

// verify reads the whole content through limit (which may block to pace the read) and checks
// it against the header; a mismatch quarantines the file and returns ErrCorrupt.
func (s *store) verify(o *object, limit func(n int) error) error {
	bp := getBuf()
	defer putBuf(bp)
	sr := o.content(0, o.rec.Info.Length)
	var sum client.Checksum
	for {
		if limit != nil {
			if err := limit(len(*bp)); err != nil {
				return err
			}
		}
		n, err := sr.Read(*bp)
		sum = sum.Update((*bp)[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", o.file, err)
		}
	}
	if sum != o.rec.Info.Checksum {
		reason := fmt.Sprintf("content checksum %v, header %v", sum, o.rec.Info.Checksum)
		s.quarantine(o, reason)
		return fmt.Errorf("%w: %s", client.ErrCorrupt, reason)
	}
	return nil
}
