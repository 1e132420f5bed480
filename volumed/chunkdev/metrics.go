package chunkdev

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the devices' collectors, labelled by volume: one set per daemon, registered
// once, shared by every device it opens (Config.Metrics). A device observes through
// observers curried with its volume ID; Forget drops a volume's series when its attachment
// ends, so the series on a host are those of the volumes it serves.
type Metrics struct {
	ops        *prometheus.CounterVec   // volume, op
	errs       *prometheus.CounterVec   // volume, op
	bytes      *prometheus.CounterVec   // volume, op
	latency    *prometheus.HistogramVec // volume, op
	flush      *prometheus.HistogramVec // volume
	degraded   *prometheus.GaugeVec     // volume
	behind     *prometheus.CounterVec   // volume
	repairs    *prometheus.CounterVec   // volume
	repairFail *prometheus.CounterVec   // volume
	repairBlks *prometheus.CounterVec   // volume
}

// NewMetrics makes the devices' collectors and registers them on reg (nil: nowhere, for a
// device whose metrics nobody scrapes).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	vol := []string{"volume"}
	volOp := []string{"volume", "op"}
	m := &Metrics{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stratus_volumed_chunkdev_requests_total",
			Help: "Device requests by volume and op (read, write, zero, trim, flush, block_status): rate() is IOPS.",
		}, volOp),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stratus_volumed_chunkdev_request_errors_total",
			Help: "Device requests that failed, by volume and op.",
		}, volOp),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stratus_volumed_chunkdev_bytes_total",
			Help: "Bytes read, written, zeroed or trimmed, by volume and op.",
		}, volOp),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "stratus_volumed_chunkdev_request_duration_seconds",
			Help:    "Device request latency by volume and op.",
			Buckets: prometheus.ExponentialBuckets(100e-6, 2, 16),
		}, volOp),
		flush: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "stratus_volumed_chunkdev_flush_duration_seconds",
			Help:    "Time for a flush to reach a write quorum of every dirty chunk, by volume.",
			Buckets: prometheus.ExponentialBuckets(100e-6, 2, 16),
		}, vol),
		degraded: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "stratus_volumed_chunkdev_degraded_chunks",
			Help: "Chunks with at least one replica behind, by volume.",
		}, vol),
		behind: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stratus_volumed_chunkdev_replicas_behind_total",
			Help: "Times a chunk replica was marked behind, by volume.",
		}, vol),
		repairs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stratus_volumed_chunkdev_repairs_total",
			Help: "Chunk replicas repaired with at least one block copied, by volume.",
		}, vol),
		repairFail: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stratus_volumed_chunkdev_repair_failures_total",
			Help: "Repair attempts that failed and will be retried, by volume.",
		}, vol),
		repairBlks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stratus_volumed_chunkdev_repaired_blocks_total",
			Help: "Blocks copied by repairs, by volume.",
		}, vol),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register chunkdev metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.ops, m.errs, m.bytes, m.latency, m.flush, m.degraded, m.behind, m.repairs, m.repairFail, m.repairBlks}
}

// Forget deletes every series of volume: call it once the volume's device is detached (a
// detached device observes nothing more).
func (m *Metrics) Forget(volume string) {
	l := prometheus.Labels{"volume": volume}
	m.ops.DeletePartialMatch(l)
	m.errs.DeletePartialMatch(l)
	m.bytes.DeletePartialMatch(l)
	m.latency.DeletePartialMatch(l)
	m.flush.DeletePartialMatch(l)
	m.degraded.DeletePartialMatch(l)
	m.behind.DeletePartialMatch(l)
	m.repairs.DeletePartialMatch(l)
	m.repairFail.DeletePartialMatch(l)
	m.repairBlks.DeletePartialMatch(l)
}

// metrics is one device's view of Metrics: its volume's series.
type metrics struct {
	ops        *prometheus.CounterVec // op
	errs       *prometheus.CounterVec // op
	bytes      *prometheus.CounterVec // op
	latency    prometheus.ObserverVec // op
	flush      prometheus.Observer
	degraded   prometheus.Gauge
	behind     prometheus.Counter
	repairs    prometheus.Counter
	repairFail prometheus.Counter
	repairBlks prometheus.Counter
}

// newMetrics returns cfg.Volume's series of cfg.Metrics, or, without it, of a set of its own
// registered on reg (nil: nowhere).
func newMetrics(cfg Config, reg prometheus.Registerer) (*metrics, error) {
	m := cfg.Metrics
	if m == nil {
		var err error
		if m, err = NewMetrics(reg); err != nil {
			return nil, err
		}
	}
	l := prometheus.Labels{"volume": cfg.Volume}
	v := cfg.Volume
	return &metrics{
		ops:        m.ops.MustCurryWith(l),
		errs:       m.errs.MustCurryWith(l),
		bytes:      m.bytes.MustCurryWith(l),
		latency:    m.latency.MustCurryWith(l),
		flush:      m.flush.WithLabelValues(v),
		degraded:   m.degraded.WithLabelValues(v),
		behind:     m.behind.WithLabelValues(v),
		repairs:    m.repairs.WithLabelValues(v),
		repairFail: m.repairFail.WithLabelValues(v),
		repairBlks: m.repairBlks.WithLabelValues(v),
	}, nil
}
