package chunkdev

import (
	"fmt"
	"sync"

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

	mu    sync.Mutex
	views map[string][]*view // the devices made per volume, until Forget
}

// NewMetrics makes the devices' collectors and registers them on reg (nil: nowhere, for a
// device whose metrics nobody scrapes).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	vol := []string{"volume"}
	volOp := []string{"volume", "op"}
	m := &Metrics{
		views: map[string][]*view{},
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

// Forget deletes every series of volume and stops the devices of volume made so far from
// observing anything more (a client may keep calling a detached device, and each call would
// bring its series back). A device made later for volume observes again.
func (m *Metrics) Forget(volume string) {
	m.mu.Lock()
	views := m.views[volume]
	delete(m.views, volume)
	m.mu.Unlock()
	for _, v := range views {
		v.mu.Lock()
		v.off = true
	}
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
	for _, v := range views {
		v.mu.Unlock()
	}
}

// metrics is one device's view of Metrics: its volume's series, observed only until Forget.
type metrics struct {
	ops        opCounterVec
	errs       opCounterVec
	bytes      opCounterVec
	latency    opObserverVec
	flush      observer
	degraded   gauge
	behind     counter
	repairs    counter
	repairFail counter
	repairBlks counter
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
	v := &view{}
	m.mu.Lock()
	m.views[cfg.Volume] = append(m.views[cfg.Volume], v)
	m.mu.Unlock()
	l := prometheus.Labels{"volume": cfg.Volume}
	vol := cfg.Volume
	return &metrics{
		ops:        opCounterVec{v, m.ops.MustCurryWith(l)},
		errs:       opCounterVec{v, m.errs.MustCurryWith(l)},
		bytes:      opCounterVec{v, m.bytes.MustCurryWith(l)},
		latency:    opObserverVec{v, m.latency.MustCurryWith(l)},
		flush:      observer{v, m.flush.WithLabelValues(vol)},
		degraded:   gauge{v, m.degraded.WithLabelValues(vol)},
		behind:     counter{v, m.behind.WithLabelValues(vol)},
		repairs:    counter{v, m.repairs.WithLabelValues(vol)},
		repairFail: counter{v, m.repairFail.WithLabelValues(vol)},
		repairBlks: counter{v, m.repairBlks.WithLabelValues(vol)},
	}, nil
}

// view gates one device's observations: once off (Forget), nothing is observed, so no
// series comes back. Observations share the read lock; Forget holds the write lock while it
// deletes, so none lands between its check and the delete.
type view struct {
	mu  sync.RWMutex
	off bool
}

type opCounterVec struct {
	v   *view
	vec *prometheus.CounterVec // curried with the volume: op is left
}

func (c opCounterVec) WithLabelValues(op string) opCounter { return opCounter{c.v, c.vec, op} }

type opCounter struct {
	v   *view
	vec *prometheus.CounterVec
	op  string
}

func (c opCounter) Inc() { c.Add(1) }

func (c opCounter) Add(x float64) {
	c.v.mu.RLock()
	if !c.v.off {
		c.vec.WithLabelValues(c.op).Add(x)
	}
	c.v.mu.RUnlock()
}

type opObserverVec struct {
	v   *view
	vec prometheus.ObserverVec
}

func (o opObserverVec) WithLabelValues(op string) opObserver { return opObserver{o.v, o.vec, op} }

type opObserver struct {
	v   *view
	vec prometheus.ObserverVec
	op  string
}

func (o opObserver) Observe(x float64) {
	o.v.mu.RLock()
	if !o.v.off {
		o.vec.WithLabelValues(o.op).Observe(x)
	}
	o.v.mu.RUnlock()
}

type counter struct {
	v *view
	c prometheus.Counter
}

func (c counter) Inc() { c.Add(1) }

func (c counter) Add(x float64) {
	c.v.mu.RLock()
	if !c.v.off {
		c.c.Add(x)
	}
	c.v.mu.RUnlock()
}

type gauge struct {
	v *view
	g prometheus.Gauge
}

func (g gauge) Set(x float64) {
	g.v.mu.RLock()
	if !g.v.off {
		g.g.Set(x)
	}
	g.v.mu.RUnlock()
}

type observer struct {
	v *view
	o prometheus.Observer
}

func (o observer) Observe(x float64) {
	o.v.mu.RLock()
	if !o.v.off {
		o.o.Observe(x)
	}
	o.v.mu.RUnlock()
}
