package objectd

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"stratus/internal/hlc"
	"stratus/objectd/client"
)

// How the rest of the store sees the small-object log: a name's versions are its files and
// its log entry together, newest wins, so every reader (GET, HEAD, the missing check,
// suffix hashes, the replicator's push, the auditor, handoff removal, quarantine) works
// the same on either, and a name may move between them as its size changes.

// logged reports whether a version of this size goes to the log.
func (s *store) logged(rec client.Record) bool {
	return s.smallMax > 0 && (rec.Kind == client.KindTombstone || rec.Info.Length <= s.smallMax)
}

// allVersions lists the versions of a name hash in space sp, its files and its log entry,
// newest first. Only the object ring's space (sp "") has a log entry.
func (s *store) allVersions(devDir string, sp space, part uint32, hash string) ([]version, error) {
	vs, err := s.versions(hashDirIn(devDir, sp, part, hash))
	if err != nil || sp != "" {
		return vs, err
	}
	l, err := s.loadedLog(devDir)
	if err != nil {
		return nil, err
	}
	if e, ok := l.lookup(part, hash); ok {
		vs = append(vs, e.version())
		sortVersions(vs)
	}
	return vs, nil
}

// writeLog stores a version in the device's log: checked against the held versions like a
// file, appended with its batch, acknowledged once durable. Older version files of the name
// are removed afterwards, as a file write removes them.
func (s *store) writeLog(dev, devDir string, part uint32, hash string, rec client.Record, body io.Reader, want func() (client.Checksum, error)) error {
	l, err := s.devLog(devDir)
	if err != nil {
		return err
	}
	hdir := hashDir(devDir, part, hash)
	ts := rec.Info.Timestamp
	files, err := s.checkNewer(hdir, ts)
	if err != nil {
		return s.conflict(devDir, hdir, ts, err)
	}
	if err := s.newerLogged(devDir, "", part, hash, ts); err != nil {
		return err
	}
	frame, err := recordFrame(part, &rec, body, want)
	if err != nil {
		return err
	}
	held, installed, err := l.appendRecord(part, hash, frame, rec)
	if err != nil {
		return err
	}
	if !installed { // a newer version landed while this one was on its way
		return &VersionError{Timestamp: held.ts, Err: client.ErrConflict}
	}
	// A version file renamed into place since the check above is seen now; a newer one wins
	// (this entry is then obsolete, and the next cleanup drops it). A file write checks the
	// log again after its rename, so of two racing writes the later to check sees the other.
	files, err = s.versions(hdir)
	if err != nil {
		return err
	}
	if len(files) > 0 && files[0].ts >= ts {
		return s.conflict(devDir, hdir, ts, &VersionError{Timestamp: files[0].ts, Err: client.ErrConflict})
	}
	if len(files) > 0 {
		unlock := s.lock(hash)
		s.removeOlder(hdir, ts)
		s.fs.Remove(hdir) // only if empty
		unlock()
	}
	s.hashes.invalidate(dev, part, suffixOf(hash))
	if rec.Kind == client.KindData {
		s.m.writeBytes.WithLabelValues(dev).Add(float64(rec.Info.Length))
	}
	return nil
}

// recordFrame reads a version's content from body into a log frame, checked against want
// as writeRecord checks it, with its final header. rec gets its header length and checksum.
func recordFrame(part uint32, rec *client.Record, body io.Reader, want func() (client.Checksum, error)) ([]byte, error) {
	hdr, err := rec.MarshalBinary()
	if err != nil {
		return nil, err
	}
	n := rec.Info.Length
	plen := len(hdr) + int(n)
	buf := make([]byte, frameSize(plen))
	payload := buf[frameHeaderLen : frameHeaderLen+plen]
	copy(payload, hdr)
	if rec.Kind == client.KindData {
		content := payload[len(hdr):]
		if k, err := io.ReadFull(body, content); err != nil {
			return nil, fmt.Errorf("%w: body ended after %d of %d bytes: %v", client.ErrLength, k, n, err)
		}
		var extra [1]byte
		if k, _ := io.ReadFull(body, extra[:]); k > 0 {
			return nil, fmt.Errorf("%w: body longer than %d bytes", client.ErrLength, n)
		}
		sum, err := checkSum(client.ChecksumOf(content), want)
		if err != nil {
			return nil, err
		}
		rec.Info.Checksum = sum
		if err := finalHeader(*rec, payload[:len(hdr)]); err != nil {
			return nil, err
		}
	}
	putFrameHeader(buf, frameRecord, part, payload)
	return buf, nil
}

