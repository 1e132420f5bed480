package objectd

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"stratus/internal/faultfs"
	"stratus/internal/hlc"
	"stratus/objectd/client"
)

// write stores one version. For a data record, body must yield exactly rec.Info.Length
// bytes and want, called once the body is consumed, returns the checksum the content must
// have. The version is visible only once complete and verified, and acknowledged only once
// durable: content and header go to a temp file that is fsynced, renamed into the hash
// directory, and the new directory entries are made durable (see durable.go). Older
// versions of the name are then removed. A version dated too far ahead (checkSkew) is
// refused before anything is read or written.
func (s *store) write(dev string, sp space, part uint32, rec client.Record, body io.Reader, want func() (client.Checksum, error)) error {
	devDir, err := s.devicePath(dev)
	if err != nil {
		return err
	}
	if err := s.checkSkew(rec.Info.Timestamp); err != nil {
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
	// Only the object ring's space has a small-object log; other spaces hold EC fragment
	// archives, always in files.
	if sp == "" && s.logged(rec) {
		return s.writeLog(dev, devDir, part, hash, rec, body, want)
	}
	hdir := hashDirIn(devDir, sp, part, hash)
	ts := rec.Info.Timestamp
	if _, err := s.checkNewer(hdir, ts); err != nil {
		return s.conflict(devDir, hdir, ts, err)
	}
	if err := s.newerLogged(devDir, sp, part, hash, ts); err != nil {
		return err
	}
	hdr, err := rec.MarshalBinary()
	if err != nil {
		return err
	}
	small := rec.Info.Length <= groupCommitBytes

	tmp, err := s.createTemp(devDir, hash)
	if err != nil {
		return noSpace(err)
	}
	tmpName, open := tmp.Name(), true
	var plan dirPlan
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
			if s.fs.Remove(hdir) == nil && slices.Contains(plan.created, hdir) { // only if empty
				s.dirs.done(hdir)
			}
			unlock()
		}
	}()
	if !small {
		// Create the hash directory (and make new entries durable) while the content
		// streams, so those fsyncs are not added to the PUT's latency. If the write fails,
		// an empty directory is removed again.
		prep.Go(func() {
			if prepErr = s.makeDirs(devDir, hdir, &plan); prepErr == nil {
				if prepErr = s.syncDirs(plan.sync); prepErr == nil {
					plan.sync = nil
					s.settle(&plan)
				}
			}
		})
		defer prep.Wait()
		if err := preallocate(tmp, int64(len(hdr))+rec.Info.Length); err != nil {
			return fmt.Errorf("reserve %d bytes: %w", rec.Info.Length, noSpace(err))
		}
	}
	if err := s.writeRecord(tmp, rec, hdr, body, want); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmpName, noSpace(err))
	}
	open = false
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmpName, noSpace(err))
	}

	if small {
		prepErr = s.makeDirs(devDir, hdir, &plan)
	}
	prep.Wait()
	if prepErr != nil {
		return noSpace(prepErr)
	}
	unlock := s.lock(hash)
	older, err := s.checkNewer(hdir, ts)
	if err != nil {
		unlock()
		return s.conflict(devDir, hdir, ts, err)
	}
	if err := s.newerLogged(devDir, sp, part, hash, ts); err != nil {
		unlock()
		return err
	}
	final := filepath.Join(hdir, fileName(rec.Kind, ts))
	for attempt := 0; ; attempt++ {
		err := s.fs.Rename(tmpName, final)
		if err == nil {
			break
		}
		// A handoff cleanup may remove an empty suffix or partition directory between
		// makeDirs and rename; create them again.
		if !errors.Is(err, fs.ErrNotExist) || attempt == 2 {
			unlock()
			return fmt.Errorf("publish %s: %w", final, noSpace(err))
		}
		if err := s.makeDirs(devDir, hdir, &plan); err != nil {
			unlock()
			return noSpace(err)
		}
	}
	tmpName = ""
	// A version in the small-object log is installed without this lock; one installed since
	// the check above is seen now, and wins: this version is refused as the rename would
	// have been, and its file goes.
	if err := s.newerLogged(devDir, sp, part, hash, ts); err != nil {
		s.fs.Remove(final)
		// Directories this write created stay tracked as not durable (a later write below
		// them makes their entries durable itself), unless gone again.
		if s.fs.Remove(hdir) == nil && slices.Contains(plan.created, hdir) {
			s.dirs.done(hdir)
		}
		unlock()
		return err
	}
	unlock()
	// The version is in place but may not survive a crash until its entry (and any new
	// directory's) is durable; an error here means it must not be acknowledged.
	plan.addSync(hdir)
	if small {
		err = s.commits(devDir).sync(plan.sync, func(dirs []string) error { return s.barrier(devDir, dirs) })
	} else {
		err = s.syncDirs(plan.sync)
	}
	if err != nil {
		return noSpace(err)
	}
	s.settle(&plan)
	// Only now may older versions go: had they gone first, a crash could leave neither.
	for _, v := range older {
		if err := s.fs.Remove(filepath.Join(hdir, v.file())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("remove old version", "path", filepath.Join(hdir, v.file()), "err", err)
		}
	}
	if sp == "" {
		s.hashes.invalidate(dev, part, suffixOf(hash))
	}
	if rec.Kind == client.KindData {
		s.m.writeBytes.WithLabelValues(dev).Add(float64(rec.Info.Length))
	}
	return nil
}

