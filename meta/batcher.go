package meta

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"stratus/meta/client"
)

// pending is a request waiting for its batch to be applied.
type pending struct {
	req  client.ApplyRequest
	size int
	done chan outcome // buffered; receives exactly one outcome
}

type outcome struct {
	res applyResult
	err error
}

// batcher turns concurrent write requests into few Raft log entries. It never waits to fill a
// batch: it takes whatever is queued when a Raft slot frees up, so an idle node commits a lone
// request at once and a busy one commits hundreds per entry.
type batcher struct {
	raft     *raft.Raft
	in       chan *pending
	slots    chan struct{} // one per batch in flight
	maxReqs  int
	maxBytes int
	timeout  time.Duration
	m        *metrics
	now      func() time.Time
}

func newBatcher(r *raft.Raft, cfg Config, m *metrics) *batcher {
	return &batcher{
		raft:     r,
		in:       make(chan *pending, 4*cfg.MaxBatchRequests),
		slots:    make(chan struct{}, cfg.MaxInflightBatches),
		maxReqs:  cfg.MaxBatchRequests,
		maxBytes: cfg.MaxBatchBytes,
		timeout:  cfg.ApplyTimeout,
		m:        m,
		now:      time.Now,
	}
}

// submit queues reqs (in order, so they usually share a log entry) and waits for their
// outcomes or ctx. A request whose ctx ends after it was queued may still be applied; its ID
// makes a retry safe.
func (b *batcher) submit(ctx context.Context, stop <-chan struct{}, reqs []client.ApplyRequest) []outcome {
	out := make([]outcome, len(reqs))
	ps := make([]*pending, 0, len(reqs))
	for i := range reqs {
		p := &pending{req: reqs[i], size: encodedSize(&reqs[i]), done: make(chan outcome, 1)}
		select {
		case b.in <- p:
			ps = append(ps, p)
		case <-ctx.Done():
			out[i].err = fmt.Errorf("queue write: %w: %v", ErrUnavailable, ctx.Err())
		case <-stop:
			out[i].err = ErrClosed
		}
	}
	k := 0
	for i := range out {
		if out[i].err != nil {
			continue
		}
		select {
		case out[i] = <-ps[k].done:
		case <-ctx.Done():
			out[i].err = fmt.Errorf("wait for commit: %w: %v", ErrUnavailable, ctx.Err())
		case <-stop:
			// The outcome is unknown; a retry with the same ID is safe.
			out[i].err = ErrClosed
		}
		k++
	}
	return out
}

// run forms and proposes batches until ctx ends, then fails whatever is queued and waits for
// the batches in flight.
func (b *batcher) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		for {
			select {
			case p := <-b.in:
				p.done <- outcome{err: ErrClosed}
			default:
				return
			}
		}
	}()
	var carry *pending
	for {
		first := carry
		carry = nil
		if first == nil {
			select {
			case first = <-b.in:
			case <-ctx.Done():
				return
			}
		}
		select {
		case b.slots <- struct{}{}:
		case <-ctx.Done():
			first.done <- outcome{err: ErrClosed}
			return
		}
		group := []*pending{first}
		size := first.size
	collect:
		for len(group) < b.maxReqs {
			select {
			case p := <-b.in:
				if size+p.size > b.maxBytes {
					carry = p
					break collect
				}
				group = append(group, p)
				size += p.size
			default:
				break collect
			}
		}
		reqs := make([]client.ApplyRequest, len(group))
		for i, p := range group {
			reqs[i] = p.req
		}
		start := time.Now()
		fut := b.raft.Apply(encodeBatch(batch{Time: b.now().UnixNano(), Requests: reqs}), b.timeout)
		b.m.batchRequests.Observe(float64(len(group)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-b.slots }()
			b.finish(fut, group)
			b.m.applySeconds.Observe(time.Since(start).Seconds())
		}()
	}
}

// finish waits for a batch and hands each request its outcome.
func (b *batcher) finish(fut raft.ApplyFuture, group []*pending) {
	if err := fut.Error(); err != nil {
		err = raftError(err)
		for _, p := range group {
			p.done <- outcome{err: err}
		}
		return
	}
	switch resp := fut.Response().(type) {
	case []applyResult:
		for i, p := range group {
			p.done <- outcome{res: resp[i]}
		}
	case error:
		for _, p := range group {
			p.done <- outcome{err: resp}
		}
	default:
		for _, p := range group {
			p.done <- outcome{err: fmt.Errorf("%w: unexpected apply response %T", ErrCorruptEntry, resp)}
		}
	}
}

// raftError maps raft's errors to ours. After ErrLeadershipLost the entry may or may not
// commit; the client's retry carries the same request ID, so it is applied at most once.
func raftError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrLeadershipTransferInProgress), errors.Is(err, raft.ErrAbortedByRestore):
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrClosed
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return err
}
