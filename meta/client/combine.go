package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// combiner merges concurrent write calls of one Client into few HTTP calls. There is no
// background goroutine: a caller that finds a free slot becomes the driver of a round, sends
// every queued request in one PathApplyBatch call and hands each caller its outcome. Callers
// that find no free slot wait for their outcome or for a round to end, when they try again.
//
// If the driver's context ends mid-round, the other requests of the round go back to the
// queue for another driver, so one impatient caller never fails the others.
type combiner struct {
	max int // rounds in flight at most

	mu       sync.Mutex
	queue    []*applyCall
	inflight int
	wake     chan struct{} // closed and replaced whenever a round ends
}

// maxRoundBytes bounds the values sent in one round (a larger single request goes alone).
const maxRoundBytes = 4 << 20

type applyCall struct {
	req    ApplyRequest
	size   int
	queued bool // guarded by combiner.mu
	done   chan applyOutcome
}

type applyOutcome struct {
	resp ApplyResponse
	err  error
}

func (cb *combiner) apply(ctx context.Context, c *Client, req ApplyRequest) (ApplyResponse, error) {
	call := &applyCall{req: req, done: make(chan applyOutcome, 1)}
	for _, op := range req.Ops {
		call.size += len(op.Key) + len(op.Value) + 64
	}
	cb.mu.Lock()
	call.queued = true
	cb.queue = append(cb.queue, call)
	cb.mu.Unlock()
	for {
		cb.mu.Lock()
		var round []*applyCall
		if call.queued && cb.inflight < cb.max {
			round = cb.take()
			cb.inflight++
		}
		wake := cb.wake
		cb.mu.Unlock()
		if round != nil {
			cb.send(ctx, c, call, round)
			cb.mu.Lock()
			cb.inflight--
			close(cb.wake)
			cb.wake = make(chan struct{})
			cb.mu.Unlock()
		}
		select {
		case o := <-call.done:
			return o.resp, o.err
		case <-wake:
		case <-ctx.Done():
			cb.mu.Lock()
			if i := slices.Index(cb.queue, call); i >= 0 {
				cb.queue = slices.Delete(cb.queue, i, i+1)
				call.queued = false
			}
			cb.mu.Unlock()
			// If a round holds the call, its outcome lands in the buffered channel unread.
			return ApplyResponse{}, fmt.Errorf("%s: %w: %v", PathApply, ErrUnavailable, ctx.Err())
		}
	}
}

// take removes the next round from the queue. The caller holds mu.
func (cb *combiner) take() []*applyCall {
	n, size := 0, 0
	for n < len(cb.queue) && n < MaxApplyBatch {
		if n > 0 && size+cb.queue[n].size > maxRoundBytes {
			break
		}
		size += cb.queue[n].size
		n++
	}
	round := slices.Clone(cb.queue[:n])
	cb.queue = slices.Delete(cb.queue, 0, n)
	for _, rc := range round {
		rc.queued = false
	}
	return round
}

// requeue puts calls back at the head of the queue.
func (cb *combiner) requeue(calls []*applyCall) {
	if len(calls) == 0 {
		return
	}
	cb.mu.Lock()
	for _, rc := range calls {
		rc.queued = true
	}
	cb.queue = append(slices.Clone(calls), cb.queue...)
	cb.mu.Unlock()
}

// send delivers a round and hands out its outcomes. Requests that fail with a retriable error
// (the leader changed between them) are resent with the same IDs until the retry timeout.
func (cb *combiner) send(ctx context.Context, c *Client, driver *applyCall, round []*applyCall) {
	deadline := time.Now().Add(c.cfg.RetryTimeout)
	for attempt := 0; len(round) > 0; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(50 * time.Millisecond)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
		body := ApplyBatchRequest{Requests: make([]ApplyRequest, len(round))}
		for i, rc := range round {
			body.Requests[i] = rc.req
		}
		var resp ApplyBatchResponse
		err := c.call(ctx, http.MethodPost, PathApplyBatch, body, &resp, 0)
		if err == nil && len(resp.Results) != len(round) {
			err = fmt.Errorf("%s: %d results for %d requests", PathApplyBatch, len(resp.Results), len(round))
		}
		if err != nil {
			if ctx.Err() != nil {
				// The driver gave up; the others may still have time.
				driver.done <- applyOutcome{err: err}
				cb.requeue(slices.DeleteFunc(round, func(rc *applyCall) bool { return rc == driver }))
				return
			}
			for _, rc := range round {
				rc.done <- applyOutcome{err: err}
			}
			return
		}
		var again []*applyCall
		for i, rc := range round {
			r := resp.Results[i]
			switch {
			case r.Error != nil:
				se := &ServerError{Code: r.Error.Code, Message: r.Error.Message, Leader: r.Error.Leader}
				if retriable(se) && time.Now().Before(deadline) {
					again = append(again, rc)
					continue
				}
				rc.done <- applyOutcome{err: se}
			case r.Response != nil:
				rc.done <- applyOutcome{resp: *r.Response}
			default:
				rc.done <- applyOutcome{err: errors.New("meta: empty batch result")}
			}
		}
		round = again
	}
}
