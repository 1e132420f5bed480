package objectd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"stratus/ec"
	"stratus/internal/hlc"
	"stratus/objectd/client"
	"stratus/ring"
)

// The reconstructor heals erasure-coded objects, whose K+M fragment archives differ from
// device to device, so the replicator cannot copy one over another (layout.go, "space").
// Each pass walks the trees of the policy rings this node has (SetPolicyRing), and for the
// newest version of every name:
//
//   - an archive on the primary of its fragment index has its checksum checked (a bad one
//     is quarantined) and its right-hand neighbour (fragment index + 1, cyclically) asked
//     whether it holds the version; if not, the object is decoded from K archives and the
//     neighbour's fragment rebuilt and stored there with the same timestamp. A neighbour
//     whose node is down is skipped and the next one checked in its stead (its left-hand
//     neighbour being the one down), so a loss next to a down node is still rebuilt. A
//     neighbour holding a newer tombstone has it carried here instead: the archive missed
//     a deletion, and is not used to rebuild anything.
//   - an archive kept off its primary — on a handoff device under client.ECHandoffName,
//     or under its own name on a device that is not (or no longer, after a ring change)
//     the primary of its index — is pushed to that primary unless it holds the version
//     or a newer one, and then removed here (reconstructor_revert.go).
//   - a tombstone is carried the same ways (to the right-hand neighbour if it holds an
//     older archive, to the primary if kept elsewhere) and removed after ReclaimAge.
//
// Every archive has a left-hand neighbour, so a lost or quarantined fragment is rebuilt
// within a pass or two by one node. The checksum checks share the auditor's byte rate
// (AuditBytesPerSecond); rebuilds and reverts have their own (ReconstructBytesPerSecond).

// ReconstructReport says what one reconstruction pass did.
type ReconstructReport struct {
	Archives          int   // newest archives looked at
	Tombstones        int   // newest tombstones looked at
	Rebuilt           int   // neighbours' fragments rebuilt and stored
	Reverted          int   // archives pushed from where they were kept to their primary
	Removed           int   // archives and tombstones removed once their primary held them (or newer)
	TombstonesCarried int   // tombstones given to a device holding an older archive, or to the primary
	Reaped            int   // tombstones removed after the reclaim age
	Quarantined       int   // own archives that failed their checksum
	Skipped           int   // not readable as archives of this ring
	Errors            int   // neighbours unreachable, rebuilds or reverts that failed
	Bytes             int64 // decoded, written or pushed by rebuilds and reverts
}

func (r *ReconstructReport) add(o ReconstructReport) {
	r.Archives += o.Archives
	r.Tombstones += o.Tombstones
	r.Rebuilt += o.Rebuilt
	r.Reverted += o.Reverted
	r.Removed += o.Removed
	r.TombstonesCarried += o.TombstonesCarried
	r.Reaped += o.Reaped
	r.Quarantined += o.Quarantined
	r.Skipped += o.Skipped
	r.Errors += o.Errors
	r.Bytes += o.Bytes
}

// SetPolicyRing adopts r as the ring named name (an erasure-coded policy's, as published
// in meta) if it is newer than the one held under that name, and reports whether it did.
func (s *Server) SetPolicyRing(name string, r *ring.Ring) bool {
	return s.policyRings.Adopt(name, r)
}

// ReconstructOnce runs one reconstruction pass (see above). The error is for the pass as a
// whole; per-archive trouble is counted in the report and retried next pass.
func (s *Server) ReconstructOnce(ctx context.Context) (ReconstructReport, error) {
	var rep ReconstructReport
	rings := s.policyRings.All()
	if len(rings) == 0 {
		return rep, nil
	}
	s.reconMu.Lock()
	defer s.reconMu.Unlock()
	start := time.Now()
	defer func() { s.m.recon.pass(rep, time.Since(start)) }()
	self := s.self()
	for name, r := range rings {
		sp := space(name)
		for _, d := range r.Devices() {
			if d.Host != self {
				continue
			}
			devDir, err := s.store.devicePath(d.Name)
			if err != nil {
				continue
			}
			ents, err := s.store.fs.ReadDir(filepath.Join(devDir, sp.dir()))
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return rep, fmt.Errorf("list %s: %w", sp.dir(), err)
			}
			for _, e := range ents {
				p, err := strconv.ParseUint(e.Name(), 10, 32)
				if err != nil || !e.IsDir() || int(p) >= r.PartitionCount() {
					continue
				}
				if err := s.reconstructPartition(ctx, r, name, d, devDir, uint32(p), &rep); err != nil {
					return rep, err
				}
			}
		}
	}
	if rep.Rebuilt+rep.Reverted+rep.Removed+rep.TombstonesCarried+rep.Reaped+rep.Quarantined+rep.Errors > 0 {
		s.log.Info("reconstruction pass", "archives", rep.Archives, "tombstones", rep.Tombstones,
			"rebuilt", rep.Rebuilt, "reverted", rep.Reverted, "removed", rep.Removed,
			"tombstones_carried", rep.TombstonesCarried, "reaped", rep.Reaped,
			"quarantined", rep.Quarantined, "skipped", rep.Skipped, "errors", rep.Errors, "bytes", rep.Bytes)
	}
	return rep, ctx.Err()
}

