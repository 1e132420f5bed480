package objectd

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"stratus/internal/faultfs"
	"stratus/internal/hlc"
	"stratus/objectd/client"
)

// object is an open version ready to serve.
type object struct {
	f   faultfs.File
	rec client.Record
	// where it lives, for quarantine
	dev, devDir string
	sp          space
	part        uint32
	hash, file  string
	// base is where the record starts in f, and size its length: 0 and the file's size for
	// a version file; the frame's payload for a version in the small-object log.
	base, size int64
	logged     bool
}

// open opens the newest version of name. It returns a *VersionError wrapping ErrNotFound if
// the name is deleted, and ErrCorrupt (after quarantining the file) if the file is damaged.
func (s *store) open(dev string, sp space, part uint32, name string) (*object, error) {
	devDir, err := s.devicePath(dev)
	if err != nil {
		return nil, err
	}
	hash := nameHash(name)
	var o *object
	for attempt := 0; ; attempt++ {
		vs, err := s.allVersions(devDir, sp, part, hash)
		if err != nil {
			return nil, err
		}
		if len(vs) == 0 {
			return nil, fmt.Errorf("%w: %q", client.ErrNotFound, name)
		}
		if vs[0].kind == client.KindTombstone {
			return nil, &VersionError{Timestamp: vs[0].ts, Err: client.ErrNotFound}
		}
		o, err = s.openFile(dev, devDir, sp, part, hash, vs[0])
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
	return o.holds(name)
}

// openVersion opens version ts of name without listing its hash directory, the common case
// of a reader that knows which version it wants; if that file is not there it answers as
// open does (the newest version, or why there is none).
func (s *store) openVersion(dev string, sp space, part uint32, name string, ts hlc.Timestamp) (*object, error) {
	devDir, err := s.devicePath(dev)
	if err != nil {
		return nil, err
	}
	o, err := s.openFile(dev, devDir, sp, part, nameHash(name), version{ts: ts, kind: client.KindData})
	if errors.Is(err, client.ErrNotFound) {
		return s.open(dev, sp, part, name)
	}
	if err != nil {
		return nil, err
	}
	return o.holds(name)
}

// holds returns o if it is a version of name, and closes it otherwise: two names can share a
// hash directory only by an MD5 collision, and the header, not the path, says whose it is.
func (o *object) holds(name string) (*object, error) {
	if o.rec.Info.Name != name {
		o.f.Close()
		return nil, fmt.Errorf("%w: %q (hash directory holds %q)", client.ErrNotFound, name, o.rec.Info.Name)
	}
	return o, nil
}

// openFile opens one version file and checks its header. A damaged file is quarantined and
// reported as ErrCorrupt; a file gone since it was listed is ErrNotFound.
func (s *store) openFile(dev, devDir string, sp space, part uint32, hash string, v version) (*object, error) {
	if sp == "" { // only the object ring's space has a small-object log
		l, err := s.loadedLog(devDir)
		if err != nil {
			return nil, err
		}
		if e, ok := l.lookup(part, hash); ok && e.ts == v.ts && e.kind == v.kind {
			return s.openLogged(l, dev, part, hash, e)
		}
	}
	o := &object{dev: dev, devDir: devDir, sp: sp, part: part, hash: hash, file: v.file()}
	var err error
	o.f, err = s.fs.OpenFile(filepath.Join(hashDirIn(devDir, sp, part, hash), o.file), os.O_RDONLY, 0)
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
	rec, err := client.ReadRecord(io.NewSectionReader(o.f, o.base, 1<<62))
	if err != nil {
		return err
	}
	if rec.Kind != v.kind || rec.Info.Timestamp != v.ts {
		return fmt.Errorf("header says kind %d at %v, file name %s", rec.Kind, rec.Info.Timestamp, o.file)
	}
	size := o.size
	if !o.logged {
		st, err := o.f.Stat()
		if err != nil {
			return err
		}
		size = st.Size()
	}
	if size != rec.HeaderLen+rec.Info.Length {
		return fmt.Errorf("record is %d bytes, header says %d", size, rec.HeaderLen+rec.Info.Length)
	}
	o.rec = rec
	return nil
}

// content returns a reader of the content bytes [off, off+n).
func (o *object) content(off, n int64) *io.SectionReader {
	return io.NewSectionReader(o.f, o.base+o.rec.HeaderLen+off, n)
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
