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

	"stratus/ec"
	"stratus/objectd/client"
	"stratus/ring"
)

// The reconstructor heals erasure-coded objects, whose K+M fragment archives differ from
// device to device, so the replicator cannot copy one over another (layout.go, "space").
// Each pass walks the trees of the policy rings this node has (SetPolicyRing). For every
// newest archive on a device that is a primary of its partition, it checks the archive's
// own checksum — quarantining it if bad — and asks its right-hand neighbour (fragment
// index + 1, cyclically) whether it holds the version; if not, it decodes the object from
// K archives (its own and the others') and rebuilds the neighbour's fragment, which it
// stores there with the same timestamp. Every archive has a left-hand neighbour, so every
// lost or quarantined fragment whose neighbour's node is up is rebuilt within a pass or
// two, and only one node rebuilds each.
//
// The checks share the auditor's byte rate (AuditBytesPerSecond). Not yet: archives on
// handoff devices (the proxy writes none), reaping tombstones, and removing archives that
// missed their tombstone.

// ReconstructReport says what one reconstruction pass did.
type ReconstructReport struct {
	Archives    int // newest archives looked at
	Rebuilt     int // neighbours' fragments rebuilt and stored
	Quarantined int // own archives that failed their checksum
	Skipped     int // archives not on a primary of their partition, or not readable as archives
	Errors      int // neighbours unreachable, rebuilds that failed
}

// SetPolicyRing adopts r as the ring named name (an erasure-coded policy's, as published
// in meta) if it is newer than the one held under that name, and reports whether it did.
func (s *Server) SetPolicyRing(name string, r *ring.Ring) bool {
	for {
		cur := s.policyRings.Load()
		if cur != nil {
			if old := (*cur)[name]; old != nil && old.Version() >= r.Version() {
				return false
			}
		}
		next := map[string]*ring.Ring{}
		if cur != nil {
			next = maps.Clone(*cur)
		}
		next[name] = r
		if s.policyRings.CompareAndSwap(cur, &next) {
			return true
		}
	}
}

// ReconstructOnce runs one reconstruction pass (see above). The error is for the pass as a
// whole; per-archive trouble is counted in the report and retried next pass.
func (s *Server) ReconstructOnce(ctx context.Context) (ReconstructReport, error) {
	var rep ReconstructReport
	rings := s.policyRings.Load()
	if rings == nil {
		return rep, nil
	}
	s.reconMu.Lock()
	defer s.reconMu.Unlock()
	self := s.self()
	for name, r := range *rings {
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
	if rep.Rebuilt+rep.Quarantined+rep.Errors > 0 {
		s.log.Info("reconstruction pass", "archives", rep.Archives, "rebuilt", rep.Rebuilt,
			"quarantined", rep.Quarantined, "skipped", rep.Skipped, "errors", rep.Errors)
	}
	return rep, ctx.Err()
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
			if err != nil || len(vs) == 0 || vs[0].kind != client.KindData {
				continue
			}
			rep.Archives++
			if pos < 0 {
				rep.Skipped++
				continue
			}
			s.reconstructArchive(ctx, ringName, prims, pos, d.Name, devDir, part, h.Name(), vs[0], rep)
		}
	}
	return nil
}

// reconstructArchive checks one archive and its neighbour's.
func (s *Server) reconstructArchive(ctx context.Context, ringName string, prims []*ring.Device, pos int, dev, devDir string, part uint32, hash string, v version, rep *ReconstructReport) {
	sp := space(ringName)
	o, err := s.store.openFile(dev, devDir, sp, part, hash, v)
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
	if err != nil || h.Index != pos || h.K+h.M != len(prims) {
		rep.Skipped++ // not this position's fragment: placed by another ring version
		return
	}
	j := (pos + 1) % len(prims)
	target := func(i int) client.Target {
		return client.Target{Host: prims[i].Host, Device: prims[i].Name, Partition: part, Ring: ringName}
	}
	held, err := s.peers.Head(ctx, target(j), info.Name)
	var se *client.StatusError
	switch {
	case err == nil && held.Timestamp >= info.Timestamp:
		return
	case errors.As(err, &se) && se.Timestamp >= info.Timestamp && se.Timestamp != 0:
		return // deleted there since, or newer
	case err != nil && !errors.Is(err, client.ErrNotFound):
		rep.Errors++
		return
	}
	if err := s.rebuild(ctx, o, h, prims, pos, j, target); err != nil {
		s.log.Warn("rebuild fragment", "name", info.Name, "fragment", j, "target", target(j).String(), "err", err)
		rep.Errors++
		return
	}
	rep.Rebuilt++
}

// rebuild decodes the object of o from its own archive and others, encodes it again, and
// stores fragment j on its device.
func (s *Server) rebuild(ctx context.Context, o *object, h ec.Header, prims []*ring.Device, pos, j int, target func(int) client.Target) error {
	info := o.rec.Info
	open := func(i int) ec.Source {
		return ec.Source{Index: i, Header: true, R: &lazyBody{open: func() (io.ReadCloser, error) {
			obj, err := s.peers.GetVersion(ctx, target(i), info.Name, info.Timestamp, nil)
			if err == nil && obj.Timestamp != info.Timestamp {
				obj.Body.Close()
				err = fmt.Errorf("%w: holds %v", client.ErrNotFound, obj.Timestamp)
			}
			return bodyOf(obj, err)
		}}}
	}
	srcs := []ec.Source{{Index: pos, Header: true, R: o.content(0, info.Length)}}
	next := 0
	more := func(from int64, exclude []int) (ec.Source, bool) {
		for ; next < len(prims); next++ {
			if i := next; i != j && i != pos && !containsInt(exclude, i) {
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
	outs := make([]io.Writer, len(prims))
	for i := range outs {
		outs[i] = io.Discard
	}
	pr, pw := io.Pipe()
	outs[j] = pw
	meta := maps.Clone(info.Meta)
	if meta == nil {
		meta = map[string]string{}
	}
	meta[client.MetaECIndex] = strconv.Itoa(j)
	done := make(chan error, 1)
	go func() {
		err := s.peers.Put(ctx, target(j), client.PutRequest{Name: info.Name, Timestamp: info.Timestamp,
			Length: h.ArchiveSize(), ContentType: info.ContentType, Meta: meta}, pr)
		pr.CloseWithError(fmt.Errorf("put stopped: %v", err))
		done <- err
	}()
	enc, err := ec.NewEncoder(h.Layout, outs, len(prims))
	if err == nil {
		if _, err = io.Copy(enc, dec); err == nil {
			err = enc.Close()
		}
	}
	if err != nil {
		pw.CloseWithError(err)
		<-done
		return err
	}
	pw.Close()
	err = <-done
	var se *client.StatusError
	if errors.As(err, &se) && se.Timestamp == info.Timestamp {
		return nil // stored meanwhile by another
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
