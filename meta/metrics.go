package meta

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are a node's Prometheus metrics. They carry no per-node label: each node registers
// on its own Registerer (several nodes in one test process use separate registries).
type metrics struct {
	applied         prometheus.Gauge
	leader          prometheus.Gauge
	duplicates      prometheus.Counter
	applySeconds    prometheus.Histogram
	batchRequests   prometheus.Histogram
	requests        *prometheus.CounterVec
	snapshotSeconds prometheus.Histogram
	snapshotBytes   prometheus.Gauge
	restores        prometheus.Counter
	secretReads     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		applied: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "stratus_meta_applied_index", Help: "Last Raft index applied to the state machine.",
		}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "stratus_meta_leader", Help: "1 if this node is the Raft leader, else 0.",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stratus_meta_duplicate_requests_total", Help: "Requests whose ID had already been applied (retries), answered from the dedup table.",
		}),
		applySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "stratus_meta_raft_apply_seconds", Help: "Time from proposing a batch to Raft until it is applied.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		batchRequests: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "stratus_meta_batch_requests", Help: "Requests per Raft log entry.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11),
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stratus_meta_requests_total", Help: "API requests served, by operation and result code.",
		}, []string{"op", "code"}),
		snapshotSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "stratus_meta_snapshot_persist_seconds", Help: "Time to stream a snapshot of the state machine to disk.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		snapshotBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "stratus_meta_snapshot_size_bytes", Help: "Size of the last snapshot written.",
		}),
		restores: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stratus_meta_snapshot_restores_total", Help: "Snapshots installed into the state machine (at start, or sent by the leader to a lagging node).",
		}),
		secretReads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stratus_meta_secret_reads_total", Help: "Secrets asked for through the secret call, by the caller's role and the outcome (ok, not_found, rate_limited).",
		}, []string{"role", "result"}),
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.applied, m.leader, m.duplicates, m.applySeconds, m.batchRequests, m.requests, m.snapshotSeconds, m.snapshotBytes, m.restores, m.secretReads} {
		errs = append(errs, reg.Register(c))
	}
	return m, errors.Join(errs...)
}
