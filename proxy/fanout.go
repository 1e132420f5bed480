package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"time"

	"stratus/objectd/client"
)

// fanout streams one write to several replicas at once. Each replica's stream is fed by its
// own goroutine from a small ring of chunk buffers (Config.MaxLagBytes), so the replicas
// write at their own pace: a slow or stalled one does not hold the others back until it has
// fallen the whole ring behind. Then the body waits for it — for the post-quorum grace once
// a quorum has the chunk it holds, NodeTimeout otherwise — and past that it is dropped, so
// that one hung node costs a write at most one grace, wherever in the stream it hangs.
type fanout struct {
	p     *Proxy
	ctx   context.Context
	req   client.PutRequest
	next  func() (client.Target, bool)
	sinks []*sink
	// queued is how many chunks the body has handed to the streams.
	queued int64
	// progress is signalled (without blocking) whenever a stream writes a chunk or stops.
	progress chan struct{}
	// failed holds the errors of replicas dropped along the way.
	failed []error
	// superseded counts the replicas that refused the write for holding a newer version:
	// they are done with it, as far as last-writer-wins goes.
	superseded int
}

// sink is one replica's stream: a pipe into a storage client's Put, fed by a goroutine.
// Fields without a comment saying otherwise belong to the goroutine running the fanout.
type sink struct {
	target client.Target
	pw     *io.PipeWriter
	cancel context.CancelFunc
	done   chan error // the Put's result, once
	result error
	closed bool // retired: finished, dropped or aborted
	// queue holds the chunks to write, in order; it never holds more than the ring of
	// buffers, so sending to it does not block.
	queue       chan []byte
	queueClosed bool
	// written counts the chunks the feeding goroutine has handed to the Put, and lastTook
	// is how long the last one took (the goroutine sets both).
	written  atomic.Int64
	lastTook atomic.Int64 // nanoseconds
	// stopped is closed when the feeding goroutine has returned; werr, set before, is why
	// it stopped early (nil when the queue was closed).
	stopped chan struct{}
	werr    error
	// gaveUp is set before the proxy cancels the Put for taking too long, for the metrics.
	gaveUp atomic.Bool
	// superseded: the replica refused the write for holding a newer version.
	superseded bool
}

// errGaveUp is why a replica that fell too far behind was dropped from a write.
var errGaveUp = errors.New("proxy: replica fell behind the write's quorum")

// open starts a stream to the next candidate; it reports false when none is left.
func (w *fanout) open(ring int) bool {
	t, ok := w.next()
	if !ok {
		return false
	}
	ctx, cancel := context.WithCancel(w.ctx)
	pr, pw := io.Pipe()
	s := &sink{target: t, pw: pw, cancel: cancel, done: make(chan error, 1),
		queue: make(chan []byte, ring), stopped: make(chan struct{})}
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
	go w.feed(s)
	w.sinks = append(w.sinks, s)
	return true
}

// feed writes s's queued chunks into its Put, in order, until the queue is closed or a
// write fails.
func (w *fanout) feed(s *sink) {
	defer func() {
		close(s.stopped)
		w.signal()
	}()
	for chunk := range s.queue {
		start := time.Now()
		if _, err := s.pw.Write(chunk); err != nil {
			s.werr = err
			return
		}
		s.lastTook.Store(int64(time.Since(start)))
		s.written.Add(1)
		w.signal()
	}
}

func (w *fanout) signal() {
	select {
	case w.progress <- struct{}{}:
	default:
	}
}

// send hands chunk to every live stream. The caller must not reuse chunk's buffer until
// every live stream has written it (waitWritten).
func (w *fanout) send(chunk []byte) {
	w.queued++
	for _, s := range w.sinks {
		if !s.closed {
			s.queue <- chunk
		}
	}
}

// waitWritten waits until every live stream has written its first n chunks, dropping the
// streams that fail meanwhile. A stream that has not within timeout is dropped; with
// quorum > 0, once that many have (or refused the write as superseded) the others get only
// the post-quorum grace: a replica whose connection hangs (a stopped process, a TLS
// handshake with a cut-off node that never completes) must not hold the write for the whole
// timeout while the quorum goes on without it.
func (w *fanout) waitWritten(n int64, timeout time.Duration, quorum int) {
	start := time.Now()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var grace <-chan time.Time
	for {
		w.reap()
		var lagging []*sink
		ahead := w.superseded
		// toQuorum is what the quorum took: since the wait began, or for one chunk of the
		// slowest replica ahead, whichever is longer, so that when every replica is slow
		// (a busy disk) one a little slower than the rest is not cut off.
		toQuorum := time.Since(start)
		for _, s := range w.sinks {
			switch {
			case s.closed:
			case s.written.Load() >= n:
				ahead++
				toQuorum = max(toQuorum, time.Duration(s.lastTook.Load()))
			default:
				lagging = append(lagging, s)
			}
		}
		if len(lagging) == 0 {
			return
		}
		if quorum > 0 && ahead >= quorum && grace == nil {
			g := time.NewTimer(w.p.postQuorumGrace(toQuorum))
			defer g.Stop()
			grace = g.C
		}
		select {
		case <-w.progress:
			continue
		case <-timer.C:
		case <-grace:
		}
		for _, s := range lagging {
			if s.written.Load() < n {
				s.gaveUp.Store(true)
				w.drop(s, errGaveUp)
			}
		}
		return
	}
}