// reconJob is the newest version of one name on one device, with where its fragments go.
type reconJob struct {
	ring   string
	prims  []*ring.Device // fragment i on prims[i]
	pos    int            // the device's fragment index in the partition; -1: not a primary
	dev    string
	devDir string
	part   uint32
	hash   string
	v      version
}

func (j reconJob) target(i int) client.Target {
	return client.Target{Host: j.prims[i].Host, Device: j.prims[i].Name, Partition: j.part, Ring: j.ring}
}

func (s *Server) reconstructPartition(ctx context.Context, r *ring.Ring, ringName string, d *ring.Device, devDir string, part uint32, rep *ReconstructReport) error {
	sp := space(ringName)
	prims := r.Primaries(ring.Partition(part), nil)
	pos := -1
	for i, p := range prims {
		if p.ID == d.ID {
			pos = i
		}
	}
	pdir := filepath.Join(devDir, sp.dir(), strconv.FormatUint(uint64(part), 10))
	sfxs, err := s.store.fs.ReadDir(pdir)
	if err != nil {
		return nil // gone since listed
	}
	for _, sfx := range sfxs {
		if !validSuffix(sfx.Name()) {
			continue
		}
		hashes, _ := s.store.fs.ReadDir(filepath.Join(pdir, sfx.Name()))
		for _, h := range hashes {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !validHash(h.Name()) {
				continue
			}
			vs, err := s.store.versions(hashDirIn(devDir, sp, part, h.Name()))
			if err != nil || len(vs) == 0 {
				continue
			}
			j := reconJob{ring: ringName, prims: prims, pos: pos, dev: d.Name, devDir: devDir, part: part, hash: h.Name(), v: vs[0]}
			switch vs[0].kind {
			case client.KindData:
				rep.Archives++
				s.reconstructArchive(ctx, j, rep)
			case client.KindTombstone:
				rep.Tombstones++
				s.reconstructTombstone(ctx, j, rep)
			}
		}
		s.store.fs.Remove(filepath.Join(pdir, sfx.Name())) // only succeeds when empty
	}
	s.store.fs.Remove(pdir)
	return nil
}

// reconstructArchive checks one archive, and moves it to its primary or checks its
// neighbours'.
func (s *Server) reconstructArchive(ctx context.Context, j reconJob, rep *ReconstructReport) {
	sp := space(j.ring)
	o, err := s.store.openFile(j.dev, j.devDir, sp, j.part, j.hash, j.v)
	if err != nil {
		if errors.Is(err, client.ErrCorrupt) {
			rep.Quarantined++
		}
		return
	}
	defer o.f.Close()
	info := o.rec.Info
	var sum client.Checksum
	// The check shares the auditor's byte rate: both re-read the disk behind clients' backs.
	if _, err := io.Copy(checksumWriter{sum: &sum, limit: func(n int) error { return s.auditThrottle.wait(ctx, n) }}, o.content(0, info.Length)); err != nil {
		return // cancelled, or the read failed: next pass
	}
	if sum != info.Checksum {
		s.store.quarantine(o, fmt.Sprintf("fragment archive checksum %v, header %v", sum, info.Checksum))
		rep.Quarantined++
		return
	}
	h, err := ec.ReadHeader(o.content(0, info.Length))
	if err != nil || h.K+h.M != len(j.prims) {
		rep.Skipped++ // not an archive of this ring's code
		return
	}
	if idx, name, ok := client.ParseECHandoffName(info.Name); ok {
		if name == "" {
			name = info.Meta[client.MetaECName]
		}
		if idx != h.Index || client.CheckName(name) != nil {
			rep.Skipped++
			return
		}
		s.revertArchive(ctx, j, o, h, name, rep)
		return
	}
	if h.Index != j.pos {
		// Not this device's fragment: a ring change moved its primary (or made this
		// device another fragment's).
		s.revertArchive(ctx, j, o, h, info.Name, rep)
		return
	}
	s.checkNeighbours(ctx, j, o, h, rep)
}

