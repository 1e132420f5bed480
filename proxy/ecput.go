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
// (then runs commit, as Put does). A fragment whose node the proxy skips, or whose node
// fails before the archive's first block is through, goes to a handoff device instead
// (fragStream, handoffPicker) — another fragment's primary when the ring has no other
// device left, so that one host down of three with 4+2 still takes writes. Each stream
// has a queue (fragQueue), so a slow node trails without holding the others; one that
// trails them by its whole queue for the post-quorum timeout, fails later, or makes no
// progress for NodeTimeout is dropped and its fragment left missing, for the
// reconstructor. The write needs ECDurable archives, and one more for
// each device holding two, so that losing any one device leaves K. If the write or commit fails, the
// archives stored get tombstones; a commit answering ErrOvertaken has them retracted too,
// and PutEC succeeds with PutResult.Overtaken, as Put does.
func (p *Proxy) PutEC(ctx context.Context, c ECCode, req PutRequest, body io.Reader, commit func(context.Context, PutResult) error) (PutResult, error) {
	start := time.Now()
	l := c.Layout(req.Length)
	if err := l.Validate(); err != nil {
		return PutResult{}, err
	}
	pl, err := p.placeECAll(c, req.Name)
	if err != nil {
		return PutResult{}, err
	}
	ts := req.Timestamp
	if ts == 0 {
		ts = p.clock.Next()
	}
	n := len(pl.primaries)
	picker := p.newHandoffPicker(pl)
	defer picker.close()
	streams := make([]*fragStream, n)
	outs := make([]io.Writer, n)
	window := min(l.ArchiveSize(), int64(ec.HeaderSize+ec.ChecksumSize+(c.SegmentBytes+c.K-1)/c.K))
	for i, t := range pl.primaries {
		meta := map[string]string{client.MetaECIndex: strconv.Itoa(i), client.MetaECLayout: fmt.Sprintf("%d+%d/%d", c.K, c.M, c.SegmentBytes)}
		s := &fragStream{p: p, ctx: ctx, index: i, name: req.Name, ts: ts, window: window, picker: picker,
			replay: make([]byte, 0, window),
			creq:   client.PutRequest{Name: req.Name, Timestamp: ts, Length: l.ArchiveSize(), ContentType: req.ContentType, Meta: meta}}
		streams[i], outs[i] = s, s
		if p.lim.limited(t.Host) {
			// A node the proxy skips gets no stream: its fragment starts on a handoff.
			p.m.nodesSkipped.Inc()
			if h, ok := picker.pick(t.Host); ok {
				s.begin(h, true)
				continue
			}
		}
		s.begin(t, false)
	}
	abort := func(err error) {
		for _, s := range streams {
			s.closeWithError(err)
		}
		for _, s := range streams {
			s.wait()
		}
	}
	// Each stream may trail the encoder by its share of MaxLagBytes (at least a block).
	block := int64(ec.ChecksumSize + (c.SegmentBytes+c.K-1)/c.K)
	newFragQueues(streams, int(max(1, int64(p.cfg.MaxLagBytes)/int64(n)/block)), p.postQuorumGrace(0), c.ECDurable())
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
	finished := make(chan bool, n) // one per stream: whether it stored its archive
	for _, s := range streams {
		go func() {
			s.closeWithError(nil) // once its queue is sent
			a := s.wait()
			finished <- a.err == nil
		}()
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
			for _, s := range streams {
				s.giveUp() // cancels the calls still out; a finished one's is stopped already
			}
		}
		break
	}
	var stored []storedArchive
	var failed []error
	perDevice := map[string]int{}
	most := 0 // the most archives on one device
	for i, s := range streams {
		a := s.wait()
		if a.superseded && !res.Superseded {
			res.Superseded = true
			// A deletion newer than this write: the caller must not index it (see
			// PutResult.DeletedAfter).
			hctx, cancel := context.WithTimeout(ctx, p.cfg.NodeTimeout)
			_, herr := p.nodes.Head(hctx, pl.primaries[i], req.Name)
			cancel()
			var se *client.StatusError
			res.DeletedAfter = errors.Is(herr, client.ErrNotFound) && errors.As(herr, &se) && se.Timestamp > ts
		}
		failed = append(failed, s.failures()...)
		if a.err == nil {
			stored = append(stored, storedArchive{a.target, s.creq.Name})
			if a.handoff {
				stored[len(stored)-1].name = client.ECHandoffName(req.Name, i)
			}
			dev := a.target.Host + "/" + a.target.Device
			perDevice[dev]++
			most = max(most, perDevice[dev])
		} else {
			failed = append(failed, fmt.Errorf("fragment %d on %v: %w", i, a.target, a.err))
		}
	}
	res.Timestamp, res.Replicas = ts, len(stored)
	// K+1 archives, so that one device lost leaves K: with two fragments on a device (a
	// handoff on another fragment's primary), that takes one more.
	if len(stored) < c.ECDurable() || len(stored)-most < c.K {
		p.retractEC(ctx, ts, stored)
		p.m.record(opPut, start, resultError)
		return PutResult{}, &QuorumError{Op: "put", Want: c.ECDurable() + max(most-1, 0), Got: len(stored), Errs: failed}
	}
	if len(failed) > 0 {
		p.log.Warn("erasure-coded write stored without some fragments", "key", req.Name, "stored", len(stored), "of", n, "errs", errors.Join(failed...))
	}
	if commit != nil {
		if err := commit(ctx, res); errors.Is(err, ErrOvertaken) {
			// Lost last-writer-wins (see ErrOvertaken): retracted, but a success.
			p.retractEC(ctx, ts, stored)
			res.Overtaken = true
			p.m.record(opPut, start, resultOK)
			return res, nil
		} else if err != nil {
			p.retractEC(ctx, ts, stored)
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

// storedArchive is a fragment archive a write stored: on its primary under the object's
// name, or on a handoff device under ECHandoffName.
type storedArchive struct {
	target client.Target
	name   string
}

// retractEC writes tombstones just after ts over the archives of a write that is not to
// be kept.
func (p *Proxy) retractEC(ctx context.Context, ts hlc.Timestamp, stored []storedArchive) {
	ctx = context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	for _, a := range stored {
		wg.Go(func() {
			start := time.Now()
			dctx, cancel := context.WithTimeout(ctx, p.cfg.NodeTimeout)
			defer cancel()
			err := p.nodes.Delete(dctx, a.target, a.name, ts+1)
			p.m.replica(opDelete, start, err, false)
			p.observeErr(err)
			if err != nil && !errors.Is(err, client.ErrConflict) {
				p.log.Warn("tombstone of an unindexed write failed", "key", a.name, "node", a.target.Host, "err", err)
			}
		})
	}
	wg.Wait()
}
