package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"

	"stratus/ec"
	"stratus/internal/hlc"
	"stratus/objectd/client"
)

// GetEC opens version of the erasure-coded object name (size bytes, stored under c) for
// reading; rng nil means the whole object. It reads K+1 fragment archives at once — the
// data fragments and one more — and decodes each segment from the first K intact
// fragments to arrive, so one slow or failed node costs nothing; when too few remain it
// asks the other nodes of the partition, from the segment reached. A fragment its primary
// does not serve is looked for on the devices a write hands fragments off to
// (ecPlacement.searchOrder), under ECHandoffName. A range read fetches
// only the segments it spans. The first segment is decoded before GetEC returns, so an
// object that cannot be read fails here (ErrNotFound when the nodes asked do not have the
// version and none has a fragment of it, ErrUnavailable otherwise), not halfway through its body. The caller closes Body.
func (p *Proxy) GetEC(ctx context.Context, c ECCode, name string, version hlc.Timestamp, size int64, rng *client.Range) (*client.Object, error) {
	start := time.Now()
	l := c.Layout(size)
	if err := l.Validate(); err != nil {
		return nil, err
	}
	off, n := int64(0), size
	if rng != nil {
		off, n = rng.Offset, rng.Length
	}
	plan, err := l.Plan(off, n)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", client.ErrRange, err)
	}
	pl, err := p.placeECAll(c, name)
	if err != nil {
		return nil, err
	}
	targets := pl.primaries
	var search []client.Target // where fragments kept off their primaries may be; on first need
	var searchOnce sync.Once
	whole := rng == nil || off == 0 && n == size
	ctx, cancel := context.WithCancel(ctx)
	var nodeErrs []error
	opened := 0
	var mu sync.Mutex
	source := func(i int, from int64) ec.Source {
		aoff, alen := l.ArchiveRangeFrom(plan, from)
		hdr := whole && from == plan.First
		if hdr {
			aoff, alen = l.ArchiveRange(plan, true)
		}
		return ec.Source{Index: i, From: from, Header: hdr, R: &fragmentReader{open: func() (io.ReadCloser, error) {
			wctx, wd := newWatchdog(ctx, p.cfg.NodeTimeout)
			s := time.Now()
			var r *client.Range
			if !hdr || alen != l.ArchiveSize() {
				r = &client.Range{Offset: aoff, Length: alen}
			}
			obj, err := p.getFragment(wctx, targets[i], name, i, version, r)
			if err != nil {
				// Not on its primary: perhaps on a handoff device, under its own name, or,
				// after a ring change the reconstructor has not caught up with, on a
				// device that was its primary, under the object's.
				searchOnce.Do(func() { search = pl.searchOrder() })
				hname := client.ECHandoffName(name, i)
			look:
				for _, t := range search {
					for _, n := range []string{hname, name} {
						if t == targets[i] && n == name || wctx.Err() != nil {
							continue
						}
						if hobj, herr := p.getFragment(wctx, t, n, i, version, r); herr == nil {
							obj, err = hobj, nil
							break look
						}
					}
				}
			}
			p.m.replica(opGet, s, err, wd.fired.Load())
			if err != nil {
				wd.stop()
				mu.Lock()
				nodeErrs = append(nodeErrs, err)
				mu.Unlock()
				return nil, fmt.Errorf("%v: %w", targets[i], err)
			}
			mu.Lock()
			opened++
			mu.Unlock()
			return &watchedBody{ReadCloser: obj.Body, w: wd}, nil
		}}}
	}
	var srcs []ec.Source
	for i := range min(c.K+1, len(targets)) {
		srcs = append(srcs, source(i, plan.First))
	}
	more := func(from int64, exclude []int) (ec.Source, bool) {
		for i := range targets {
			if !slices.Contains(exclude, i) {
				return source(i, from), true
			}
		}
		return ec.Source{}, false
	}
	dec, err := ec.NewReader(l, plan, srcs, more)
	if err != nil {
		cancel()
		return nil, err
	}
	body := &ecBody{Reader: bufio.NewReaderSize(dec, 32<<10), dec: dec, cancel: cancel, p: p, name: name}
	if n > 0 {
		if _, err := body.Peek(1); err != nil {
			body.Close()
			p.m.record(opGet, start, resultError)
			mu.Lock()
			defer mu.Unlock()
			if opened == 0 && len(nodeErrs) > 0 && allNotFound(nodeErrs) {
				return nil, fmt.Errorf("%w: %s at %v: %w", ErrNotFound, name, version, err)
			}
			return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, name, err)
		}
	}
	p.m.record(opGet, start, resultOK)
	return &client.Object{Info: client.Info{Name: name, Timestamp: version, Length: size}, Range: client.Range{Offset: off, Length: n}, Body: body}, nil
}

// getFragment reads a range of version of fragment index's archive, stored as name on t.
func (p *Proxy) getFragment(ctx context.Context, t client.Target, name string, index int, version hlc.Timestamp, r *client.Range) (*client.Object, error) {
	obj, err := p.nodes.GetVersion(ctx, t, name, version, r)
	if err == nil && obj.Timestamp != version {
		obj.Body.Close()
		err = fmt.Errorf("%w: holds version %v, not %v", client.ErrNotFound, obj.Timestamp, version)
	} else if err == nil && obj.Meta[client.MetaECIndex] != strconv.Itoa(index) {
		obj.Body.Close()
		err = fmt.Errorf("%w: holds fragment %s, not %d", client.ErrNotFound, obj.Meta[client.MetaECIndex], index)
	}
	p.observeErr(err)
	return obj, err
}

func allNotFound(errs []error) bool {
	for _, err := range errs {
		if !errors.Is(err, client.ErrNotFound) {
			return false
		}
	}
	return true
}

// ecBody is a decoding read; closing it stops the fragment reads.
type ecBody struct {
	*bufio.Reader
	dec    *ec.Reader
	cancel context.CancelFunc
	p      *Proxy
	name   string
}

// Close stops the reads, and logs the fragments that were corrupt or unreadable: decoding
// went around them, but their archives need rebuilding.
func (b *ecBody) Close() error {
	b.cancel()
	err := b.dec.Close()
	var issues []error
	for _, is := range b.dec.Issues() {
		if !errors.Is(is, context.Canceled) && !errors.Is(is, io.ErrClosedPipe) { // ours, at Close
			issues = append(issues, is)
		}
	}
	if len(issues) > 0 {
		b.p.log.Warn("erasure-coded read went around bad fragments", "key", b.name, "issues", errors.Join(issues...))
	}
	return err
}

// fragmentReader opens its fragment archive on its first read, so that the decoder's
// goroutines open all of them in parallel; Close ends a read that is stuck.
type fragmentReader struct {
	open   func() (io.ReadCloser, error)
	mu     sync.Mutex
	rc     io.ReadCloser
	closed bool
	err    error
}

func (f *fragmentReader) Read(b []byte) (int, error) {
	f.mu.Lock()
	if f.rc == nil && f.err == nil && !f.closed {
		f.rc, f.err = f.open()
	}
	rc, err, closed := f.rc, f.err, f.closed
	f.mu.Unlock()
	if closed {
		return 0, io.ErrClosedPipe
	}
	if err != nil {
		return 0, err
	}
	return rc.Read(b)
}

func (f *fragmentReader) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	if f.rc != nil {
		return f.rc.Close()
	}
	return nil
}
