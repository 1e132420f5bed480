package lifecycle

import "github.com/prometheus/client_golang/prometheus"

// metrics count what the scanner removed, what it skipped because it changed meanwhile,
// and what failed. No label names a bucket or key.
type metrics struct {
	objects  prometheus.Counter
	versions prometheus.Counter
	markers  prometheus.Counter
	uploads  prometheus.Counter
	skipped  prometheus.Counter
	errors   prometheus.Counter
	pass     prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "stratus_s3api_lifecycle_" + name, Help: help})
	}
	m := &metrics{
		objects:  c("objects_expired_total", "Current object versions expired by lifecycle rules (deleted, or hidden under a delete marker)."),
		versions: c("versions_expired_total", "Noncurrent versions removed for good by lifecycle rules."),
		markers:  c("delete_markers_removed_total", "Expired object delete markers removed by lifecycle rules."),
		uploads:  c("uploads_aborted_total", "Incomplete multipart uploads aborted by lifecycle rules."),
		skipped:  c("skipped_total", "Lifecycle removals skipped because the object or upload changed after it was listed."),
		errors:   c("errors_total", "Lifecycle listings and removals that failed (retried next pass)."),
		pass: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "stratus_s3api_lifecycle_pass_duration_seconds",
			Help:    "Time one lifecycle pass over every bucket with rules took.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
		}),
	}
	if reg != nil {
		reg.MustRegister(m.objects, m.versions, m.markers, m.uploads, m.skipped, m.errors, m.pass)
	}
	return m
}
