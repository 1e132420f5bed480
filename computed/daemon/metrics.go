package daemon

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the daemon's series, stratus_computed_*.
type metrics struct {
	instances   *prometheus.GaugeVec     // by state, of the instances placed here
	launches    *prometheus.CounterVec   // by result
	launchTime  prometheus.Histogram     // pending seen → running
	launchPhase *prometheus.HistogramVec // by phase of a launch
	imageCache  *prometheus.CounterVec   // by result: hit, miss
	actionTime  *prometheus.HistogramVec // by action: define, start, stop, terminate, attach, detach
	heartbeats  *prometheus.CounterVec   // by result
	consoleSets prometheus.Counter       // console tails written to records
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "stratus_computed_instances",
			Help: "Instances placed on this host, by state."}, []string{"state"}),
		launches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stratus_computed_launches_total",
			Help: "Instance launches (first boot of a pending instance), by result."}, []string{"result"}),
		launchTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "stratus_computed_launch_duration_seconds",
			Help:    "Time from the daemon seeing a pending instance to its domain running: images, overlay, config drive, define, start.",
			Buckets: []float64{0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300, 600}}),
		launchPhase: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "stratus_computed_launch_phase_seconds",
			Help: "Where a launch's time goes, by phase: pickup (record written → daemon sees it), image_fetch_miss or image_fetch_hit " +
				"(its images, with at least one / none downloaded), disks (overlay, config drive), define, start, record (running written).",
			Buckets: launchPhaseBuckets}, []string{"phase"}),
		imageCache: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stratus_computed_image_cache_total",
			Help: "Image lookups in the host's cache, by result (hit, miss: fetched from the object store)."}, []string{"result"}),
		actionTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "stratus_computed_action_duration_seconds",
			Help:    "Duration of the daemon's actions on instances, by action.",
			Buckets: prometheus.ExponentialBuckets(0.01, 3, 10)}, []string{"action"}),
		heartbeats: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stratus_computed_heartbeats_total",
			Help: "Heartbeats of the host's registration, by result."}, []string{"result"}),
		consoleSets: prometheus.NewCounter(prometheus.CounterOpts{Name: "stratus_computed_console_updates_total",
			Help: "Console tails written to instance records."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.instances, m.launches, m.launchTime, m.launchPhase, m.imageCache, m.actionTime, m.heartbeats, m.consoleSets} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// launchPhaseBuckets are fine enough (about ×1.5 apart, 5 ms to 2 min) for a benchmark to
// estimate a phase's median and p90 from two scrapes.
var launchPhaseBuckets = prometheus.ExponentialBucketsRange(0.005, 120, 26)

// Launch phases, the values of stratus_computed_launch_phase_seconds's phase label.
const (
	phasePickup    = "pickup"
	phaseImageMiss = "image_fetch_miss"
	phaseImageHit  = "image_fetch_hit"
	phaseDisks     = "disks"
	phaseDefine    = "define"
	phaseStart     = "start"
	phaseRecord    = "record"
)
