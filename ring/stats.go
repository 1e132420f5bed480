package ring

import "math"

// Stats describes how well an assignment meets the weights and failure domains.
type Stats struct {
	Partitions int
	Replicas   int
	// Balance is the worst device's deviation from its weight's share, in percent.
	Balance float64
	// Dispersion is the percentage of partitions that hold more replicas in some failure
	// domain than the plan allows: zero unless placement had to break the plan.
	Dispersion float64
	// OverloadNeeded is the overload (a fraction) that would let every partition spread
	// over as many failure domains as exist; -1 when no overload can, because the
	// domains lack devices.
	OverloadNeeded float64
	// Levels says, per failure-domain level (region, zone, host, device), how many
	// partitions use fewer distinct domains than they could with the topology alone.
	Levels  [levels]LevelStats
	Devices []DeviceStats
}

// LevelStats is one failure-domain level of Stats.
type LevelStats struct {
	Name    string
	Domains int
	// Underspread counts partitions whose replicas sit in fewer than min(replicas,
	// domains) distinct domains of this level.
	Underspread int
}

// DeviceStats is one device's line of Stats.
type DeviceStats struct {
	Device
	Parts int
	// Wanted is the partition-replicas the weight alone asks for.
	Wanted float64
	// Balance is (Parts-Wanted)/Wanted in percent; 0 for a device of zero weight and no
	// parts, +Inf for one of zero weight that still holds some.
	Balance float64
}

// Stats describes the builder's current assignment against its current devices.
func (b *Builder) Stats() Stats {
	pl := newPlan(b.devs, b.removing, b.cfg.Replicas, 1<<b.cfg.PartPower, b.cfg.Overload)
	if b.assign != nil {
		for _, row := range b.assign {
			for _, id := range row {
				if id != unassigned && pl.path[id][0] >= 0 {
					pl.nodes[0].count++
					for _, n := range pl.path[id] {
						pl.nodes[n].count++
					}
				}
			}
		}
	}
	return b.stats(pl)
}

// stats computes Stats from a plan whose counts match b.assign.
func (b *Builder) stats(pl *plan) Stats {
	parts := 1 << b.cfg.PartPower
	st := Stats{Partitions: parts, Replicas: b.cfg.Replicas, OverloadNeeded: pl.overloadNeeded}
	if math.IsInf(st.OverloadNeeded, 1) {
		st.OverloadNeeded = -1
	}
	var weight float64
	for id, d := range b.devs {
		if d != nil && !b.removing[id] {
			weight += d.Weight
		}
	}
	total := float64(parts * b.cfg.Replicas)
	for id, d := range b.devs {
		if d == nil || b.removing[id] {
			continue
		}
		ds := DeviceStats{Device: *d}
		if leaf := pl.path[id][levelDevice]; leaf >= 0 {
			ds.Parts = int(pl.nodes[leaf].count)
		}
		if weight > 0 {
			ds.Wanted = total * d.Weight / weight
		}
		switch {
		case ds.Wanted > 0:
			ds.Balance = 100 * (float64(ds.Parts) - ds.Wanted) / ds.Wanted
			st.Balance = max(st.Balance, math.Abs(ds.Balance))
		case ds.Parts > 0:
			ds.Balance = math.Inf(1)
		}
		st.Devices = append(st.Devices, ds)
	}
	for lvl := range levels {
		st.Levels[lvl].Name = LevelNames[lvl]
	}
	for i := range pl.nodes {
		if nd := &pl.nodes[i]; nd.level >= 0 && nd.devices > 0 {
			st.Levels[nd.level].Domains++
		}
	}
	if b.assign == nil {
		return st
	}
	R := b.cfg.Replicas
	bad := 0
	var doms [MaxReplicas]int32
	for p := range parts {
		broke := false
		for lvl := range levels {
			distinct := 0
			for r := range R {
				id := b.assign[r][p]
				if id == unassigned || pl.path[id][0] < 0 {
					continue
				}
				n := pl.path[id][lvl]
				same := 0
				for _, o := range doms[:distinct] {
					if o == n {
						same++
					}
				}
				if same == 0 {
					doms[distinct] = n
					distinct++
				}
				if !broke {
					held := 0
					for o := range R {
						if oid := b.assign[o][p]; oid != unassigned && pl.path[oid][0] >= 0 && pl.path[oid][lvl] == n {
							held++
						}
					}
					broke = held > pl.nodes[n].cap
				}
			}
			if distinct < min(R, st.Levels[lvl].Domains) {
				st.Levels[lvl].Underspread++
			}
		}
		if broke {
			bad++
		}
	}
	st.Dispersion = 100 * float64(bad) / float64(parts)
	return st
}
