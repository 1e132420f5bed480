package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"stratus/objectd/client"
)

// Operations, as the metrics label them: what the proxy asked of a storage node.
const (
	opPut    = "put"
	opGet    = "get"
	opDelete = "delete" // tombstones, including those that retract a write that failed
)

// What a request to a storage node came to, as the metrics label it. The node answered:
// ok, conflict (it holds a version at least as new), not_found, stale (a read found
// another version than the one asked for), unavailable (507: device not mounted, or
// full), refused (the write's timestamp is too far ahead of the node's clock, or the
// node refused this proxy's certificate), corrupt (its copy failed verification),
// bad_request, error (anything else). It did not: timeout (no answer or progress in
// time, including replicas given up on once a quorum had answered), canceled (the caller
// left, or the request was abandoned because the operation had already failed or been
// answered), unreachable (no connection).
const (
	resultOK          = "ok"
	resultConflict    = "conflict"
	resultNotFound    = "not_found"
	resultStale       = "stale"
	resultUnavailable = "unavailable"
	resultRefused     = "refused"
	resultCorrupt     = "corrupt"
	resultBadRequest  = "bad_request"
	resultError       = "error"
	resultTimeout     = "timeout"
	resultCanceled    = "canceled"
	resultUnreachable = "unreachable"
)

var (
	allOps     = []string{opPut, opGet, opDelete}
	allResults = []string{resultOK, resultConflict, resultNotFound, resultStale, resultUnavailable,
		resultRefused, resultCorrupt, resultBadRequest, resultError, resultTimeout, resultCanceled,
		resultUnreachable}
)

// metrics are the proxy's, registered on Config.Registerer. Labels are operations and
// outcomes only, never a node, bucket or key. Without a Registerer they are kept but not
// registered, so the data path records them unconditionally.
type metrics struct {
	replicaRequests *prometheus.CounterVec   // op, result
	replicaSeconds  *prometheus.HistogramVec // op
	handoffs        *prometheus.CounterVec   // op
	quorumFailures  *prometheus.CounterVec   // op
	nodesSkipped    prometheus.Counter
	clockSkew       prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "stratus", "proxy"
	m := &metrics{
		replicaRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "replica_requests_total",
			Help: "Requests to storage nodes, by operation (put, get, delete) and what they came to (ok, conflict, not_found, stale, unavailable, refused, corrupt, bad_request, error, timeout, canceled, unreachable)."},
			[]string{"op", "result"}),
		replicaSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name:    "replica_request_duration_seconds",
			Help:    "Time from sending a request to a storage node to its answer (for a put, once the body is stored; for a get, the response headers), by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"op"}),
		handoffs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "handoffs_total",
			Help: "Requests sent to handoff devices in place of primaries that failed, were skipped or were slow, by operation."},
			[]string{"op"}),
		quorumFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "quorum_failures_total",
			Help: "Operations that failed for lack of replicas: writes and deletes short of their quorum, reads that could not reach enough replicas to answer, by operation."},
			[]string{"op"}),
		nodesSkipped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "nodes_skipped_total",
			Help: "Times a storage node was passed over for a request because it kept failing (error limiting)."}),
		clockSkew: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "clock_skew_refusals_total",
			Help: "Writes storage nodes refused as dated too far ahead of their clocks: this proxy's clock runs fast."}),
	}
	// Every series exists from the start, so a rate over it is defined before the first event.
	for _, op := range allOps {
		for _, r := range allResults {
			m.replicaRequests.WithLabelValues(op, r)
		}
		m.replicaSeconds.WithLabelValues(op)
		m.handoffs.WithLabelValues(op)
		m.quorumFailures.WithLabelValues(op)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.replicaRequests, m.replicaSeconds, m.handoffs,
		m.quorumFailures, m.nodesSkipped, m.clockSkew} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("proxy metrics: %w", err)
		}
	}
	return m, nil
}

// replica records one request to a storage node, sent at start, that ended with err, which
// the proxy gave up on for taking too long if gaveUp.
func (m *metrics) replica(op string, start time.Time, err error, gaveUp bool) {
	m.record(op, start, replicaResult(err, gaveUp))
	if errors.Is(err, client.ErrFutureTimestamp) {
		m.clockSkew.Inc()
	}
}

// record records one request to a storage node, sent at start, that came to result.
func (m *metrics) record(op string, start time.Time, result string) {
	m.replicaRequests.WithLabelValues(op, result).Inc()
	m.replicaSeconds.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

// replicaResult names what a request to a storage node came to (see resultOK…).
func replicaResult(err error, gaveUp bool) string {
	var op *net.OpError
	var ne net.Error
	switch {
	case err == nil:
		return resultOK
	case errors.Is(err, client.ErrConflict):
		return resultConflict
	case errors.Is(err, client.ErrNotFound):
		return resultNotFound
	case errors.Is(err, client.ErrDeviceUnavailable), errors.Is(err, client.ErrNoSpace):
		return resultUnavailable
	case errors.Is(err, client.ErrFutureTimestamp), errors.Is(err, client.ErrUnauthenticated),
		errors.Is(err, client.ErrForbidden):
		return resultRefused
	case errors.Is(err, client.ErrCorrupt):
		return resultCorrupt
	case errors.Is(err, client.ErrInvalid), errors.Is(err, client.ErrLength), errors.Is(err, client.ErrRange),
		errors.Is(err, client.ErrChecksum):
		return resultBadRequest
	case errors.Is(err, client.ErrInternal):
		return resultError
	case gaveUp, errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return resultTimeout
	case errors.Is(err, context.Canceled):
		return resultCanceled
	case errors.As(err, &op) && op.Op == "dial":
		return resultUnreachable
	}
	return resultError
}
