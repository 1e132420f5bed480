package objectd

import (
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// replState is what the replicator knows of how far behind this node's partitions are,
// kept from pass to pass so the node's metrics (and `stratus status`, which reads them) can
// say so without a pass of their own.
type replState struct {
	mu sync.Mutex
	// since is when the oldest change not yet known to be replicated may date from: the
	// start of the last pass that completed every exchange, or the node's start before one
	// has.
	since time.Time
	// lastPass is when the last pass ended (zero: none yet).
	lastPass time.Time
	// behind is how many partition exchanges (a partition and one peer device) the last
	// pass could not complete.
	behind int
	// clean says whether the last pass completed every exchange.
	clean bool
}

// passEnded records a pass that started at start and failed failed exchanges.
func (r *replState) passEnded(start, end time.Time, failed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastPass, r.behind, r.clean = end, failed, failed == 0
	if failed == 0 {
		r.since = start
	}
}

// unsynced returns how long the oldest change that may not have reached every replica has
// waited: zero after a clean pass, else the time since the last clean pass started.
func (r *replState) unsynced(now time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.clean {
		return 0
	}
	return now.Sub(r.since)
}

// failedExchanges counts the exchanges the pass recorded as failed, local or with a peer.
// Call it before flush, which clears the tallies.
func (w *passWarnings) failedExchanges() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for k, t := range w.m {
		if k.msg == warnPeerFailed || k.msg == warnLocalFailed {
			n += t.partitions
		}
	}
	return n
}

// nodeCollector reports the node's state at scrape time: its devices (usable or not, and
// how full) and its replication backlog. These are gauges an operator alerts on, computed
// from a few stat calls, so a scrape stays cheap.
type nodeCollector struct {
	s *Server

	usable, capacity, free               *prometheus.Desc
	behind, unsynced, lastPass, ringDevs *prometheus.Desc
}

func newNodeCollector(s *Server) *nodeCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("stratus", "objectd", name), help, labels, nil)
	}
	return &nodeCollector{s: s,
		usable:   desc("device_usable", "1 if the device directory is usable (marker present and, with mount checks, mounted); 0 if requests to it answer 507.", "device"),
		capacity: desc("device_capacity_bytes", "Size of the file system of a usable device.", "device"),
		free:     desc("device_free_bytes", "Bytes free to the node on a usable device's file system.", "device"),
		behind:   desc("replication_partitions_behind", "Partition exchanges (a partition and one peer device) the last replication pass could not complete."),
		unsynced: desc("replication_unsynced_seconds", "Age of the oldest change that may not have reached every replica: 0 after a pass that completed every exchange, else the time since the last such pass started (or since the node started)."),
		lastPass: desc("replication_last_pass_timestamp_seconds", "Unix time the last replication pass ended (0: none yet)."),
		ringDevs: desc("ring_devices", "Devices the ring in use places on this node."),
	}
}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.usable, c.capacity, c.free, c.behind, c.unsynced, c.lastPass, c.ringDevs} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	if checks, err := s.store.checkDevices(); err == nil {
		for _, d := range checks {
			usable := 0.0
			if d.err == nil {
				usable = 1
				if capacity, free, err := fsSpace(filepath.Join(s.cfg.DevicesDir, d.name)); err == nil {
					ch <- prometheus.MustNewConstMetric(c.capacity, prometheus.GaugeValue, float64(capacity), d.name)
					ch <- prometheus.MustNewConstMetric(c.free, prometheus.GaugeValue, float64(free), d.name)
				}
			}
			ch <- prometheus.MustNewConstMetric(c.usable, prometheus.GaugeValue, usable, d.name)
		}
	}
	rs := &s.repl
	now := s.store.now()
	rs.mu.Lock()
	behind, last := rs.behind, rs.lastPass
	rs.mu.Unlock()
	lastTS := 0.0
	if !last.IsZero() {
		lastTS = float64(last.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(c.behind, prometheus.GaugeValue, float64(behind))
	ch <- prometheus.MustNewConstMetric(c.unsynced, prometheus.GaugeValue, rs.unsynced(now).Seconds())
	ch <- prometheus.MustNewConstMetric(c.lastPass, prometheus.GaugeValue, lastTS)
	mine := 0
	if r := s.ring.Load(); r != nil {
		self := s.self()
		for _, d := range r.Devices() {
			if d.Host == self {
				mine++
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(c.ringDevs, prometheus.GaugeValue, float64(mine))
}

// fsSpace returns the size of the file system holding dir and the bytes free to an
// unprivileged writer on it.
func fsSpace(dir string) (capacity, free uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	bs := uint64(st.Bsize)
	return uint64(st.Blocks) * bs, uint64(st.Bavail) * bs, nil
}
