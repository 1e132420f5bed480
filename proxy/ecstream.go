package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"stratus/internal/hlc"
	"stratus/objectd/client"
)

// fragStream is the output of one fragment of an erasure-coded write: a PUT of the
// archive to the fragment's primary, or, when that fails before the archive's first block
// is through, to a handoff device (handoffPicker), under ECHandoffName. To start again
// elsewhere it keeps the bytes written so far while they are within the first block
// (replayWindow: a header and one fragment, about SegmentBytes/K); past it a failure
// drops the fragment, left to the reconstructor. A node that is down fails at once, so
// its fragments go to handoffs before anything else was sent.
type fragStream struct {
	q *fragQueue // nil: Write sends synchronously

	p       *Proxy
	ctx     context.Context
	index   int
	name    string
	ts      hlc.Timestamp
	creq    client.PutRequest
	window  int64
	picker  *handoffPicker
	replay  []byte
	written int64
	lost    []error // attempts that failed
	mu      sync.Mutex
	cur     *fragAttempt
	stopped bool // the write is over: no new attempt
}

// fragAttempt is one PUT of a fragment's archive.
type fragAttempt struct {
	target     client.Target
	handoff    bool
	pw         *io.PipeWriter
	wd         *watchdog
	done       chan struct{}
	err        error // once done
	superseded bool  // once done: the node holds a newer version
}

// begin starts the stream on t (a handoff device if handoff).
func (s *fragStream) begin(t client.Target, handoff bool) *fragAttempt {
	pr, pw := io.Pipe()
	wctx, wd := newWatchdog(s.ctx, s.p.cfg.NodeTimeout)
	a := &fragAttempt{target: t, handoff: handoff, pw: pw, wd: wd, done: make(chan struct{})}
	creq := s.creq
	if handoff {
		creq.Name = client.ECHandoffName(s.name, s.index)
		creq.Meta = maps.Clone(creq.Meta)
		creq.Meta[client.MetaECName] = s.name
	}
	s.mu.Lock()
	s.cur = a
	s.mu.Unlock()
	go func() {
		defer close(a.done)
		defer wd.stop()
		start := time.Now()
		err := s.p.nodes.Put(wctx, t, creq, pr)
		s.p.m.replica(opPut, start, err, wd.fired.Load())
		s.p.observeErr(err)
		var se *client.StatusError
		if errors.As(err, &se) && se.Timestamp == s.ts {
			err = nil // stored already: a retry of this very write
		}
		if s.p.supersedes(err, s.ts) {
			// The node holds a newer version: this write lost last-writer-wins there,
			// which counts as done (as for a replicated write). Its fragment is not
			// needed; take the rest of the stream so the encoder goes on.
			a.superseded = true
			io.Copy(io.Discard, pr)
			return
		}
		a.err = err
		if err == nil {
			err = io.ErrClosedPipe // it needs no more bytes
		}
		pr.CloseWithError(err)
	}()
	return a
}

func (s *fragStream) current() *fragAttempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Write sends b to the stream: through its queue if it has one (fragQueue), else at once.
func (s *fragStream) Write(b []byte) (int, error) {
	if s.q != nil {
		return s.q.put(b)
	}
	return s.send(b)
}

// send sends b to the current attempt, moving to a handoff if it failed and b is still
// within the first block.
func (s *fragStream) send(b []byte) (int, error) {
	for {
		a := s.current()
		n, err := a.pw.Write(b)
		if n > 0 {
			a.wd.kick()
		}
		if err == nil {
			s.keep(b)
			return len(b), nil
		}
		<-a.done
		if a.err == nil { // stored already, or superseded: the rest is not needed
			s.keep(b)
			return len(b), nil
		}
		if !s.failover(a) {
			return n, err
		}
	}
}

// keep counts b as written and keeps it for a replay while within the window.
func (s *fragStream) keep(b []byte) {
	s.written += int64(len(b))
	if s.replay != nil && s.written <= s.window {
		s.replay = append(s.replay, b...)
	} else {
		s.replay = nil
	}
}

// failover starts the archive again on the next handoff device after a failed, replaying
// what was written; it reports false when the archive cannot be moved: past the window,
// no device left, or the write is over.
func (s *fragStream) failover(a *fragAttempt) bool {
	for {
		s.mu.Lock()
		s.lost = append(s.lost, fmt.Errorf("fragment %d on %v: %w", s.index, a.target, a.err))
		stopped := s.stopped
		s.mu.Unlock()
		if stopped || s.ctx.Err() != nil || s.replay == nil {
			return false
		}
		t, ok := s.picker.pick(a.target.Host)
		if !ok {
			return false
		}
		s.p.log.Warn("erasure-coded fragment handed off", "key", s.name, "fragment", s.index,
			"from", a.target.String(), "to", t.String(), "err", a.err)
		a = s.begin(t, true)
		if len(s.replay) == 0 {
			return true
		}
		if _, err := a.pw.Write(s.replay); err == nil {
			a.wd.kick()
			return true
		}
		<-a.done
		if a.err == nil {
			return true
		}
	}
}

// closeWithError ends the stream: no new attempt, and the current one sees err (nil: the
// archive is complete, once the queue is sent).
func (s *fragStream) closeWithError(err error) {
	if s.q != nil {
		if err != nil {
			s.q.fail(err)
			s.mu.Lock()
			s.stopped = true
			a := s.cur
			s.mu.Unlock()
			a.pw.CloseWithError(err)
		}
		s.q.close()
		if qerr := s.q.failure(); qerr != nil && err == nil {
			err = qerr // dropped: the archive is not complete
		}
	}
	s.mu.Lock()
	s.stopped = true
	a := s.cur
	s.mu.Unlock()
	if err == nil {
		a.pw.Close()
	} else {
		a.pw.CloseWithError(err)
	}
}

// wait returns the outcome of the last attempt once it is done.
func (s *fragStream) wait() *fragAttempt {
	for {
		a := s.current()
		<-a.done
		if s.current() == a {
			return a
		}
	}
}

// failures returns the errors of the attempts that failed and were replaced.
func (s *fragStream) failures() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.lost)
}

// giveUp cancels the current attempt (it took too long after the others).
func (s *fragStream) giveUp() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	if s.q != nil {
		s.q.fail(errGivenUp)
	}
	s.current().wd.stop()
}

var errGivenUp = errors.New("given up on after the others stored their archives")
