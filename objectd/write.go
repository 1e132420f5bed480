package objectd

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"

	"stratus/internal/faultfs"
	"stratus/objectd/client"
)

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
	if err := preallocate(tmp, int64(len(hdr))+rec.Info.Length); err != nil {
		return fmt.Errorf("reserve %d bytes: %w", rec.Info.Length, noSpace(err))
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
