package proxy

import (
	"errors"
	"sync"
	"time"
)

// fragQueue lets one fragment's stream trail the encoder by a few blocks, so that a node
// that is slow for a moment does not hold every other stream of the write (the encoder
// sends each segment to all K+M outputs before reading the next). A stream whose queue is
// full for lagWait while enough others have room for the write to succeed without it is
// dropped: its node is slower than the rest, and the reconstructor rebuilds its fragment.
// When every node is slow (every queue full), none is dropped: the write goes at their
// pace, as it must. Memory: the queue's blocks, bounded by its capacity (plus one being
// sent and one being filled).
type fragQueue struct {
	s       *fragStream
	blocks  chan []byte
	free    chan []byte
	drained chan struct{}
	lagWait time.Duration
	group   []*fragQueue // the write's queues, this one among them
	minLive int          // streams with room, besides this one, needed to drop it

	mu  sync.Mutex
	err error // set once the stream failed or was dropped: it takes nothing more
}

// newFragQueues gives each stream a queue of capacity blocks; they start draining.
func newFragQueues(streams []*fragStream, capacity int, lagWait time.Duration, minLive int) {
	group := make([]*fragQueue, len(streams))
	for i, s := range streams {
		group[i] = &fragQueue{s: s, blocks: make(chan []byte, capacity), free: make(chan []byte, capacity+1),
			drained: make(chan struct{}), lagWait: lagWait, minLive: minLive}
		s.q = group[i]
	}
	for _, q := range group {
		q.group = group
		go q.drain()
	}
}

// othersAhead counts the write's other live streams that have room in their queue.
func (q *fragQueue) othersAhead() int {
	n := 0
	for _, o := range q.group {
		if o != q && o.failure() == nil && len(o.blocks) < cap(o.blocks) {
			n++
		}
	}
	return n
}

// errTooSlow drops a stream that trails the others by its whole queue for too long.
var errTooSlow = errors.New("node too slow: its fragment stream trailed the others by its whole buffer")

// put queues a copy of b, waiting while the queue is full; it fails once the stream has.
func (q *fragQueue) put(b []byte) (int, error) {
	if err := q.failure(); err != nil {
		return 0, err
	}
	var buf []byte
	select {
	case buf = <-q.free:
	default:
	}
	if cap(buf) < len(b) {
		buf = make([]byte, len(b))
	}
	buf = buf[:len(b)]
	copy(buf, b)
	select {
	case q.blocks <- buf:
		return len(b), nil
	default:
	}
	lag := time.NewTimer(q.lagWait)
	defer lag.Stop()
	select {
	case q.blocks <- buf:
		return len(b), nil
	case <-q.drained:
		return 0, q.failure()
	case <-lag.C:
	}
	if q.othersAhead() >= q.minLive {
		q.fail(errTooSlow)
		q.s.current().wd.stop() // ends its call; the write goes on without it
		return 0, errTooSlow
	}
	select { // too few others to go on without it: wait (the node timeout still bounds it)
	case q.blocks <- buf:
		return len(b), nil
	case <-q.drained:
		return 0, q.failure()
	}
}

// drain sends the queued blocks in order; after a failure it discards them.
func (q *fragQueue) drain() {
	defer close(q.drained)
	for buf := range q.blocks {
		if q.failure() == nil {
			if _, err := q.s.send(buf); err != nil {
				q.fail(err)
			}
		}
		select {
		case q.free <- buf:
		default:
		}
	}
}

// fail marks the stream failed; the first error stays.
func (q *fragQueue) fail(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err == nil {
		q.err = err
	}
}

func (q *fragQueue) failure() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.err
}

// close waits for the queue to be sent (or discarded, after a failure).
func (q *fragQueue) close() {
	close(q.blocks)
	<-q.drained
}
