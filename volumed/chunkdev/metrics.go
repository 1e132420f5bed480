package chunkdev

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	ops        *prometheus.CounterVec   // op
	errs       *prometheus.CounterVec   // op
	bytes      *prometheus.CounterVec   // op
	latency    *prometheus.HistogramVec // op
	flush      prometheus.Histogram
	degraded   prometheus.Gauge
	behind     prometheus.Counter
	repairs    prometheus.Counter
	repairFail prometheus.Counter
	repairBlks prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stratus_volumed_chunkdev_requests_total",
			Help: "Device requests by op (read, write, zero, trim, flush, block_status).",
		}, []string{"op"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stratus_volumed_chunkdev_request_errors_total",
			Help: "Device requests that failed, by op.",
		}, []string{"op"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stratus_volumed_chunkdev_bytes_total",
			Help: "Bytes read, written, zeroed or trimmed, by op.",
		}, []string{"op"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "stratus_volumed_chunkdev_request_duration_seconds",
			Help:    "Device request latency by op.",
			Buckets: prometheus.ExponentialBuckets(100e-6, 2, 16),
		}, []string{"op"}),
		flush: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "stratus_volumed_chunkdev_flush_duration_seconds",
			Help:    "Time for a flush to reach a write quorum of every dirty chunk.",
			Buckets: prometheus.ExponentialBuckets(100e-6, 2, 16),
		}),
		degraded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "stratus_volumed_chunkdev_degraded_chunks",
			Help: "Chunks with at least one replica behind.",
		}),
		behind: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stratus_volumed_chunkdev_replicas_behind_total",
			Help: "Times a chunk replica was marked behind.",
		}),
		repairs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stratus_volumed_chunkdev_repairs_total",
			Help: "Chunk replicas repaired with at least one block copied.",
		}),
		repairFail: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stratus_volumed_chunkdev_repair_failures_total",
			Help: "Repair attempts that failed and will be retried.",
		}),
		repairBlks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stratus_volumed_chunkdev_repaired_blocks_total",
			Help: "Blocks copied by repairs.",
		}),
	}
	for _, c := range []prometheus.Collector{m.ops, m.errs, m.bytes, m.latency, m.flush, m.degraded, m.behind, m.repairs, m.repairFail, m.repairBlks} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register chunkdev metrics: %w", err)
		}
	}
	return m, nil
}
