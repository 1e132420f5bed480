package s3api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	meta "stratus/meta/client"
	objclient "stratus/objectd/client"
	"stratus/proxy"
)

// A read resolves the key in the index, then asks the storage nodes for the version the
// index named. Between the two a newer write can replace that version and remove its bytes
// (or, for entries from before null versions had names of their own, replace them in place
// at the object's own name, as a node keeps only a name's newest version), or a delete can
// remove it, and the write's commit may land in the index a moment after its bytes
// land on the nodes. Such a read has been overtaken, not failed: it resolves the key again
// and serves what the index names now — a version that was current during the request,
// so reads stay linearizable. If the index still names the lost version, the overtaking
// commit is on its way; the read waits for it, a little longer each time.
//
// One race of those older entries needs mending rather than waiting: a delete removes the index entry first and
// then sends tombstones, so a write stamped before the delete whose commit lands after
// that removal brings back an entry whose bytes the tombstones destroy. Replicas that hold
// a deletion newer than the entry's version say so; the read then finishes the delete in
// the index (removing the entry only while it is older than the deletion, so no newer
// write is touched) and resolves the key again. The write counts as overwritten by the
// delete, which its request overlapped.

const (
	// maxRereads bounds how often one read resolves its key again. Each time it found a
	// newer version than the last, unless it waited: under a storm of writes to one key a
	// read may be overtaken several times in a row.
	maxRereads = 64
	// maxRereadWait bounds how long one read waits, in all, for a commit to land.
	maxRereadWait = 2 * time.Second
)

// reread is the state of one read's retries.
type reread struct {
	// bucket, if set, is the bucket read; with versioning off, a resurrected entry is
	// removed (see above). Versioned buckets keep their bytes under names of their own.
	bucket meta.Bucket
	n      int
	waited time.Duration
	last   uint64 // the version last found missing
}

// overtaken decides what a read of e that failed with err does next: resolve the key
// again (true), or answer err mapped to an S3 error. A version still missing after the
// bounds is NoSuchKey if a node has a deletion newer than it, else ServiceUnavailable.
func (s *Server) overtaken(ctx context.Context, rr *reread, e meta.ObjectEntry, err error) (bool, error) {
	if !errors.Is(err, proxy.ErrNotFound) {
		return false, dataError(err)
	}
	del := deletionAfter(err, e.Version)
	if del != 0 && rr.n < maxRereads && rr.bucket.Name == e.Bucket && rr.bucket.Versioning == meta.VersioningOff && e.Data == "" {
		if err := s.meta.Index(e.Bucket).DeleteObject(ctx, e.Bucket, e.Key, del, false); err != nil && !errors.Is(err, meta.ErrNotFound) {
			return false, dataError(err)
		}
		rr.n++
		return true, nil
	}
	if rr.n >= maxRereads || rr.waited >= maxRereadWait {
		s.log.Warn("read overtaken too often", "rereads", rr.n, "waited", rr.waited, "bucket", e.Bucket, "err", err)
		if del != 0 {
			return false, ErrNoSuchKey
		}
		return false, fmt.Errorf("%w: the indexed version stays missing: %w", ErrServiceUnavailable, err)
	}
	if e.Version == rr.last {
		d := min(5*time.Millisecond<<min(rr.n, 6), maxRereadWait-rr.waited)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, ctx.Err()
		case <-t.C:
		}
		rr.waited += d
	}
	rr.n++
	rr.last = e.Version
	return true, nil
}

// deletionAfter returns the newest deletion after version v that a storage node, among
// those err joins, reported; zero if none did.
func deletionAfter(err error, v uint64) uint64 {
	switch u := err.(type) {
	case *objclient.StatusError:
		if errors.Is(u, objclient.ErrNotFound) && uint64(u.Timestamp) > v {
			return uint64(u.Timestamp)
		}
	case interface{ Unwrap() []error }:
		var newest uint64
		for _, e := range u.Unwrap() {
			newest = max(newest, deletionAfter(e, v))
		}
		return newest
	case interface{ Unwrap() error }:
		if e := u.Unwrap(); e != nil {
			return deletionAfter(e, v)
		}
	}
	return 0
}

// openSource resolves a copy's source and opens the bytes span picks from it (offset and
// length, or an error that refuses the copy), resolving the source again when a newer
// write or a delete overtakes the read, as GET does. A source named by version ID is not
// resolved again: that version is gone for good.
func (s *Server) openSource(ctx context.Context, rq *request, span func(meta.ObjectEntry) (int64, int64, error)) (meta.ObjectEntry, io.ReadCloser, error) {
	_, _, vid, err := copySource(rq.r.Header)
	if err != nil {
		return meta.ObjectEntry{}, nil, err
	}
	var rr reread
	for {
		src, err := s.sourceEntry(ctx, rq)
		if err != nil {
			return src, nil, err
		}
		offset, length, err := span(src)
		if err != nil {
			return src, nil, err
		}
		body, err := s.openRange(ctx, src, offset, length)
		if err == nil {
			return src, body, nil
		}
		if vid != "" {
			return src, nil, dataError(err)
		}
		if retry, ferr := s.overtaken(ctx, &rr, src, err); !retry {
			return src, nil, ferr
		}
	}
}