// newerLogged returns a *VersionError if the log holds a version of hash at least as new as
// ts. An entry is in the index only once durable, so a retry may take a refusal naming its
// own timestamp as success. Only the object ring's space (sp "") has a log.
func (s *store) newerLogged(devDir string, sp space, part uint32, hash string, ts hlc.Timestamp) error {
	if sp != "" {
		return nil
	}
	l, err := s.loadedLog(devDir)
	if err != nil {
		return err
	}
	if e, ok := l.lookup(part, hash); ok && e.ts >= ts {
		return &VersionError{Timestamp: e.ts, Err: client.ErrConflict}
	}
	return nil
}

// openLogged opens a version held in the log. A segment compacted away since the lookup is
// ErrNotFound, which makes open look again; a damaged record is quarantined.
func (s *store) openLogged(l *devLog, dev string, part uint32, hash string, e logEntry) (*object, error) {
	f, err := s.fs.OpenFile(l.segPath(e.seg), os.O_RDONLY, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: version %s", client.ErrNotFound, e.version().file())
		}
		return nil, err
	}
	o := &object{f: f, dev: dev, devDir: l.devDir, part: part, hash: hash, file: e.version().file(),
		base: e.off + frameHeaderLen, size: e.hdrLen + e.length, logged: true}
	if err := o.readHeader(e.version()); err != nil {
		f.Close()
		s.quarantine(o, err.Error())
		return nil, fmt.Errorf("%w: %v", client.ErrCorrupt, err)
	}
	return o, nil
}

// quarantineLogged copies a damaged log record to the quarantine directory, as a file, and
// drops it from the log. Call with the name's lock held.
func (s *store) quarantineLogged(o *object, reason string) {
	l, err := s.devLog(o.devDir)
	if err != nil {
		s.log.Error("quarantine", "device", o.dev, "partition", o.part, "hash", o.hash, "err", err)
		return
	}
	e, ok := l.lookup(o.part, o.hash)
	if !ok || e.version().file() != o.file {
		return // replaced or gone since it was read
	}
	qdir := filepath.Join(o.devDir, quarantineDir, objectsDir, o.hash)
	if err := s.mkdirs(o.devDir, qdir); err == nil {
		// Keep the damaged bytes for inspection; the log is the authority, so a failure here
		// only loses the evidence.
		if src, err := s.fs.OpenFile(l.segPath(e.seg), os.O_RDONLY, 0); err == nil {
			b := make([]byte, e.hdrLen+e.length)
			n, _ := src.ReadAt(b, e.off+frameHeaderLen)
			src.Close()
			if dst, err := s.fs.OpenFile(filepath.Join(qdir, o.file), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644); err == nil {
				dst.Write(b[:n])
				dst.Sync()
				dst.Close()
			}
		}
	}
	if _, err := l.appendDrop(o.part, o.hash, e.ts); err != nil {
		s.log.Error("quarantine", "device", o.dev, "partition", o.part, "hash", o.hash, "err", err)
		return
	}
	s.hashes.invalidate(o.dev, o.part, suffixOf(o.hash))
	s.m.quarantined.WithLabelValues(o.dev).Inc()
	s.log.Warn("quarantined object log record", "device", o.dev, "partition", o.part, "hash", o.hash,
		"segment", segName(e.seg), "offset", e.off, "reason", reason)
}
