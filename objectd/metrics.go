package objectd

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the node's Prometheus metrics, registered on the Registerer given to New.
type metrics struct {
	requests        *prometheus.CounterVec   // op, code
	requestSeconds  *prometheus.HistogramVec // op
	writeBytes      *prometheus.CounterVec   // device
	readBytes       *prometheus.CounterVec   // device
	quarantined     *prometheus.CounterVec   // device
	ringVersion     prometheus.Gauge
	replPasses      prometheus.Counter
	replPassSeconds prometheus.Histogram
	replParts       prometheus.Counter
	replObjects     prometheus.Counter
	replBytes       prometheus.Counter
	replErrors      prometheus.Counter
	replHandoffs    prometheus.Counter
	auditObjects    prometheus.Counter
	auditBytes      prometheus.Counter
	auditPassSecs   prometheus.Histogram
	chunkWriteBytes *prometheus.CounterVec // device
	chunkReadBytes  *prometheus.CounterVec // device
	chunkTorn       *prometheus.CounterVec // device
	chunkSyncs      prometheus.Counter
	chunksOpen      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "stratus", "objectd"
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "requests_total", Help: "Requests served, by operation and HTTP status."}, []string{"op", "code"}),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "request_duration_seconds", Help: "Time to serve a request, by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10)}, []string{"op"}),
		writeBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "write_bytes_total", Help: "Object content bytes stored, by device."}, []string{"device"}),
		readBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "read_bytes_total", Help: "Object content bytes served, by device."}, []string{"device"}),
		quarantined: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "quarantined_total", Help: "Object files moved to quarantine, by device."}, []string{"device"}),
		ringVersion: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "ring_version", Help: "Version of the ring in use (0: none)."}),
		replPasses: counter("replication_passes_total", "Replication passes completed."),
		replPassSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "replication_pass_seconds", Help: "Duration of replication passes.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10)}),
		replParts:    counter("replication_partitions_checked_total", "Partitions compared with their peers."),
		replObjects:  counter("replication_objects_pushed_total", "Object versions pushed to peers."),
		replBytes:    counter("replication_pushed_bytes_total", "Bytes of object files pushed to peers."),
		replErrors:   counter("replication_errors_total", "Failed exchanges with peers."),
		replHandoffs: counter("replication_handoffs_removed_total", "Handoff partitions emptied after reaching their primaries."),
		auditObjects: counter("audit_objects_total", "Object files verified by the auditor."),
		auditBytes:   counter("audit_bytes_total", "Bytes re-read by the auditor."),
		auditPassSecs: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "audit_pass_seconds", Help: "Duration of auditor passes.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 12)}),
		chunkWriteBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "chunk_write_bytes_total", Help: "Chunk block bytes written (zeroed blocks not counted), by device."}, []string{"device"}),
		chunkReadBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "chunk_read_bytes_total", Help: "Chunk bytes served, by device."}, []string{"device"}),
		chunkTorn: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "chunk_torn_blocks_total", Help: "Chunk reads refused because a block failed its checksum, by device."}, []string{"device"}),
		chunkSyncs: counter("chunk_syncs_total", "Chunk file fdatasyncs run (flushes and FUA writes share them)."),
		chunksOpen: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "chunk_files_open", Help: "Chunk files held open."}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.requestSeconds, m.writeBytes, m.readBytes,
		m.quarantined, m.ringVersion, m.replPasses, m.replPassSeconds, m.replParts, m.replObjects,
		m.replBytes, m.replErrors, m.replHandoffs, m.auditObjects, m.auditBytes, m.auditPassSecs,
		m.chunkWriteBytes, m.chunkReadBytes, m.chunkTorn, m.chunkSyncs, m.chunksOpen} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