// checkNeighbours makes sure the right-hand neighbour holds the version of o, rebuilding
// its fragment if not. A neighbour whose node does not answer is passed over for the next
// one, whose left-hand neighbour it is: a fragment lost beside a down node is rebuilt.
func (s *Server) checkNeighbours(ctx context.Context, j reconJob, o *object, h ec.Header, rep *ReconstructReport) {
	info := o.rec.Info
	for step := 1; step < len(j.prims); step++ {
		n := (j.pos + step) % len(j.prims)
		held, err := s.peers.Head(ctx, j.target(n), info.Name)
		var se *client.StatusError
		switch {
		case err == nil && held.Timestamp >= info.Timestamp:
			return // there, or replaced by a newer version (whose index tombstones this one)
		case errors.Is(err, client.ErrNotFound) && errors.As(err, &se) && se.Timestamp > info.Timestamp:
			// Deleted there: this archive missed the deletion. It takes the tombstone,
			// and rebuilds nothing.
			s.adoptTombstone(j, info.Name, se.Timestamp, rep)
			return
		case errors.As(err, &se) && se.Timestamp >= info.Timestamp && se.Timestamp != 0:
			return // newer there
		case err != nil && !errors.Is(err, client.ErrNotFound):
			rep.Errors++
			if ctx.Err() != nil {
				return
			}
			continue // its node is down: check the next fragment in its stead
		}
		err = s.rebuild(ctx, o, h, j, n, rep)
		var del *deletedError
		if errors.As(err, &del) {
			s.adoptTombstone(j, info.Name, del.ts, rep)
			return
		}
		if err != nil {
			s.log.Warn("rebuild fragment", "name", info.Name, "fragment", n, "target", j.target(n).String(), "err", err)
			rep.Errors++
			return
		}
		rep.Rebuilt++
		return
	}
}

// deletedError is a rebuild stopped because a peer holds a tombstone newer than the
// version: it is deleted, and is not to be rebuilt.
type deletedError struct{ ts hlc.Timestamp }

func (e *deletedError) Error() string { return fmt.Sprintf("deleted at %v", e.ts) }

// adoptTombstone stores a tombstone at ts for name on this device, over an older archive.
func (s *Server) adoptTombstone(j reconJob, name string, ts hlc.Timestamp, rep *ReconstructReport) {
	rec := client.Record{Kind: client.KindTombstone, Info: client.Info{Name: name, Timestamp: ts}}
	if err := s.store.write(j.dev, space(j.ring), j.part, rec, nil, nil); err != nil && !errors.Is(err, client.ErrConflict) {
		s.log.Warn("store a missed tombstone", "name", name, "device", j.dev, "err", err)
		rep.Errors++
		return
	}
	rep.TombstonesCarried++
}

