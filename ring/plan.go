package ring

import (
	"cmp"
	"math"
	"slices"
)

// Levels of the failure-domain tree, outermost first.
const (
	levelRegion = iota
	levelZone
	levelHost
	levelDevice
	levels
)

// LevelNames names the failure-domain levels in reports.
var LevelNames = [levels]string{"region", "zone", "host", "device"}

// node is one failure domain (or a device, at the leaves) in the placement plan.
type node struct {
	level    int
	parent   int32
	children []int32
	dev      int32 // device ID at a leaf, -1 above
	name     string
	weight   float64
	devices  int // devices of positive weight below, the most replicas of a partition it can hold
	// target is the replicas of an average partition the domain should hold, from weights
	// widened by the overload towards dispersion.
	target float64
	// cap is the most replicas of any one partition the domain may hold.
	cap int
	// quota is the partition-replicas the domain should hold in all; count is how many it
	// holds now.
	quota, count int64
}

// plan is the failure-domain tree with per-domain targets: what the assignment steers by.
type plan struct {
	nodes []node
	// path[id] is the node of device id at each level, or -1s for devices not in the plan.
	path [][levels]int32
	// overloadNeeded is the overload that would let every domain hold its dispersion
	// share, or +Inf when no overload would (the domains lack the devices).
	overloadNeeded float64
	// shortfall is the replicas per partition, summed over domains, that stay
	// concentrated because of the weights at the configured overload.
	shortfall float64
}

// newPlan builds the tree of the devices that may hold data (not being removed) and
// spreads replicas × partitions over it.
func newPlan(devs []*Device, removing []bool, replicas, parts int, overload float64) *plan {
	pl := &plan{path: make([][levels]int32, len(devs))}
	pl.nodes = append(pl.nodes, node{level: -1, parent: -1, dev: -1})
	ids := make([]int, 0, len(devs))
	for id, d := range devs {
		pl.path[id] = [levels]int32{-1, -1, -1, -1}
		if d != nil && !removing[id] {
			ids = append(ids, id)
		}
	}
	// Sort so the tree, and everything decided from it, is independent of ID order.
	slices.SortFunc(ids, func(a, b int) int {
		da, db := devs[a], devs[b]
		return cmp.Or(cmp.Compare(da.Region, db.Region), cmp.Compare(da.Zone, db.Zone),
			cmp.Compare(da.IP(), db.IP()), cmp.Compare(a, b))
	})
	var last [levels]string
	var cur [levels]int32
	for _, id := range ids {
		d := devs[id]
		names := tierNames(d)
		parent := int32(0)
		for lvl := range levels {
			name := names[min(lvl, levelHost)]
			if lvl == levelDevice {
				name = d.Host + "/" + d.Name
			}
			if lvl == levelDevice || last[lvl] != name {
				n := node{level: lvl, parent: parent, dev: -1, name: name}
				if lvl == levelDevice {
					n.dev = int32(id)
				}
				cur[lvl] = int32(len(pl.nodes))
				pl.nodes = append(pl.nodes, n)
				pl.nodes[parent].children = append(pl.nodes[parent].children, cur[lvl])
				last[lvl] = name
				for deeper := lvl + 1; deeper < levels; deeper++ {
					last[deeper] = ""
				}
			}
			parent = cur[lvl]
		}
		pl.path[id] = cur
		for _, n := range cur {
			pl.nodes[n].weight += d.Weight
			if d.Weight > 0 {
				pl.nodes[n].devices++
			}
		}
		pl.nodes[0].weight += d.Weight
		if d.Weight > 0 {
			pl.nodes[0].devices++
		}
	}
	root := &pl.nodes[0]
	root.target, root.cap, root.quota = float64(replicas), replicas, int64(replicas*parts)
	pl.overloadNeeded = 0
	pl.spread(0, overload, parts)
	return pl
}

