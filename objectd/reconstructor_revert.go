package objectd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path/filepath"
	"strconv"

	"stratus/ec"
	"stratus/internal/hlc"
	"stratus/objectd/client"
)

// revertArchive pushes o, fragment h.Index of name kept off its primary, to that primary
// under name, unless the primary holds this version of that fragment or anything newer, and
// then removes it here. A primary holding this version of another fragment (a ring change
// left it there) is waited for: it moves its own archive away first.
func (s *Server) revertArchive(ctx context.Context, j reconJob, o *object, h ec.Header, name string, rep *ReconstructReport) {
	info := o.rec.Info
	t := j.target(h.Index)
	held, err := s.peers.Head(ctx, t, name)
	var se *client.StatusError
	switch {
	case err == nil && held.Timestamp == info.Timestamp && held.Meta[client.MetaECIndex] != strconv.Itoa(h.Index):
		return // its own archive of another fragment is to move first
	case err == nil && held.Timestamp >= info.Timestamp:
	case errors.As(err, &se) && se.Timestamp >= info.Timestamp && se.Timestamp != 0:
		// Replaced or deleted there: this archive is not needed.
	case err != nil && !errors.Is(err, client.ErrNotFound):
		rep.Errors++
		return
	default:
		// Not at its primary. If the next fragment's device holds a deletion newer than
		// this version, the primary missed it too: this archive takes the tombstone (which
		// is carried to the primary) rather than bring a deleted object back there.
		_, nerr := s.peers.Head(ctx, j.target((h.Index+1)%len(j.prims)), name)
		if errors.Is(nerr, client.ErrNotFound) && errors.As(nerr, &se) && se.Timestamp > info.Timestamp {
			s.adoptTombstone(j, info.Name, se.Timestamp, rep)
			return
		}
		meta := maps.Clone(info.Meta)
		if meta == nil {
			meta = map[string]string{}
		}
		delete(meta, client.MetaECName)
		meta[client.MetaECIndex] = strconv.Itoa(h.Index)
		body := throttledReader{r: o.content(0, info.Length), limit: func(k int) error { return s.reconThrottle.wait(ctx, k) }}
		err := s.peers.Put(ctx, t, client.PutRequest{Name: name, Timestamp: info.Timestamp, Length: info.Length,
			ContentType: info.ContentType, Meta: meta}, body)
		if errors.As(err, &se) && se.Timestamp >= info.Timestamp {
			err = nil // stored meanwhile, or replaced
		}
		if err != nil {
			s.log.Warn("revert fragment archive", "name", name, "fragment", h.Index, "target", t.String(), "err", err)
			rep.Errors++
			return
		}
		rep.Reverted++
		rep.Bytes += info.Length
	}
	if err := s.removeECVersions(j, info.Timestamp); err != nil {
		s.log.Warn("remove reverted fragment archive", "name", info.Name, "device", j.dev, "err", err)
		rep.Errors++
		return
	}
	rep.Removed++
}

// removeECVersions removes the versions up to ts of a name hash in an erasure-coded
// policy's tree on one device, and its directory if that empties it.
func (s *Server) removeECVersions(j reconJob, ts hlc.Timestamp) error {
	unlock := s.store.lock(j.hash)
	defer unlock()
	hdir := hashDirIn(j.devDir, space(j.ring), j.part, j.hash)
	vs, err := s.store.versions(hdir)
	if err != nil {
		return err
	}
	for _, v := range vs {
		if v.ts <= ts {
			if err := s.store.fs.Remove(filepath.Join(hdir, v.file())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove %s: %w", v.file(), err)
			}
		}
	}
	s.store.fs.Remove(hdir) // only succeeds when empty
	return nil
}

// reconstructTombstone carries a tombstone to where it is missing and reaps it after the
// reclaim age: one kept for a fragment off its primary goes to that primary, one on a
// device that is no primary of its partition to all of them, and one on a primary to its
// right-hand neighbour unless that holds it or something newer: an older archive there
// would otherwise outlive the deletion, and could be used to rebuild a deleted object.
func (s *Server) reconstructTombstone(ctx context.Context, j reconJob, rep *ReconstructReport) {
	o, err := s.store.openFile(j.dev, j.devDir, space(j.ring), j.part, j.hash, j.v)
	if err != nil {
		return
	}
	info := o.rec.Info
	o.f.Close()
	if s.store.now().Sub(info.Timestamp.Time()) > s.cfg.ReclaimAge {
		if err := s.removeECVersions(j, info.Timestamp); err != nil {
			rep.Errors++
			return
		}
		rep.Reaped++
		return
	}
	if idx, name, ok := client.ParseECHandoffName(info.Name); ok {
		if name == "" || idx >= len(j.prims) {
			return // whose it is is not known: kept until reaped
		}
		if s.carryTombstone(ctx, j.target(idx), name, info.Timestamp, rep) {
			if s.removeECVersions(j, info.Timestamp) == nil {
				rep.Removed++
			}
		}
		return
	}
	if j.pos < 0 {
		all := true
		for i := range j.prims {
			all = s.carryTombstone(ctx, j.target(i), info.Name, info.Timestamp, rep) && all
		}
		if all && s.removeECVersions(j, info.Timestamp) == nil {
			rep.Removed++
		}
		return
	}
	s.carryTombstone(ctx, j.target((j.pos+1)%len(j.prims)), info.Name, info.Timestamp, rep)
}

// carryTombstone makes sure t holds name's deletion at ts or something newer, and reports
// whether it does.
func (s *Server) carryTombstone(ctx context.Context, t client.Target, name string, ts hlc.Timestamp, rep *ReconstructReport) bool {
	held, err := s.peers.Head(ctx, t, name)
	var se *client.StatusError
	switch {
	case err == nil && held.Timestamp >= ts:
		return true
	case errors.As(err, &se) && se.Timestamp >= ts:
		return true
	case err != nil && !errors.Is(err, client.ErrNotFound):
		rep.Errors++
		return false
	}
	err = s.peers.Delete(ctx, t, name, ts)
	if err != nil && !errors.Is(err, client.ErrConflict) {
		rep.Errors++
		return false
	}
	rep.TombstonesCarried++
	return true
}

// throttledReader and throttledWriter pace a stream at a shared byte rate.
type throttledReader struct {
	r     io.Reader
	limit func(n int) error
}

func (t throttledReader) Read(b []byte) (int, error) {
	n, err := t.r.Read(b)
	if n > 0 {
		if lerr := t.limit(n); lerr != nil {
			return n, lerr
		}
	}
	return n, err
}

type throttledWriter struct {
	w     io.Writer
	limit func(n int) error
}

func (t throttledWriter) Write(b []byte) (int, error) {
	if err := t.limit(len(b)); err != nil {
		return 0, err
	}
	return t.w.Write(b)
}
