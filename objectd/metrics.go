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

	replChunks         prometheus.Counter
	replChunksRepaired prometheus.Counter
	replChunkBlocks    prometheus.Counter
	replChunkTombs     prometheus.Counter
	replChunkHandoffs  prometheus.Counter
	auditChunks        prometheus.Counter
	auditChunkTorn     prometheus.Counter
	auditChunkRepaired prometheus.Counter

	smallBatches     prometheus.Counter
	smallBatchFrames prometheus.Histogram
	smallLiveBytes   *prometheus.GaugeVec // device
	smallTotalBytes  *prometheus.GaugeVec // device
	smallCompacted   prometheus.Counter

	recon *reconMetrics
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
		replChunks:         counter("replication_chunks_compared_total", "Chunks and chunk tombstones compared with their peers."),
		replChunksRepaired: counter("replication_chunks_repaired_total", "Chunks that a peer took blocks of (once per peer)."),
		replChunkBlocks:    counter("replication_chunk_blocks_pushed_total", "Chunk blocks pushed to peers and applied there."),
		replChunkTombs:     counter("replication_chunk_tombstones_pushed_total", "Chunk tombstones handed on to peers."),
		replChunkHandoffs:  counter("replication_chunk_handoffs_moved_total", "Handoff chunks removed once every primary held them."),
		auditChunks:        counter("audit_chunks_total", "Chunk files verified by the auditor."),
		auditChunkTorn:     counter("audit_chunk_torn_blocks_total", "Chunk blocks the auditor found failing their checksum."),
		auditChunkRepaired: counter("audit_chunk_blocks_repaired_total", "Torn chunk blocks the auditor repaired from a peer."),
		smallBatches:       counter("smallobj_batches_total", "Small-object log batches made durable (one fdatasync each)."),
		smallBatchFrames: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "smallobj_batch_frames", Help: "Frames per small-object log batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 8)}),
		smallLiveBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "smallobj_live_bytes", Help: "Bytes of small-object log frames the index points at, by device."}, []string{"device"}),
		smallTotalBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub,
			Name: "smallobj_bytes", Help: "Bytes of small-object log segments, live and dead, by device (space amplification: this over live)."}, []string{"device"}),
		smallCompacted: counter("smallobj_segments_compacted_total", "Small-object log segments rewritten and removed."),
	}
	m.recon = newReconMetrics(counter)
	for _, c := range []prometheus.Collector{m.recon.passes, m.recon.passSeconds, m.recon.rebuilt, m.recon.reverted,
		m.recon.tombsCarried, m.recon.tombsReaped, m.recon.bytes, m.recon.errors, m.recon.quarantined,
		m.smallBatches, m.smallBatchFrames, m.smallLiveBytes, m.smallTotalBytes, m.smallCompacted, m.requests, m.requestSeconds, m.writeBytes, m.readBytes,
		m.quarantined, m.ringVersion, m.replPasses, m.replPassSeconds, m.replParts, m.replObjects,
		m.replBytes, m.replErrors, m.replHandoffs, m.auditObjects, m.auditBytes, m.auditPassSecs,
		m.chunkWriteBytes, m.chunkReadBytes, m.chunkTorn, m.chunkSyncs, m.chunksOpen,
		m.replChunks, m.replChunksRepaired, m.replChunkBlocks, m.replChunkTombs, m.replChunkHandoffs,
		m.auditChunks, m.auditChunkTorn, m.auditChunkRepaired} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