// reap drops the streams whose feeding goroutine stopped on a failed write: their Put
// ended (refused, or the node went away).
func (w *fanout) reap() {
	for _, s := range w.sinks {
		if s.closed {
			continue
		}
		select {
		case <-s.stopped:
			if s.werr != nil {
				w.drop(s, s.werr)
			}
		default:
		}
	}
}

// stopFeed closes s's queue, once.
func (s *sink) stopFeed() {
	if !s.queueClosed {
		s.queueClosed = true
		close(s.queue)
	}
}

// drop retires a sink that failed or fell behind, collecting its Put's error. Once it
// returns, the sink's goroutines hold no chunk buffer.
func (w *fanout) drop(s *sink, why error) {
	s.closed = true
	s.cancel()
	s.pw.CloseWithError(why)
	s.stopFeed()
	<-s.stopped
	s.result = <-s.done
	err := s.result
	if err == nil {
		err = why
	}
	if w.supersededBy(err) {
		s.superseded = true
		w.superseded++
		return
	}
	if errors.Is(why, errGaveUp) {
		err = fmt.Errorf("%w: %w", errGaveUp, err)
	}
	w.failed = append(w.failed, fmt.Errorf("%s: %w", s.target, err))
	w.p.observeErr(err)
	if w.ctx.Err() != nil || refused(err) {
		return // the caller gave up, or the replica answered: it did nothing wrong
	}
	w.p.lim.failed(s.target.Host)
	w.p.log.Warn("replica dropped from write", "key", w.req.Name, "node", s.target.Host, "device", s.target.Device, "err", err)
}

// replaceFailed opens a handoff for every stream that failed on the first chunk, sending it
// chunk, until the live streams are as many as were opened or the candidates run out.
// Nothing has been committed to a replica that failed on the first chunk, so a handoff can
// take its place with this same chunk.
func (w *fanout) replaceFailed(chunk []byte, ring int) {
	if w.clockAhead() {
		return // a handoff's clock is no further ahead
	}
	// A replica that holds a newer version needs no stand-in: a handoff would only store
	// a version already replaced.
	want := len(w.sinks) - w.superseded
	for w.live() < want {
		if !w.open(ring) {
			return
		}
		s := w.sinks[len(w.sinks)-1]
		s.queue <- chunk
		// Every other live stream has written the chunk already: this waits for the newcomer.
		w.waitWritten(1, w.p.cfg.ConnectTimeout, 0)
		if !s.closed {
			w.p.log.Warn("handoff used", "key", w.req.Name, "node", s.target.Host, "device", s.target.Device)
		}
	}
}

func (w *fanout) live() int {
	n := 0
	for _, s := range w.sinks {
		if !s.closed {
			n++
		}
	}
	return n
}

func (w *fanout) errs() []error { return w.failed }

// failedHosts lists the hosts of the replicas that neither stored the write (acked) nor
// refused it as superseded.
func (w *fanout) failedHosts(acked []client.Target) []string {
	var hosts []string
	for _, s := range w.sinks {
		if !s.superseded && !slices.Contains(acked, s.target) && !slices.Contains(hosts, s.target.Host) {
			hosts = append(hosts, s.target.Host)
		}
	}
	return hosts
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

// endFeeds waits until every live stream has written the whole body (dropping those that
// fall behind as waitWritten does) and stops the feeding goroutines, leaving the streams
// open: a replica stores nothing until its stream ends with its checksum trailer.
func (w *fanout) endFeeds(quorum int) {
	w.waitWritten(w.queued, w.p.cfg.NodeTimeout, quorum)
	for _, s := range w.sinks {
		if !s.closed {
			s.stopFeed()
			<-s.stopped
		}
	}
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

// abort cancels every stream still open and waits for them. Once it returns, no goroutine
// of the write holds a chunk buffer.
func (w *fanout) abort(err error) {
	for _, s := range w.sinks {
		if s.closed {
			continue
		}
		s.closed = true
		s.pw.CloseWithError(err)
		s.cancel()
		s.stopFeed()
		<-s.stopped
		s.result = <-s.done
	}
}
