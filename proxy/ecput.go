package proxy

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"stratus/ec"
	"stratus/internal/hlc"
	"stratus/objectd/client"
)

// ECCode is how an erasure-coded storage policy stores objects: on which ring (one with K+M
// replicas, the fragment index being the position in a partition's device list), with
// which code and segment size.
type ECCode struct {
	Ring         string
	K, M         int
	SegmentBytes int
}

// Layout is the fragment layout of an object of size bytes under c.
func (c ECCode) Layout(size int64) ec.Layout {
	return ec.Layout{K: c.K, M: c.M, SegmentSize: c.SegmentBytes, Size: size}
}

// ECDurable is how many fragment archives must be stored before an erasure-coded write
// is acknowledged: K+1. With only K, the loss of any one of them before the reconstructor
// rebuilt the others would lose the object; K+1 leaves one failure of margin, as Swift's
// EC policies do, while not waiting on the slowest of K+M nodes.
func (c ECCode) ECDurable() int { return c.K + 1 }

// ErrECRing is returned when a policy's ring does not have one device per fragment.
var ErrECRing = errors.New("proxy: ring does not fit the erasure code")

// placeEC returns the K+M targets of name under c, fragment index = position.
func (p *Proxy) placeEC(c ECCode, name string) ([]client.Target, error) {
	r, err := p.policyRing(c.Ring)
	if err != nil {
		return nil, err
	}
	if r.Replicas() != c.K+c.M {
		return nil, fmt.Errorf("%w: ring %s has %d replicas, the code %d+%d fragments", ErrECRing, c.Ring, r.Replicas(), c.K, c.M)
	}
	part := r.Partition(name)
	var ts []client.Target
	for _, d := range r.Primaries(part, nil) {
		ts = append(ts, client.Target{Host: d.Host, Device: d.Name, Partition: uint32(part), Ring: c.Ring})
	}
	return ts, nil
}

