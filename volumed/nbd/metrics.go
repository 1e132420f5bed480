package nbd

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus metrics, registered on the Registerer given to New.
// Labels: op is a command name (cmdName), result is "ok" or an errno name.
type metrics struct {
	requests    *prometheus.CounterVec   // op, result
	seconds     *prometheus.HistogramVec // op
	inflight    prometheus.Gauge
	bytes       *prometheus.CounterVec // op
	connections prometheus.Gauge
	handshakes  *prometheus.CounterVec // result

	// Children resolved once per command type, so the per-request path does no label
	// lookups; errors (rare) go through the vectors.
	byCmd [cmdBlockStatus + 1]cmdMetrics
}

type cmdMetrics struct {
	ok      prometheus.Counter
	seconds prometheus.Observer
	bytes   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "stratus", "volumed_nbd"
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "requests_total", Help: "NBD requests answered, by command and result (ok or the NBD error)."},
			[]string{"op", "result"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "request_seconds", Help: "Time from reading an NBD request to queueing its reply, by command.",
			Buckets: prometheus.ExponentialBuckets(25e-6, 4, 11)}, []string{"op"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "inflight_requests", Help: "NBD requests being handled, over all connections."}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "bytes_total", Help: "Bytes covered by successful NBD requests, by command: data read and written, ranges trimmed, zeroed and cached."},
			[]string{"op"}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "connections", Help: "NBD connections open, in negotiation or transmission."}),
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "handshakes_total", Help: "NBD negotiations ended, by result: ok (transmission began), aborted (by the client), failed."},
			[]string{"result"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.seconds, m.inflight, m.bytes, m.connections, m.handshakes} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for typ := range m.byCmd {
		op := cmdName(uint16(typ))
		if uint16(typ) == cmdDisc {
			continue // no reply, not counted
		}
		m.byCmd[typ] = cmdMetrics{
			ok:      m.requests.WithLabelValues(op, "ok"),
			seconds: m.seconds.WithLabelValues(op),
			bytes:   m.bytes.WithLabelValues(op),
		}
	}
	return m, nil
}

// observe records one answered request.
func (m *metrics) observe(typ uint16, e errno, seconds float64, n uint64) {
	if int(typ) >= len(m.byCmd) || typ == cmdDisc {
		m.requests.WithLabelValues(cmdName(typ), e.String()).Inc()
		return
	}
	c := &m.byCmd[typ]
	c.seconds.Observe(seconds)
	if e != errnoOK {
		m.requests.WithLabelValues(cmdName(typ), e.String()).Inc()
		return
	}
	c.ok.Inc()
	if n > 0 {
		c.bytes.Add(float64(n))
	}
}
