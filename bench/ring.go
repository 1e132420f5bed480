package bench

import (
	"fmt"
	"strconv"
	"time"

	"stratus/ring"
)

// RingConfig describes a ring benchmark: a cluster of Regions × Zones × Hosts × Devices.
type RingConfig struct {
	PartPower int `json:"part_power"`
	Replicas  int `json:"replicas"`
	Regions   int `json:"regions"`
	Zones     int `json:"zones"`
	Hosts     int `json:"hosts"`
	Devices   int `json:"devices"`
	Lookups   int `json:"lookups"`
}

// RingReport is what a ring benchmark measured.
type RingReport struct {
	Config RingConfig `json:"config"`
	// RebalanceSeconds is the time of a rebalance from scratch.
	RebalanceSeconds float64 `json:"rebalance_seconds"`
	// BalanceRatio is the worst device's deviation from its weight's share after it, and
	// DispersionRatio the share of partitions placed worse than the plan allows: fractions
	// (0.01 is 1%).
	BalanceRatio    float64 `json:"balance_ratio"`
	DispersionRatio float64 `json:"dispersion_ratio"`
	// AddHostSeconds and MovedToIdealRatio describe adding one host to the balanced ring:
	// the time of the rebalance, and the partition-replicas it moved over the fewest that
	// could give the new host its share.
	AddHostSeconds    float64 `json:"add_host_seconds"`
	MovedToIdealRatio float64 `json:"moved_to_ideal_ratio"`
	// LookupSeconds is the cost of hashing a name and listing its primaries.
	LookupSeconds float64 `json:"lookup_seconds"`
}

// RunRing builds, rebalances and queries a ring of the configured shape.
func RunRing(cfg RingConfig) (*RingReport, error) {
	if min(cfg.Regions, cfg.Zones, cfg.Hosts, cfg.Devices) < 1 {
		return nil, fmt.Errorf("regions (%d), zones (%d), hosts (%d) and devices (%d) must each be at least 1",
			cfg.Regions, cfg.Zones, cfg.Hosts, cfg.Devices)
	}
	b, err := ring.NewBuilder(ring.BuilderConfig{PartPower: cfg.PartPower, Replicas: cfg.Replicas, MinPartHours: 1})
	if err != nil {
		return nil, err
	}
	addHosts := func(first, hosts, zones, regions int) error {
		for r := range regions {
			for z := range zones {
				for h := range hosts {
					for d := range cfg.Devices {
						ip := fmt.Sprintf("10.%d.%d.%d", r+1, z+1, first+h+1)
						if _, err := b.Add(ring.Device{Region: r + 1, Zone: z + 1, Host: ip + ":6200", Name: "d" + strconv.Itoa(d), Weight: 100}); err != nil {
							return err
						}
					}
				}
			}
		}
		return nil
	}
	if err := addHosts(0, cfg.Hosts, cfg.Zones, cfg.Regions); err != nil {
		return nil, err
	}
	now := time.Now()
	start := time.Now()
	rep, err := b.Rebalance(ring.RebalanceOptions{Seed: 1, Now: now})
	if err != nil {
		return nil, err
	}
	out := &RingReport{Config: cfg, RebalanceSeconds: time.Since(start).Seconds(),
		BalanceRatio: rep.Balance / 100, DispersionRatio: rep.Dispersion / 100}
	total := cfg.Regions * cfg.Zones * cfg.Hosts * cfg.Devices
	if err := addHosts(cfg.Hosts, 1, 1, 1); err != nil {
		return nil, err
	}
	start = time.Now()
	rep, err = b.Rebalance(ring.RebalanceOptions{Seed: 2, Now: now.Add(2 * time.Hour)})
	if err != nil {
		return nil, err
	}
	out.AddHostSeconds = time.Since(start).Seconds()
	ideal := float64(cfg.Devices) / float64(total+cfg.Devices) * float64(rep.Partitions*rep.Replicas)
	out.MovedToIdealRatio = float64(rep.Moved) / ideal
	r, err := b.Ring()
	if err != nil {
		return nil, err
	}
	names := make([]string, 4096)
	for i := range names {
		names[i] = "bucket/object-" + strconv.Itoa(i)
	}
	dst := make([]*ring.Device, 0, cfg.Replicas)
	n := max(cfg.Lookups, 1)
	start = time.Now()
	for i := range n {
		dst = r.Primaries(r.Partition(names[i&4095]), dst[:0])
	}
	out.LookupSeconds = time.Since(start).Seconds() / float64(n)
	return out, nil
}
