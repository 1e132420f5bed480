package objectd

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// reconMetrics are the reconstructor's (reconstructor.go), counted per pass.
type reconMetrics struct {
	passes       prometheus.Counter
	passSeconds  prometheus.Histogram
	rebuilt      prometheus.Counter
	reverted     prometheus.Counter
	tombsCarried prometheus.Counter
	tombsReaped  prometheus.Counter
	bytes        prometheus.Counter
	errors       prometheus.Counter
	quarantined  prometheus.Counter
}

func newReconMetrics(counter func(name, help string) prometheus.Counter) *reconMetrics {
	return &reconMetrics{
		passes: counter("reconstruction_passes_total", "Reconstructor passes over erasure-coded policies' trees."),
		passSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "stratus", Subsystem: "objectd",
			Name: "reconstruction_pass_seconds", Help: "Duration of reconstructor passes.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10)}),
		rebuilt:      counter("reconstruction_fragments_rebuilt_total", "Fragment archives decoded, re-encoded and stored on a neighbour's device."),
		reverted:     counter("reconstruction_fragments_reverted_total", "Fragment archives pushed from a handoff or former device to their primary."),
		tombsCarried: counter("reconstruction_tombstones_carried_total", "Tombstones of erasure-coded objects given to a device that missed them."),
		tombsReaped:  counter("reconstruction_tombstones_reaped_total", "Tombstones of erasure-coded objects removed after the reclaim age."),
		bytes:        counter("reconstruction_bytes_total", "Bytes decoded, written or pushed by rebuilds and reverts."),
		errors:       counter("reconstruction_errors_total", "Neighbours unreachable, rebuilds or reverts that failed."),
		quarantined:  counter("reconstruction_quarantined_total", "Fragment archives that failed their checksum."),
	}
}

// pass records one pass's report.
func (m *reconMetrics) pass(rep ReconstructReport, took time.Duration) {
	m.passes.Inc()
	m.passSeconds.Observe(took.Seconds())
	m.rebuilt.Add(float64(rep.Rebuilt))
	m.reverted.Add(float64(rep.Reverted))
	m.tombsCarried.Add(float64(rep.TombstonesCarried))
	m.tombsReaped.Add(float64(rep.Reaped))
	m.bytes.Add(float64(rep.Bytes))
	m.errors.Add(float64(rep.Errors))
	m.quarantined.Add(float64(rep.Quarantined))
}