// conflict returns err, a refusal from checkNewer. A refusal that names ts itself tells a
// retrying sender that its write is already here, which it takes as success; the version
// found may be one a write still in flight has renamed but not yet made durable, so it is
// made durable first.
func (s *store) conflict(devDir, hdir string, ts hlc.Timestamp, err error) error {
	var ve *VersionError
	if !errors.As(err, &ve) || ve.Timestamp != ts {
		return err
	}
	var p dirPlan
	for d := hdir; len(d) > len(devDir); d = filepath.Dir(d) {
		p.addSync(d)
	}
	if serr := s.commits(devDir).sync(p.sync, func(dirs []string) error { return s.barrier(devDir, dirs) }); serr != nil {
		return noSpace(serr)
	}
	return err
}

// writeRecord writes a record to f, which is empty: the header, then for data the content
// from body, checked against want. A small record is gathered in one buffer and written
// with its final header in one call; a large one streams behind a placeholder header that
// is rewritten once the checksum is known.
func (s *store) writeRecord(f faultfs.File, rec client.Record, hdr []byte, body io.Reader, want func() (client.Checksum, error)) error {
	if rec.Kind != client.KindData {
		if _, err := f.Write(hdr); err != nil {
			return fmt.Errorf("write %s: %w", f.Name(), noSpace(err))
		}
		return nil
	}
	n := rec.Info.Length
	if int64(len(hdr))+n <= bufSize {
		bp := getBuf()
		defer putBuf(bp)
		buf := (*bp)[:int64(len(hdr))+n]
		content := buf[len(hdr):]
		if k, err := io.ReadFull(body, content); err != nil {
			return fmt.Errorf("%w: body ended after %d of %d bytes: %v", client.ErrLength, k, n, err)
		}
		var extra [1]byte
		if k, _ := io.ReadFull(body, extra[:]); k > 0 {
			return fmt.Errorf("%w: body longer than %d bytes", client.ErrLength, n)
		}
		sum, err := checkSum(client.ChecksumOf(content), want)
		if err != nil {
			return err
		}
		rec.Info.Checksum = sum
		if err := finalHeader(rec, buf[:len(hdr)]); err != nil {
			return err
		}
		if _, err := f.Write(buf); err != nil {
			return fmt.Errorf("write %s: %w", f.Name(), noSpace(err))
		}
		return nil
	}
	if _, err := f.Write(hdr); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), noSpace(err))
	}
	got, err := copyContent(f, int64(len(hdr)), body, n)
	if err != nil {
		return err
	}
	sum, err := checkSum(got, want)
	if err != nil {
		return err
	}
	rec.Info.Checksum = sum
	if err := finalHeader(rec, hdr); err != nil {
		return err
	}
	if _, err := f.WriteAt(hdr, 0); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), noSpace(err))
	}
	return nil
}

// checkSum compares the content's checksum with the sender's.
func checkSum(sum client.Checksum, want func() (client.Checksum, error)) (client.Checksum, error) {
	expect, err := want()
	if err != nil {
		return 0, err
	}
	if sum != expect {
		return 0, fmt.Errorf("%w: content %v, sender said %v", client.ErrChecksum, sum, expect)
	}
	return sum, nil
}

// finalHeader overwrites hdr, the placeholder header, with rec's, which must be as long.
func finalHeader(rec client.Record, hdr []byte) error {
	final, err := rec.MarshalBinary()
	if err != nil {
		return err
	}
	if len(final) != len(hdr) {
		return fmt.Errorf("%w: header length changed", client.ErrInternal)
	}
	copy(hdr, final)
	return nil
}

// writebackBytes is how much content is written before asking the kernel to start writing
// it back (see startWriteback). At 4 MiB with one stream, starting writeback only at the
// end (4 MiB) reached 0.55 of the durable ceiling, 1 MiB about 0.75; 256 and 512 KiB were
// not reliably better on the development VM.
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
