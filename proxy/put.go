package proxy

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"iter"
	"sync"
	"time"

	"stratus/internal/hlc"
	"stratus/objectd/client"
)

// PutRequest describes an object write.
type PutRequest struct {
	Name string
	// Timestamp, if set, is the write's version (from Stamp); zero stamps it now.
	Timestamp   hlc.Timestamp
	Length      int64
	ContentType string
	Meta        map[string]string // keys lower-case
	// Verify, if set, vets the content's MD5 once the whole body has been read and before
	// any replica is told the write is complete: an error aborts every stream, so no
	// replica stores the write (nor loses the version it holds), and Put returns it.
	Verify func(md5 []byte) error
}

// PutResult is what a successful write stored.
type PutResult struct {
	Timestamp hlc.Timestamp
	// MD5 is the content's MD5, the S3 ETag of a single-part object.
	MD5 [md5.Size]byte
	// Replicas is how many replicas acknowledged the write.
	Replicas int
	// Superseded is set when some replicas already held a newer version of the name (a
	// concurrent write stamped later, or a deletion) and refused this one. Such a write
	// has lost last-writer-wins; it still succeeds once stored or superseded at a quorum,
	// and its commit runs, for the index orders versions the same way.
	Superseded bool
	// DeletedAfter is set when a replica that refused the write holds a deletion of the
	// name newer than it. A delete is committed before its tombstones are sent, so the
	// caller should not index this write: it would bring back what the delete removed.
	DeletedAfter bool
	// Overtaken is set when commit answered ErrOvertaken: the write was retracted, but
	// Put succeeded.
	Overtaken bool
}

// ErrOvertaken, returned by a Put's commit, says the write lost last-writer-wins to one
// stamped later and will not be indexed: Put retracts it from the replicas that took it
// (a tombstone one tick after it, older than the winner) and succeeds, since a write that
// was overwritten was still a successful write.
var ErrOvertaken = errors.New("proxy: overtaken by a later write")

