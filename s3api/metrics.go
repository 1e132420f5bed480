package s3api

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the S3 front end's: requests by operation and answer, and their latency.
// Labels stay low-cardinality: the operation is the method and what it addresses
// (service, bucket or object), never a bucket or key.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stratus_s3api_requests_total",
			Help: "S3 requests by operation and HTTP status.",
		}, []string{"op", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "stratus_s3api_request_duration_seconds",
			Help:    "Time to serve an S3 request, to the end of its response.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"op"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration)
	}
	return m
}

// authMetrics are the Verifier's: failed authentications by reason, and requests the
// failure limit refused, by what refused them (the key's limit or the address's). Labels
// never name the key or the address. NewServer registers them with its own.
type authMetrics struct {
	failures  *prometheus.CounterVec
	throttled *prometheus.CounterVec
}

func newAuthMetrics() *authMetrics {
	m := &authMetrics{
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stratus_s3api_auth_failures_total",
			Help: "Failed S3 authentications by reason: signature, chunk_signature, unknown_key.",
		}, []string{"reason"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stratus_s3api_auth_throttled_total",
			Help: "S3 requests refused with SlowDown, unverified, after too many failed authentications, by scope: key or address.",
		}, []string{"scope"}),
	}
	// Every series exists from the start, so a rate over it is defined before the first event.
	for _, r := range []string{reasonSignature, reasonChunkSignature, reasonUnknownKey} {
		m.failures.WithLabelValues(r)
	}
	for _, s := range []string{scopeKey, scopeAddress} {
		m.throttled.WithLabelValues(s)
	}
	return m
}

func (m *authMetrics) register(reg prometheus.Registerer) {
	if reg != nil {
		reg.MustRegister(m.failures, m.throttled)
	}
}

// observe records one request.
func (m *metrics) observe(op string, status int, start time.Time) {
	m.requests.WithLabelValues(op, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

// opName names a request for the metrics.
func opName(method, bucket, key string) string {
	switch {
	case bucket == "":
		return method + "_service"
	case key == "":
		return method + "_bucket"
	}
	return method + "_object"
}
