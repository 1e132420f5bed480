package proxy

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"sync"
	"sync/atomic"
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
// replicas that were written get a tombstone and Put returns the error. Memory held is one
// chunk, whatever the length.
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

	w := &fanout{p: p, ctx: ctx, req: creq, next: next}
	defer w.abort(errors.New("proxy: put abandoned")) // no-op after a clean finish
	for range replicas {
		if !w.open() {
			break
		}
	}
	bufp := p.bufs.Get().(*[]byte)
	defer p.bufs.Put(bufp)
	buf := *bufp
	sum := md5.New()
	var sent int64
	for first := true; ; first = false {
		n, rerr := io.ReadFull(body, buf)
		if n > 0 {
			if sent+int64(n) > req.Length {
				return PutResult{}, w.fail(fmt.Errorf("%w: more than %d bytes", ErrIncompleteBody, req.Length))
			}
			sum.Write(buf[:n])
			timeout, wait := p.cfg.NodeTimeout, 0
			if first {
				// A replica that has not taken the first chunk soon after a quorum did is
				// replaced by a handoff below.
				timeout, wait = p.cfg.ConnectTimeout, quorum
			}
			w.write(buf[:n], timeout, wait)
			if first {
				// Nothing has been committed to a replica that failed on the first
				// chunk: a handoff can take its place with this same chunk.
				w.replaceFailed(buf[:n])
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

// fanout streams one write to several replicas at once.
type fanout struct {
	p     *Proxy
	ctx   context.Context
	req   client.PutRequest
	next  func() (client.Target, bool)
	sinks []*sink
	// failed holds the errors of replicas dropped along the way.
	failed []error
	// superseded counts the replicas that refused the write for holding a newer version:
	// they are done with it, as far as last-writer-wins goes.
	superseded int
}

// supersededBy reports whether err is a replica's refusal of the write because it holds a
// newer version of the name, stamped no later than now by this proxy's wall clock: a write
// that raced this one. (An equal version is this very write, retried.) A version from this
// proxy's future says its clock is slow, not that it raced: a write it sends after a newer
// one finished would be lost silently, so that stays an error, and the clock catches up.
func (w *fanout) supersededBy(err error) bool {
	var se *client.StatusError
	if !errors.As(err, &se) || !errors.Is(err, client.ErrConflict) || se.Timestamp <= w.req.Timestamp {
		return false
	}
	now := time.Now
	if w.p.clock.Now != nil {
		now = w.p.clock.Now
	}
	return !se.Timestamp.Time().After(now())
}

// sink is one replica's stream: a pipe into a storage client's Put.
type sink struct {
	target client.Target
	pw     *io.PipeWriter
	cancel context.CancelFunc
	done   chan error // the Put's result, once
	result error
	closed bool
	// err is the first failure seen writing to the pipe; set only while no write is in
	// flight, so reads after write returns are safe.
	err      error
	finished atomic.Bool
	// gaveUp is set before the proxy cancels the Put for taking too long, for the metrics.
	gaveUp atomic.Bool
	// superseded: the replica refused the write for holding a newer version.
	superseded bool
}

// open starts a stream to the next candidate; it reports false when none is left.
func (w *fanout) open() bool {
	t, ok := w.next()
	if !ok {
		return false
	}
	ctx, cancel := context.WithCancel(w.ctx)
	pr, pw := io.Pipe()
	s := &sink{target: t, pw: pw, cancel: cancel, done: make(chan error, 1)}
	go func() {
		start := time.Now()
		err := w.p.nodes.Put(ctx, t, w.req, pr)
		w.p.m.replica(opPut, start, err, s.gaveUp.Load())
		if err == nil {
			err = io.ErrClosedPipe // the Put is over: no more bytes are wanted
			s.done <- nil
		} else {
			s.done <- err
		}
		pr.CloseWithError(err)
	}()
	w.sinks = append(w.sinks, s)
	return true
}

// write sends chunk to every live sink in parallel; a sink that does not take it within
// timeout is cancelled and dropped. With quorum > 0, once that many sinks have taken it the
// others get only the post-quorum grace: a replica whose connection hangs (a TLS handshake
// with a cut-off node never completes) must not hold the write for the whole timeout while a
// handoff could take its place.
func (w *fanout) write(chunk []byte, timeout time.Duration, quorum int) {
	start := time.Now()
	var wg sync.WaitGroup
	took := make(chan struct{}, len(w.sinks))
	for _, s := range w.sinks {
		if s.err != nil {
			continue
		}
		s.finished.Store(false)
		wg.Go(func() {
			if _, err := s.pw.Write(chunk); err != nil {
				s.err = err
			} else {
				took <- struct{}{}
			}
			s.finished.Store(true)
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var grace <-chan time.Time
	giveUp := func() {
		for _, s := range w.sinks {
			if !s.finished.Load() {
				s.gaveUp.Store(true)
				s.cancel()
			}
		}
		<-done
	}
	for n, waiting := 0, true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-took:
			if n++; n == quorum {
				g := time.NewTimer(w.p.postQuorumGrace(time.Since(start)))
				defer g.Stop()
				grace = g.C
			}
		case <-timer.C:
			giveUp()
			waiting = false
		case <-grace:
			giveUp()
			waiting = false
		}
	}
	for _, s := range w.sinks {
		if s.err != nil && !s.closed {
			w.drop(s)
		}
	}
}

// drop retires a failed sink, collecting its Put's error.
func (w *fanout) drop(s *sink) {
	s.closed = true
	s.cancel()
	s.pw.CloseWithError(s.err)
	s.result = <-s.done
	err := s.result
	if err == nil {
		err = s.err
	}
	if w.supersededBy(err) {
		s.superseded = true
		w.superseded++
		return
	}
	w.failed = append(w.failed, fmt.Errorf("%s: %w", s.target, err))
	w.p.observeErr(err)
	if w.ctx.Err() != nil || refused(err) {
		return // the caller gave up, or the replica answered: it did nothing wrong
	}
	w.p.lim.failed(s.target.Host)
	w.p.log.Warn("replica dropped from write", "key", w.req.Name, "node", s.target.Host, "device", s.target.Device, "err", err)
}

// replaceFailed opens a handoff for every sink that failed, sending it chunk, until the
// live sinks are as many as were opened or the candidates run out.
func (w *fanout) replaceFailed(chunk []byte) {
	if w.clockAhead() {
		return // a handoff's clock is no further ahead
	}
	// A replica that holds a newer version needs no stand-in: a handoff would only store
	// a version already replaced.
	want := len(w.sinks) - w.superseded
	for w.live() < want {
		before := len(w.sinks)
		if !w.open() {
			return
		}
		s := w.sinks[before]
		other := w.sinks[:before]
		w.sinks = w.sinks[before:] // write to the newcomer alone
		w.write(chunk, w.p.cfg.ConnectTimeout, 0)
		w.sinks = append(other, s)
		if s.err == nil {
			w.p.log.Warn("handoff used", "key", w.req.Name, "node", s.target.Host, "device", s.target.Device)
		}
	}
}

func (w *fanout) live() int {
	n := 0
	for _, s := range w.sinks {
		if s.err == nil {
			n++
		}
	}
	return n
}

func (w *fanout) errs() []error { return w.failed }

// clockAhead reports whether a replica refused the write's timestamp as too far ahead of
// its clock.
func (w *fanout) clockAhead() bool {
	return slices.ContainsFunc(w.failed, func(err error) bool { return errors.Is(err, client.ErrFutureTimestamp) })
}

// shortError is the error of a write that reached got replicas, fewer than want: ErrClockSkew
// if a replica refused its timestamp (retrying cannot help, so it must not look like a
// transient ErrUnavailable), a QuorumError otherwise.
func (w *fanout) shortError(want, got int) error {
	if i := slices.IndexFunc(w.failed, func(err error) bool { return errors.Is(err, client.ErrFutureTimestamp) }); i >= 0 {
		return fmt.Errorf("%w: %w", ErrClockSkew, w.failed[i])
	}
	w.p.m.quorumFailures.WithLabelValues(opPut).Inc()
	return &QuorumError{Op: "put", Want: want, Got: got, Errs: w.errs()}
}

// deletedAfter asks a replica that refused the write as superseded whether what it holds
// is a deletion newer than the write. Only a superseded write pays for the question.
func (w *fanout) deletedAfter() bool {
	for _, s := range w.sinks {
		if !s.superseded {
			continue
		}
		ctx, cancel := context.WithTimeout(w.ctx, w.p.cfg.NodeTimeout)
		_, err := w.p.nodes.Head(ctx, s.target, w.req.Name)
		cancel()
		var se *client.StatusError
		return errors.Is(err, client.ErrNotFound) && errors.As(err, &se) && se.Timestamp > w.req.Timestamp
	}
	return false
}

// finish closes the live streams and returns the targets that stored the write. A
// replica that already held this very version (a retried request) counts as stored. The
// nodes have every byte and owe an answer within NodeTimeout (their fsyncs); once a quorum
// has answered, the others get a grace period (postQuorumGrace) and are then given up on.
func (w *fanout) finish(quorum int) []client.Target {
	var open []*sink
	for _, s := range w.sinks {
		if !s.closed {
			s.closed = true
			s.pw.Close()
			open = append(open, s)
		}
	}
	answered := make(chan *sink, len(open))
	for _, s := range open {
		go func() {
			s.result = <-s.done
			answered <- s
		}()
	}
	giveUp := func() {
		for _, s := range open {
			s.gaveUp.Store(true)
			s.cancel()
		}
	}
	start := time.Now()
	deadline := time.NewTimer(w.p.cfg.NodeTimeout)
	defer deadline.Stop()
	var postQuorum <-chan time.Time
	var acked []client.Target
	for range open {
		var s *sink
		select {
		case s = <-answered:
		case <-deadline.C:
			giveUp()
			s = <-answered
		case <-postQuorum:
			giveUp()
			s = <-answered
		}
		s.cancel()
		w.p.observeErr(s.result)
		var se *client.StatusError
		switch {
		case s.result == nil:
			acked = append(acked, s.target)
			w.p.lim.ok(s.target.Host)
		case errors.As(s.result, &se) && errors.Is(s.result, client.ErrConflict) && se.Timestamp == w.req.Timestamp:
			acked = append(acked, s.target)
		case w.supersededBy(s.result):
			s.superseded = true
			w.superseded++
		default:
			w.failed = append(w.failed, fmt.Errorf("%s: %w", s.target, s.result))
			if !refused(s.result) && w.ctx.Err() == nil {
				w.p.lim.failed(s.target.Host)
			}
		}
		if len(acked)+w.superseded >= quorum && postQuorum == nil {
			postQuorum = time.After(w.p.postQuorumGrace(time.Since(start)))
		}
	}
	return acked
}

// fail aborts every stream with err, so no replica stores a partial object, and returns
// err.
func (w *fanout) fail(err error) error {
	w.abort(err)
	return err
}

// abort cancels every stream still open and waits for them.
func (w *fanout) abort(err error) {
	for _, s := range w.sinks {
		if s.closed {
			continue
		}
		s.closed = true
		s.pw.CloseWithError(err)
		s.cancel()
		s.result = <-s.done
	}
}
