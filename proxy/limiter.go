package proxy

import (
	"sync"
	"time"
)

// limiter skips nodes that keep failing, as Swift's error limiting does: after limit
// consecutive failures a node is not tried for suppress, unless nothing else is left.
type limiter struct {
	limit    int
	suppress time.Duration
	now      func() time.Time

	mu    sync.Mutex
	nodes map[string]*nodeHealth
}

type nodeHealth struct {
	failures int
	until    time.Time
}

func newLimiter(limit int, suppress time.Duration) *limiter {
	return &limiter{limit: limit, suppress: suppress, now: time.Now, nodes: map[string]*nodeHealth{}}
}

// limited reports whether host is being skipped.
func (l *limiter) limited(host string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.nodes[host]
	return h != nil && l.now().Before(h.until)
}

// failed records a failure of host.
func (l *limiter) failed(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.nodes[host]
	if h == nil {
		h = &nodeHealth{}
		l.nodes[host] = h
	}
	h.failures++
	if h.failures >= l.limit {
		h.until = l.now().Add(l.suppress)
		h.failures = 0
	}
}

// ok records that host answered.
func (l *limiter) ok(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.nodes, host)
}