// rebuild decodes the object of o from its own archive and others, encodes it again, and
// stores fragment n on its device, at ReconstructBytesPerSecond.
func (s *Server) rebuild(ctx context.Context, o *object, h ec.Header, j reconJob, n int, rep *ReconstructReport) error {
	info := o.rec.Info
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var deletedAt atomic.Uint64
	open := func(i int) ec.Source {
		return ec.Source{Index: i, Header: true, R: &lazyBody{open: func() (io.ReadCloser, error) {
			obj, err := s.peers.GetVersion(ctx, j.target(i), info.Name, info.Timestamp, nil)
			if err == nil && obj.Timestamp != info.Timestamp {
				obj.Body.Close()
				err = fmt.Errorf("%w: holds %v", client.ErrNotFound, obj.Timestamp)
			}
			var se *client.StatusError
			if errors.Is(err, client.ErrNotFound) && errors.As(err, &se) && se.Timestamp > info.Timestamp {
				// Deleted there: the archives left are not to be used.
				deletedAt.Store(uint64(se.Timestamp))
				cancel()
			}
			return bodyOf(obj, err)
		}}}
	}
	srcs := []ec.Source{{Index: j.pos, Header: true, R: o.content(0, info.Length)}}
	next := 0
	more := func(from int64, exclude []int) (ec.Source, bool) {
		for ; next < len(j.prims); next++ {
			if i := next; i != n && i != j.pos && !containsInt(exclude, i) {
				next++
				src := open(i)
				if from > 0 { // a whole-archive read skips to the segment wanted
					src.From = from
				}
				return src, true
			}
		}
		return ec.Source{}, false
	}
	for len(srcs) < h.K {
		src, ok := more(0, nil)
		if !ok {
			return fmt.Errorf("fewer than %d other fragments to read", h.K)
		}
		srcs = append(srcs, src)
	}
	dec, err := ec.NewReader(h.Layout, h.Whole(), srcs, more)
	if err != nil {
		return err
	}
	defer dec.Close()
	outs := make([]io.Writer, len(j.prims))
	for i := range outs {
		outs[i] = io.Discard
	}
	pr, pw := io.Pipe()
	outs[n] = throttledWriter{w: pw, limit: func(k int) error { return s.reconThrottle.wait(ctx, k) }}
	meta := maps.Clone(info.Meta)
	if meta == nil {
		meta = map[string]string{}
	}
	meta[client.MetaECIndex] = strconv.Itoa(n)
	done := make(chan error, 1)
	go func() {
		err := s.peers.Put(ctx, j.target(n), client.PutRequest{Name: info.Name, Timestamp: info.Timestamp,
			Length: h.ArchiveSize(), ContentType: info.ContentType, Meta: meta}, pr)
		pr.CloseWithError(fmt.Errorf("put stopped: %v", err))
		done <- err
	}()
	enc, err := ec.NewEncoder(h.Layout, outs, len(j.prims))
	if err == nil {
		var decoded int64
		decoded, err = io.Copy(enc, throttledReader{r: dec, limit: func(k int) error { return s.reconThrottle.wait(ctx, k) }})
		rep.Bytes += decoded
		if err == nil {
			err = enc.Close()
		}
	}
	if err != nil {
		pw.CloseWithError(err)
		<-done
		if ts := deletedAt.Load(); ts != 0 {
			return &deletedError{ts: hlc.Timestamp(ts)}
		}
		return err
	}
	pw.Close()
	err = <-done
	var se *client.StatusError
	if errors.As(err, &se) && se.Timestamp == info.Timestamp {
		return nil // stored meanwhile by another
	}
	if ts := deletedAt.Load(); ts != 0 {
		return &deletedError{ts: hlc.Timestamp(ts)}
	}
	if err == nil {
		rep.Bytes += h.ArchiveSize()
	}
	return err
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// checksumWriter feeds what is written to it into a checksum, at the pace limit allows.
type checksumWriter struct {
	sum   *client.Checksum
	limit func(n int) error
}

func (w checksumWriter) Write(b []byte) (int, error) {
	if err := w.limit(len(b)); err != nil {
		return 0, err
	}
	*w.sum = w.sum.Update(b)
	return len(b), nil
}

// lazyBody opens a peer's archive on its first read, so the decoder opens them in
// parallel; Close ends a read that is stuck.
type lazyBody struct {
	open   func() (io.ReadCloser, error)
	mu     sync.Mutex
	rc     io.ReadCloser
	err    error
	closed bool
}

func (l *lazyBody) Read(b []byte) (int, error) {
	l.mu.Lock()
	if l.rc == nil && l.err == nil && !l.closed {
		l.rc, l.err = l.open()
	}
	rc, err, closed := l.rc, l.err, l.closed
	l.mu.Unlock()
	if closed {
		return 0, io.ErrClosedPipe
	}
	if err != nil {
		return 0, err
	}
	return rc.Read(b)
}

func (l *lazyBody) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.rc != nil {
		return l.rc.Close()
	}
	return nil
}

func bodyOf(obj *client.Object, err error) (io.ReadCloser, error) {
	if err != nil {
		return nil, err
	}
	return obj.Body, nil
}
