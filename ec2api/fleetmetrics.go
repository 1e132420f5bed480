package ec2api

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	meta "stratus/meta/client"
)

// fleetCollector exports, at each scrape, what the catalog holds across accounts: the
// instances by the state clients see and the compute hosts by whether they are lost. It
// reads the tables then (bounded by fleetScrapeTimeout) rather than keeping counts, so
// every EC2 API process reports the same figures; a failed read reports nothing.
type fleetCollector struct {
	s         *Server
	instances *prometheus.Desc
	hosts     *prometheus.Desc
}

const fleetScrapeTimeout = 5 * time.Second

func newFleetCollector(s *Server) *fleetCollector {
	return &fleetCollector{s: s,
		instances: prometheus.NewDesc("stratus_ec2api_instances", "Instances in the catalog, by the state EC2 clients are shown.", []string{"state"}, nil),
		hosts:     prometheus.NewDesc("stratus_ec2api_compute_hosts", "Compute hosts registered, by status: live, or lost (heartbeat too old).", []string{"status"}, nil),
	}
}

func (f *fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- f.instances
	ch <- f.hosts
}

func (f *fleetCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), fleetScrapeTimeout)
	defer cancel()
	if insts, err := f.s.meta.Instances(ctx); err == nil {
		counts := map[meta.InstanceState]int{}
		for _, st := range []meta.InstanceState{meta.InstancePending, meta.InstanceRunning, meta.InstanceStopping,
			meta.InstanceStopped, meta.InstanceShuttingDown, meta.InstanceTerminated} {
			counts[st] = 0
		}
		for _, in := range insts {
			counts[apparentState(in)]++
		}
		for st, n := range counts {
			ch <- prometheus.MustNewConstMetric(f.instances, prometheus.GaugeValue, float64(n), string(st))
		}
	}
	if hosts, err := f.s.meta.ComputeHosts(ctx); err == nil {
		live, lost := 0, 0
		now := f.s.cfg.Now()
		for _, h := range hosts {
			if f.s.hostLive(h, now) {
				live++
			} else {
				lost++
			}
		}
		ch <- prometheus.MustNewConstMetric(f.hosts, prometheus.GaugeValue, float64(live), "live")
		ch <- prometheus.MustNewConstMetric(f.hosts, prometheus.GaugeValue, float64(lost), "lost")
	}
}
