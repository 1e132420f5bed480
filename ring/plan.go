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
	// cap is the most replicas of any one partition the domain may hold, and floor the
	// fewest it should: a partition with replicas in fewer of the domains than that is
	// spread worse than the plan allows.
	cap, floor int
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
// Dispersion wants every partition's replicas in this domain spread as evenly as the k
// children of positive weight allow: between F = floor(floor(target)/k) and
// D = ceil(ceil(target)/k) replicas of it in each child. Balance wants each child's target to
// be its weight's share. A child may go above its share by at most the overload, so the
// plan takes the least overload (up to the configured one) at which every child fits in
// [F, D], and within those bounds stays as close to the weights' proportions as it can.
// When no overload up to the configured one fits, balance wins: children keep their
// shares beyond D, the shortfall is recorded, and so is the overload that would have done.
func (pl *plan) spread(n int32, overload float64, parts int) {
	p := &pl.nodes[n]
	kids := p.children
	if len(kids) == 0 {
		return
	}
	t := p.target
	const eps = 1e-9
	share := make([]float64, len(kids))
	hard := make([]float64, len(kids))
	k := 0
	for i, c := range kids {
		cn := &pl.nodes[c]
		if p.weight > 0 {
			share[i] = t * cn.weight / p.weight
		}
		hard[i] = float64(cn.devices)
		if cn.weight > 0 && cn.devices > 0 {
			k++
		}
	}
	got := make([]float64, len(kids))
	if k > 0 && t > eps {
		F := math.Floor(math.Floor(t+eps) / float64(k))
		D := math.Ceil(math.Ceil(t-eps) / float64(k))
		lo := make([]float64, len(kids))
		hi := make([]float64, len(kids))
		bounds := func(o float64) {
			for i := range kids {
				if share[i] == 0 {
					lo[i], hi[i] = 0, 0
					continue
				}
				grown := share[i] * (1 + o)
				lo[i] = min(F, hard[i], grown)
				hi[i] = max(lo[i], min(D, hard[i], grown))
			}
		}
		// fits reports whether every child can be held within [F, D] at overload o.
		fits := func(o float64) bool {
			bounds(o)
			for i := range kids {
				if share[i] > 0 && lo[i] < min(F, hard[i])-eps {
					return false
				}
			}
			return sum(hi) >= t-eps
		}
		least := func(from, to float64) float64 {
			for range 100 {
				mid := (from + to) / 2
				if fits(mid) {
					to = mid
				} else {
					from = mid
				}
			}
			return to
		}
		if fits(0) {
			bounds(0)
		} else if fits(overload) {
			o := least(0, overload)
			pl.overloadNeeded = max(pl.overloadNeeded, o)
			bounds(o)
		} else {
			if fits(1e9) {
				pl.overloadNeeded = max(pl.overloadNeeded, least(overload, 1e9))
			} else {
				pl.overloadNeeded = math.Inf(1)
			}
			bounds(overload)
			short := t - sum(hi)
			pl.shortfall += max(0, short)
			// Balance wins: let children keep their shares past D, then use any
			// device the hardware has.
			for i := range kids {
				hi[i] = max(hi[i], min(share[i], hard[i]))
			}
			if sum(hi) < t-eps {
				copy(hi, hard)
			}
		}
		fit(got, share, lo, hi, t)
	}
	// Apportion the parent's integer quota by largest remainder, so quotas sum exactly.
	var quotaLeft = p.quota
	rem := make([]float64, len(kids))
	for i, c := range kids {
		cn := &pl.nodes[c]
		cn.target = got[i]
		cn.cap = int(math.Ceil(got[i] - eps))
		cn.floor = int(math.Floor(got[i] + eps))
		// Apportioning from each child's own exact share, not the parent's rounded
		// quota, keeps every quota within one of exact at every level.
		exact := got[i] * float64(parts)
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

// fit sets got[i] = clamp(λ·share[i], lo[i], hi[i]) for the λ that makes got sum to t:
// the targets nearest the weights' proportions within the bounds. The caller ensures
// sum(lo) ≤ t ≤ sum(hi).
func fit(got, share, lo, hi []float64, t float64) {
	eval := func(l float64) float64 {
		for i := range got {
			got[i] = min(max(share[i]*l, lo[i]), hi[i])
		}
		return sum(got)
	}
	a, b := 0.0, 1.0
	for eval(b) < t && b < 1e18 {
		b *= 2
	}
	for range 100 {
		mid := (a + b) / 2
		if eval(mid) < t {
			a = mid
		} else {
			b = mid
		}
	}
	eval(b)
}

func sum(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s
}
