package volumed

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics count the attachments this host serves: how many, how often it starts serving
// one, and why it stops. A volume whose lease keeps moving between hosts, or a host that
// keeps losing leases (a slow or cut link to meta), shows as churn here.
type metrics struct {
	served  prometheus.GaugeFunc
	started prometheus.Counter
	stopped *prometheus.CounterVec // reason
}

// Why a host stops serving an attachment, as the reason label says it.
const (
	stopShutdown  = "shutdown"   // the daemon is stopping
	stopEnded     = "ended"      // detached, or attached elsewhere
	stopLeaseLost = "lease_lost" // renewal failed: another host may hold it now
	stopSnapshot  = "snapshot"   // served only to take a snapshot, which is done
)

func newMetrics(reg prometheus.Registerer, s *Server) (*metrics, error) {
	m := &metrics{
		served: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stratus_volumed_attachments",
			Help: "Volume attachments this host serves now."}, func() float64 {
			s.mu.Lock()
			defer s.mu.Unlock()
			return float64(len(s.served))
		}),
		started: prometheus.NewCounter(prometheus.CounterOpts{Name: "stratus_volumed_attachments_started_total",
			Help: "Times this host started serving a volume attachment (and keeping its lease)."}),
		stopped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stratus_volumed_attachments_stopped_total",
			Help: "Times this host stopped serving an attachment, by reason: ended (detached or moved), lease_lost, snapshot, shutdown."},
			[]string{"reason"}),
	}
	for _, r := range []string{stopShutdown, stopEnded, stopLeaseLost, stopSnapshot} {
		m.stopped.WithLabelValues(r) // present at zero, so rates and alerts see the series
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.served, m.started, m.stopped} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