// spread divides node n's target and quota among its children, then recurses.
//
// A child's share starts as its weight's share. Dispersion wants no child to hold more
// than D = ceil(ceil(target)/k) replicas of a partition (k children of positive weight).
// Children over D give the excess to children under it, each of which takes at most
// min(D, devices, share × (1+overload)), in proportion to weight. What nobody can take at
// this overload goes back to the children whose weight wants it: balance wins, and the
// shortfall is reported with the overload that would have avoided it.
func (pl *plan) spread(n int32, overload float64, parts int) {
	p := &pl.nodes[n]
	kids := p.children
	if len(kids) == 0 {
		return
	}
	t := p.target
	share := make([]float64, len(kids))
	k := 0
	for i, c := range kids {
		if p.weight > 0 {
			share[i] = t * pl.nodes[c].weight / p.weight
		}
		if pl.nodes[c].weight > 0 {
			k++
		}
	}
	const eps = 1e-9
	got := make([]float64, len(kids))
	if k > 0 {
		disp := math.Ceil((math.Ceil(t-eps) - eps) / float64(k))
		limit := func(i int, o float64) float64 {
			c := &pl.nodes[kids[i]]
			return min(disp, float64(c.devices), share[i]*(1+o))
		}
		base := make([]float64, len(kids))
		for i, c := range kids {
			base[i] = min(share[i], float64(pl.nodes[c].devices), disp)
		}
		fill := func(o float64) float64 {
			sum := 0.0
			for i := range kids {
				sum += max(base[i], limit(i, o))
			}
			return sum
		}
		copy(got, base)
		if fill(overload) >= t-eps {
			// Scale the takers up together, by the least factor that places everything.
			lo, hi := 0.0, overload
			for range 60 {
				mid := (lo + hi) / 2
				if fill(mid) >= t-eps {
					hi = mid
				} else {
					lo = mid
				}
			}
			for i := range kids {
				got[i] = max(base[i], limit(i, hi))
			}
			pl.overloadNeeded = max(pl.overloadNeeded, hi)
		} else {
			for i := range kids {
				got[i] = max(base[i], limit(i, overload))
			}
			// How much overload dispersion would need, if any would do.
			if fill(1e9) >= t-eps {
				lo, hi := overload, 1e9
				for range 200 {
					mid := (lo + hi) / 2
					if fill(mid) >= t-eps {
						hi = mid
					} else {
						lo = mid
					}
				}
				pl.overloadNeeded = max(pl.overloadNeeded, hi)
			} else {
				pl.overloadNeeded = math.Inf(1)
			}
			rest := t - sum(got)
			pl.shortfall += rest
			// Back to the children whose weight wants more than they got, then to any
			// child with devices to spare.
			rest = pour(got, rest, func(i int) float64 {
				return min(share[i], float64(pl.nodes[kids[i]].devices)) - got[i]
			}, share)
			pour(got, rest, func(i int) float64 {
				return float64(pl.nodes[kids[i]].devices) - got[i]
			}, share)
		}
	}
	// Apportion the integer quota by largest remainder, so quotas sum exactly.
	var quotaLeft = p.quota
	rem := make([]float64, len(kids))
	for i, c := range kids {
		cn := &pl.nodes[c]
		cn.target = got[i]
		cn.cap = int(math.Ceil(got[i] - eps))
		exact := 0.0
		if t > 0 {
			exact = float64(p.quota) * got[i] / t
		}
		cn.quota = int64(math.Floor(exact + eps))
		rem[i] = exact - float64(cn.quota)
		quotaLeft -= cn.quota
	}
	order := make([]int, len(kids))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(rem[b], rem[a]) })
	for _, i := range order {
		if quotaLeft <= 0 {
			break
		}
		cn := &pl.nodes[kids[i]]
		if float64(cn.quota) < float64(cn.cap)*float64(parts) {
			cn.quota++
			quotaLeft--
		}
	}
	for _, c := range kids {
		pl.spread(c, overload, parts)
	}
}

// pour adds up to amount to got, in proportion to weight, never past room(i); it returns
// what did not fit.
func pour(got []float64, amount float64, room func(i int) float64, weight []float64) float64 {
	for range len(got) + 1 {
		if amount <= 1e-12 {
			return 0
		}
		total := 0.0
		for i := range got {
			if room(i) > 1e-12 {
				total += max(weight[i], 1e-12)
			}
		}
		if total == 0 {
			return amount
		}
		poured := 0.0
		for i := range got {
			if r := room(i); r > 1e-12 {
				add := min(r, amount*max(weight[i], 1e-12)/total)
				got[i] += add
				poured += add
			}
		}
		amount -= poured
	}
	return amount
}

func sum(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s
}