// PutEC stores body (exactly req.Length bytes) erasure-coded under c: it encodes one
// segment at a time (memory: about 2.5 segments, whatever the length) and streams fragment
// archive i to the partition's i-th device, and returns once ECDurable archives are stored
// (then runs commit, as Put does). A node that fails or makes no progress for NodeTimeout
// is dropped and its fragment left missing: there are no handoffs for fragments yet, so
// the write needs ECDurable of the K+M primaries. If the write or commit fails, the
// archives stored get tombstones; a commit answering ErrOvertaken has them retracted too,
// and PutEC succeeds with PutResult.Overtaken, as Put does.
func (p *Proxy) PutEC(ctx context.Context, c ECCode, req PutRequest, body io.Reader, commit func(context.Context, PutResult) error) (PutResult, error) {
	start := time.Now()
	l := c.Layout(req.Length)
	if err := l.Validate(); err != nil {
		return PutResult{}, err
	}
	targets, err := p.placeEC(c, req.Name)
	if err != nil {
		return PutResult{}, err
	}
	ts := req.Timestamp
	if ts == 0 {
		ts = p.clock.Next()
	}
	n := len(targets)
	pws := make([]*io.PipeWriter, n)
	outs := make([]io.Writer, n)
	errs := make([]error, n)
	dogs := make([]*watchdog, n)
	superseded := make([]bool, n)
	finished := make(chan bool, n) // one per stream: whether it stored its archive
	var wg sync.WaitGroup
	for i, t := range targets {
		pr, pw := io.Pipe()
		pws[i] = pw
		wctx, wd := newWatchdog(ctx, p.cfg.NodeTimeout)
		dogs[i] = wd
		outs[i] = kickWriter{pw, wd}
		meta := map[string]string{client.MetaECIndex: strconv.Itoa(i), client.MetaECLayout: fmt.Sprintf("%d+%d/%d", c.K, c.M, c.SegmentBytes)}
		creq := client.PutRequest{Name: req.Name, Timestamp: ts, Length: l.ArchiveSize(), ContentType: req.ContentType, Meta: meta}
		wg.Go(func() {
			defer wd.stop()
			s := time.Now()
			err := p.nodes.Put(wctx, t, creq, pr)
			p.m.replica(opPut, s, err, wd.fired.Load())
			p.observeErr(err)
			var se *client.StatusError
			if errors.As(err, &se) && se.Timestamp == ts {
				err = nil // stored already: a retry of this very write
			}
			if p.supersedes(err, ts) {
				// The node holds a newer version: this write lost last-writer-wins there,
				// which counts as done (as for a replicated write). Its fragment is not
				// needed; take the rest of the stream so the encoder goes on.
				superseded[i] = true
				finished <- true
				io.Copy(io.Discard, pr)
				return
			}
			errs[i] = err
			finished <- err == nil
			if err == nil {
				err = io.ErrClosedPipe // it needs no more bytes
			}
			pr.CloseWithError(err)
		})
	}
	abort := func(err error) {
		for _, pw := range pws {
			pw.CloseWithError(err)
		}
		wg.Wait()
	}
	enc, err := ec.NewEncoder(l, outs, c.ECDurable())
	if err != nil {
		abort(err)
		return PutResult{}, quorumOf(err)
	}
	sum := md5.New()
	copied, err := io.Copy(enc, io.TeeReader(io.LimitReader(body, req.Length), sum))
	if err == nil && copied < req.Length {
		err = fmt.Errorf("%w: %d of %d bytes", ErrIncompleteBody, copied, req.Length)
	}
	if err == nil {
		var one [1]byte
		if k, _ := body.Read(one[:]); k > 0 {
			err = fmt.Errorf("%w: more than %d bytes", ErrIncompleteBody, req.Length)
		}
	}
	var res PutResult
	copy(res.MD5[:], sum.Sum(nil))
	if err == nil && req.Verify != nil {
		err = req.Verify(res.MD5[:])
	}
	if err == nil {
		err = enc.Close()
	}
	if err != nil {
		// No archive is complete: each node waits for its body's end, which now fails.
		abort(err)
		err = quorumOf(err)
		p.m.record(opPut, start, resultError)
		return PutResult{}, err
	}
	for _, pw := range pws {
		pw.Close()
	}
	// Once ECDurable archives are stored, the rest get a grace period (as a replicated
	// write's do) and are then given up on: a hung node must not hold up every write, and
	// the reconstructor rebuilds what it missed.
	durable, bodyDone := 0, time.Now()
	var grace <-chan time.Time
	for left := n; left > 0; left-- {
		select {
		case ok := <-finished:
			if ok {
				if durable++; durable == c.ECDurable() {
					grace = time.After(p.postQuorumGrace(time.Since(bodyDone)))
				}
			}
			continue
		case <-grace:
			for _, wd := range dogs {
				wd.stop() // cancels the calls still out; a finished one's is stopped already
			}
		}
		break
	}
	wg.Wait()
	var stored []client.Target
	var failed []error
	for i, err := range errs {
		if superseded[i] && !res.Superseded {
			res.Superseded = true
			// A deletion newer than this write: the caller must not index it (see
			// PutResult.DeletedAfter).
			hctx, cancel := context.WithTimeout(ctx, p.cfg.NodeTimeout)
			_, herr := p.nodes.Head(hctx, targets[i], req.Name)
			cancel()
			var se *client.StatusError
			res.DeletedAfter = errors.Is(herr, client.ErrNotFound) && errors.As(herr, &se) && se.Timestamp > ts
		}
		if err == nil {
			stored = append(stored, targets[i])
		} else {
			failed = append(failed, fmt.Errorf("fragment %d on %v: %w", i, targets[i], err))
		}
	}
	res.Timestamp, res.Replicas = ts, len(stored)
	if len(stored) < c.ECDurable() {
		p.retract(ctx, req.Name, ts, stored)
		p.m.record(opPut, start, resultError)
		return PutResult{}, &QuorumError{Op: "put", Want: c.ECDurable(), Got: len(stored), Errs: failed}
	}
	if len(failed) > 0 {
		p.log.Warn("erasure-coded write stored without some fragments", "key", req.Name, "stored", len(stored), "of", n, "errs", errors.Join(failed...))
	}
	if commit != nil {
		if err := commit(ctx, res); errors.Is(err, ErrOvertaken) {
			// Lost last-writer-wins (see ErrOvertaken): retracted, but a success.
			p.retract(ctx, req.Name, ts, stored)
			res.Overtaken = true
			p.m.record(opPut, start, resultOK)
			return res, nil
		} else if err != nil {
			p.retract(ctx, req.Name, ts, stored)
			p.m.record(opPut, start, resultError)
			return PutResult{}, err
		}
	}
	p.m.record(opPut, start, resultOK)
	return res, nil
}

// kickWriter tells a watchdog about every write that went through: a node that takes no
// bytes for NodeTimeout is given up on.
type kickWriter struct {
	w  io.Writer
	wd *watchdog
}

func (k kickWriter) Write(b []byte) (int, error) {
	n, err := k.w.Write(b)
	if n > 0 {
		k.wd.kick()
	}
	return n, err
}

// quorumOf turns the encoder's "too few outputs left" into the QuorumError a write that
// reached too few nodes returns.
func quorumOf(err error) error {
	var tf *ec.TooFewFragmentsError
	if errors.As(err, &tf) {
		return &QuorumError{Op: "put", Want: tf.Want, Got: tf.Got, Errs: tf.Errs}
	}
	return err
}

// supersedes reports whether err is a node's refusal of a write stamped ts because it
// holds a newer version, one no later than this proxy's wall clock (see
// fanout.supersededBy: a version from the proxy's future means its clock is slow).
func (p *Proxy) supersedes(err error, ts hlc.Timestamp) bool {
	var se *client.StatusError
	if !errors.As(err, &se) || !errors.Is(err, client.ErrConflict) || se.Timestamp <= ts {
		return false
	}
	now := time.Now
	if p.clock.Now != nil {
		now = p.clock.Now
	}
	return !se.Timestamp.Time().After(now())
}