// Put streams body (exactly req.Length bytes) to the name's replicas and returns once a
// quorum has stored it, or has a newer version of it (PutResult.Superseded). If commit is
// not nil it runs after the quorum; if it fails, or the quorum is not reached, the
// replicas that were written get a tombstone and Put returns the error. A replica that fell
// behind and was dropped after taking part of the body gets its copy on a handoff device
// after Put returns (handOffLater). Memory held is ChunkBytes + MaxLagBytes, whatever the
// length.
func (p *Proxy) Put(ctx context.Context, req PutRequest, body io.Reader, commit func(context.Context, PutResult) error) (PutResult, error) {
	pl, err := p.place(req.Name)
	if err != nil {
		return PutResult{}, err
	}
	replicas := pl.ring.Replicas()
	quorum := Quorum(replicas)
	ts := req.Timestamp
	if ts == 0 {
		ts = p.clock.Next()
	}
	creq := client.PutRequest{Name: req.Name, Timestamp: ts, Length: req.Length,
		ContentType: req.ContentType, Meta: req.Meta}
	pull, stop := iter.Pull(p.candidates(pl))
	defer stop()
	next := func() (client.Target, bool) { return p.try(opPut, pull) }

	// The body goes through a ring of chunk buffers (ChunkBytes each, MaxLagBytes beyond
	// the first), taken as needed: the memory one write holds, whatever its length.
	ring := p.ringChunks()
	var bufs []*[]byte
	w := &fanout{p: p, ctx: ctx, req: creq, next: next, progress: make(chan struct{}, 1)}
	defer func() {
		w.abort(errors.New("proxy: put abandoned")) // no-op after a clean finish
		for _, b := range bufs {
			p.bufs.Put(b)
		}
	}()
	for range replicas {
		if !w.open(ring) {
			break
		}
	}
	sum := md5.New()
	var sent int64
	for seq := 0; ; seq++ {
		slot := seq % ring
		if seq >= ring {
			// The slot held chunk seq-ring: every live stream must have written it. One
			// that has not by the post-quorum grace after a quorum did is dropped.
			w.waitWritten(int64(seq-ring+1), p.cfg.NodeTimeout, quorum)
			if live := w.live(); live+w.superseded < quorum {
				return PutResult{}, w.fail(w.shortError(quorum, live))
			}
		}
		if slot == len(bufs) {
			bufs = append(bufs, p.bufs.Get().(*[]byte))
		}
		buf := *bufs[slot]
		n, rerr := io.ReadFull(body, buf)
		if n > 0 {
			if sent+int64(n) > req.Length {
				return PutResult{}, w.fail(fmt.Errorf("%w: more than %d bytes", ErrIncompleteBody, req.Length))
			}
			sum.Write(buf[:n])
			w.send(buf[:n])
			if seq == 0 {
				// A replica that has not taken the first chunk soon after a quorum did is
				// replaced by a handoff, which gets this same chunk.
				w.waitWritten(1, p.cfg.ConnectTimeout, quorum)
				w.replaceFailed(buf[:n], ring)
			}
			if live := w.live(); live+w.superseded < quorum {
				return PutResult{}, w.fail(w.shortError(quorum, live))
			}
			sent += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return PutResult{}, w.fail(fmt.Errorf("proxy: reading the body: %w", rerr))
		}
	}
	if sent != req.Length {
		return PutResult{}, w.fail(fmt.Errorf("%w: %d of %d bytes", ErrIncompleteBody, sent, req.Length))
	}
	w.endFeeds(quorum)
	if live := w.live(); live+w.superseded < quorum {
		return PutResult{}, w.fail(w.shortError(quorum, live))
	}
	var digest [md5.Size]byte
	sum.Sum(digest[:0])
	if req.Verify != nil {
		// The streams are still open: a replica stores nothing until its stream ends with
		// its checksum trailer, so failing them now stores nothing anywhere.
		if err := req.Verify(digest[:]); err != nil {
			return PutResult{}, w.fail(err)
		}
	}
	acked := w.finish(quorum)
	res := PutResult{Timestamp: creq.Timestamp, Replicas: len(acked), Superseded: w.superseded > 0, MD5: digest}
	if len(acked)+w.superseded < quorum {
		p.retract(ctx, req.Name, creq.Timestamp, acked)
		return PutResult{}, w.shortError(quorum, len(acked))
	}
	if len(acked)+w.superseded < replicas {
		p.log.Warn("put below full redundancy", "key", req.Name, "replicas", len(acked), "want", replicas)
	}
	if res.Superseded {
		res.DeletedAfter = w.deletedAfter()
	}
	if commit != nil {
		if err := commit(ctx, res); errors.Is(err, ErrOvertaken) {
			p.retract(ctx, req.Name, creq.Timestamp, acked)
			res.Overtaken = true
			return res, nil
		} else if err != nil {
			p.retract(ctx, req.Name, creq.Timestamp, acked)
			return PutResult{}, err
		}
	}
	if short := replicas - len(acked) - w.superseded; short > 0 && !res.Superseded {
		p.handOffLater(req.Name, creq.Timestamp, short, acked, w.failedHosts(acked), pull)
	}
	return res, nil
}

// retract marks a write that will not be indexed as deleted on the replicas that took
// it, one tick after it, so it can never resurface. Failures are logged: a replica that
// missed the tombstone holds an unindexed version, which reads never ask for.
func (p *Proxy) retract(ctx context.Context, name string, ts hlc.Timestamp, targets []client.Target) {
	ctx = context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Go(func() {
			start := time.Now()
			dctx, cancel := context.WithTimeout(ctx, p.cfg.NodeTimeout)
			defer cancel()
			err := p.nodes.Delete(dctx, t, name, ts+1)
			p.m.replica(opDelete, start, err, false)
			p.observeErr(err)
			if err != nil && !errors.Is(err, client.ErrConflict) {
				p.log.Warn("tombstone of an unindexed write failed", "key", name, "node", t.Host, "err", err)
			}
		})
	}
	wg.Wait()
}
