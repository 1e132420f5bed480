package ring

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// RebalanceOptions tunes one rebalance.
type RebalanceOptions struct {
	// Seed makes the rebalance deterministic: the same builder, seed and Now give the same
	// assignment.
	Seed uint64
	// Now is the time recorded for moved partitions and compared with min_part_hours; the
	// zero value means time.Now().
	Now time.Time
	// Progress, if set, is called now and then with the stage and how far along it is.
	Progress func(stage string, done, total int)
}

// Report says what a rebalance did and how good the result is.
type Report struct {
	Version uint64
	// Moved counts partition-replicas that changed device: the data that will move.
	Moved int
	// Placed counts replica slots that had no device before (a new ring, more replicas).
	Placed int
	// Stats describes the resulting assignment.
	Stats
	// Pinned counts partition-replicas that should have moved but were held by
	// min_part_hours; a later rebalance will move them.
	Pinned   int
	Duration time.Duration
	Warnings []string
}

// Rebalance computes a new assignment for the builder's devices and weights: it places
// unassigned replicas, moves replicas off removed devices and out of over-full failure
// domains, and then moves replicas from devices above their share to devices below it,
// each change the fewest moves that reach the target. See doc.go for the invariants.
func (b *Builder) Rebalance(opts RebalanceOptions) (*Report, error) {
	start := time.Now()
	if opts.Now.IsZero() {
		opts.Now = start
	}
	active := 0
	for id, d := range b.devs {
		if d != nil && !b.removing[id] && d.Weight > 0 {
			active++
		}
	}
	if active < b.cfg.Replicas {
		return nil, fmt.Errorf("%w: %d devices of positive weight, %d replicas", ErrTooFewDevices, active, b.cfg.Replicas)
	}
	parts := 1 << b.cfg.PartPower
	if b.assign == nil {
		b.assign = make([][]uint16, b.cfg.Replicas)
		for r := range b.assign {
			b.assign[r] = slices.Repeat([]uint16{unassigned}, parts)
		}
	}
	s := &rebalancer{
		b:     b,
		pl:    newPlan(b.devs, b.removing, b.cfg.Replicas, parts, b.cfg.Overload),
		now:   unixSeconds(opts.Now),
		seed:  opts.Seed,
		rng:   rand.New(rand.NewPCG(opts.Seed, 0x5eed)),
		prog:  opts.Progress,
		parts: parts,
	}
	rep := &Report{}
	s.count()
	slots := s.gather(rep)
	s.place(slots)
	s.balance(rep)
	if s.repair(rep) > 0 {
		s.balance(rep)
	}
	for id, gone := range b.removing {
		if gone {
			b.devs[id], b.removing[id] = nil, false
		}
	}
	b.version++
	b.changed = false
	rep.Version = b.version
	rep.Stats = b.stats(s.pl)
	rep.Duration = time.Since(start)
	rep.Warnings = append(rep.Warnings, s.warnings(rep)...)
	return rep, nil
}

// rebalancer is the state of one rebalance.
type rebalancer struct {
	b     *Builder
	pl    *plan
	now   uint32
	seed  uint64
	rng   *rand.Rand
	prog  func(string, int, int)
	parts int
	// held is scratch: the devices of the partition being placed, other than the slot.
	held []uint16
	// scratch holds candidate children per tree level during a descent.
	scratch [levels + 1][]cand
	// forced counts replicas that no device could take within the plan's caps.
	forced int
}

type cand struct {
	node  int32
	score float64
}

// count sets every domain's count from the current assignment.
func (s *rebalancer) count() {
	for _, row := range s.b.assign {
		for _, id := range row {
			if id != unassigned {
				s.add(id, 1)
			}
		}
	}
}

// add changes the counts along device id's path.
func (s *rebalancer) add(id uint16, delta int64) {
	path := &s.pl.path[id]
	if path[0] < 0 {
		return // a device leaving the ring: it is in no domain
	}
	s.pl.nodes[0].count += delta
	for _, n := range path {
		s.pl.nodes[n].count += delta
	}
}

// slot names replica r of partition p, packed as p<<4 | r.
type slot uint32

func mkSlot(p, r int) slot              { return slot(p<<4 | r) }
func (x slot) part() int                { return int(x >> 4) }
func (x slot) replica() int             { return int(x & 15) }
func (s *rebalancer) dev(x slot) uint16 { return s.b.assign[x.replica()][x.part()] }

// gather empties the slots that must be filled anew: those without a device, those on
// devices being removed, and the replicas that put more of a partition in one failure
// domain than the plan allows (these wait for min_part_hours).
func (s *rebalancer) gather(rep *Report) []slot {
	var slots []slot
	R := len(s.b.assign)
	for p := range s.parts {
		moved := false
		for r := range R {
			id := s.b.assign[r][p]
			switch {
			case id == unassigned:
				slots = append(slots, mkSlot(p, r))
				rep.Placed++
			case s.pl.path[id][0] < 0:
				s.b.assign[r][p] = unassigned
				slots = append(slots, mkSlot(p, r))
				rep.Moved++
				moved = true
			}
		}
		if moved {
			s.b.lastMoved[p] = s.now
		}
		// Over-full domains, outermost first; one replica per pass of the check.
		for {
			r, ok := s.overCap(p, false)
			if !ok {
				break
			}
			if !s.b.movable(p, s.now) {
				rep.Pinned++
				break
			}
			s.add(s.b.assign[r][p], -1)
			s.b.assign[r][p] = unassigned
			slots = append(slots, mkSlot(p, r))
			rep.Moved++
			s.b.lastMoved[p] = s.now
		}
	}
	return slots
}

// overCap finds a replica of p that breaks the plan — one in a domain holding more of p
// than its cap, or, if floors, one whose removal lets a sibling domain short of its floor
// be filled —
// choosing, among the replicas of the offending domain, the one on the device furthest over
// its quota.
func (s *rebalancer) overCap(p int, floors bool) (int, bool) {
	R := len(s.b.assign)
	held := s.held[:0]
	for r := range R {
		if id := s.b.assign[r][p]; id != unassigned {
			held = append(held, id)
		}
	}
	s.held = held
	have := func(n int32, lvl int) int {
		c := 0
		for _, id := range held {
			if s.pl.path[id][lvl] == n {
				c++
			}
		}
		return c
	}
	for lvl := range levels {
		var bad int32 = -1
		for _, id := range held {
			n := s.pl.path[id][lvl]
			nd := &s.pl.nodes[n]
			h := have(n, lvl)
			if h > nd.cap {
				bad = n
				break
			}
			if !floors || h <= nd.floor {
				continue
			}
			// n holds more than its floor: is a sibling short of its own?
			for _, sib := range s.pl.nodes[nd.parent].children {
				if sn := &s.pl.nodes[sib]; sib != n && sn.floor > 0 && have(sib, lvl) < sn.floor {
					bad = n
					break
				}
			}
			if bad >= 0 {
				break
			}
		}
		if bad < 0 {
			continue
		}
		best, bestOver := -1, int64(-1<<62)
		for r := range R {
			id := s.b.assign[r][p]
			if id == unassigned || s.pl.path[id][lvl] != bad {
				continue
			}
			leaf := &s.pl.nodes[s.pl.path[id][levelDevice]]
			if over := leaf.count - leaf.quota; over > bestOver {
				best, bestOver = r, over
			}
		}
		return best, true
	}
	return -1, false
}

// place fills the gathered slots in a seeded random order, each on the device that most
// needs data among those the plan's caps allow.
func (s *rebalancer) place(slots []slot) {
	s.rng.Shuffle(len(slots), func(i, j int) { slots[i], slots[j] = slots[j], slots[i] })
	for i, x := range slots {
		if s.prog != nil && i&0xffff == 0 {
			s.prog("place", i, len(slots))
		}
		p, r := x.part(), x.replica()
		s.heldFor(p, r)
		leaf := s.pickEither(p)
		if leaf < 0 {
			leaf = s.pickAny()
			s.forced++
		}
		id := uint16(s.pl.nodes[leaf].dev)
		s.b.assign[r][p] = id
		s.add(id, 1)
	}
	if s.prog != nil {
		s.prog("place", len(slots), len(slots))
	}
}

// heldFor loads the devices of p other than replica skip into s.held.
func (s *rebalancer) heldFor(p, skip int) {
	s.held = s.held[:0]
	for r, row := range s.b.assign {
		if r != skip && row[p] != unassigned {
			s.held = append(s.held, row[p])
		}
	}
}

// pick descends from the root to a device for one more replica of the partition whose
// other replicas are in s.held. At each level it prefers the child with the largest
// unmet share of its quota, skipping children that already hold their cap of the
// partition; if strict, it takes only devices below their quota. It returns the leaf
// node, or -1.
func (s *rebalancer) pick(p int, strict bool) int32 {
	return s.pickIn(0, p, strict)
}

// pickEither picks a device below its quota if the caps allow one, else any they allow.
func (s *rebalancer) pickEither(p int) int32 {
	if leaf := s.pick(p, true); leaf >= 0 {
		return leaf
	}
	return s.pick(p, false)
}

func (s *rebalancer) pickIn(n int32, p int, strict bool) int32 {
	nd := &s.pl.nodes[n]
	if nd.dev >= 0 {
		if nd.quota == 0 || (strict && nd.count >= nd.quota) || slices.Contains(s.held, uint16(nd.dev)) {
			return -1
		}
		return n
	}
	depth := nd.level + 1
	cands := s.scratch[depth][:0]
	// A child short of its floor for this partition must take the replica, or the
	// partition ends up spread worse than the plan; so when one exists, only such
	// children are candidates, and a move that cannot use them does not happen.
	short := false
	for _, c := range nd.children {
		cn := &s.pl.nodes[c]
		if cn.quota == 0 {
			continue
		}
		have := 0
		for _, id := range s.held {
			if s.pl.path[id][cn.level] == c {
				have++
			}
		}
		if have >= cn.cap || (short && have >= cn.floor) {
			continue
		}
		if have < cn.floor && !short {
			short = true
			cands = cands[:0]
		}
		if strict && cn.count >= cn.quota {
			continue
		}
		// Jitter below one partition-replica breaks ties differently per partition, so
		// equal devices share out the partitions at random instead of in lockstep.
		jitter := float64(mix64(s.seed^uint64(p)<<20^uint64(c))>>11) / (1 << 53)
		cands = append(cands, cand{c, (float64(cn.quota-cn.count) + jitter) / float64(cn.quota)})
	}
	s.scratch[depth] = cands
	for len(cands) > 0 {
		best := 0
		for i := range cands {
			if cands[i].score > cands[best].score {
				best = i
			}
		}
		c := cands[best].node
		if leaf := s.pickIn(c, p, strict); leaf >= 0 {
			return leaf
		}
		cands[best] = cands[len(cands)-1]
		cands = cands[:len(cands)-1]
	}
	return -1
}

// pickAny returns the device furthest below its quota that does not hold the partition,
// ignoring failure domains: the last resort when the caps cannot be met.
func (s *rebalancer) pickAny() int32 {
	best, bestNeed := int32(-1), int64(-1<<62)
	for i := range s.pl.nodes {
		nd := &s.pl.nodes[i]
		if nd.dev < 0 || nd.quota == 0 || slices.Contains(s.held, uint16(nd.dev)) {
			continue
		}
		if need := nd.quota - nd.count; need > bestNeed {
			best, bestNeed = int32(i), need
		}
	}
	return best
}

// balance moves replicas from devices above their quota to devices below it until none
// is below, or no allowed move remains. Each move fixes one unit of imbalance at both
// ends, so the moves are as few as the imbalance.
func (s *rebalancer) balance(rep *Report) {
	need := s.totalNeed()
	if need == 0 {
		return
	}
	mask := uint64(s.parts - 1)
	for pass := 0; need > 0 && pass < len(s.b.assign)+2; pass++ {
		start := s.rng.Uint64() & mask
		stride := (s.rng.Uint64() | 1) & mask
		if s.parts == 1 {
			stride = 1
		}
		progress := false
		q := start
		for i := range s.parts {
			if s.prog != nil && i&0xffff == 0 {
				s.prog("balance", i, s.parts)
			}
			p := int(q)
			q = (q + stride) & mask
			if !s.b.movable(p, s.now) {
				continue
			}
			if !s.onOverfull(p) {
				continue
			}
			// The first pass serves partitions short of a floor, whose move from an
			// over-full device can also spread them; repair would otherwise move them
			// a second time.
			if pass == 0 {
				if _, short := s.overCap(p, true); !short {
					continue
				}
			}
			for r, row := range s.b.assign {
				leaf := &s.pl.nodes[s.pl.path[row[p]][levelDevice]]
				if leaf.count <= leaf.quota || !s.move(p, r, func() int32 { return s.pick(p, true) }) {
					continue
				}
				rep.Moved++
				progress = true
				need--
				break
			}
			if need == 0 {
				break
			}
		}
		if !progress && pass > 0 {
			break
		}
	}
	// What single moves cannot fix, two can: move a replica from a device at its quota
	// into the needy one, then refill that device from one above its quota.
	for tries := 0; need > 0 && tries < 256 && s.chain(rep); tries++ {
		need--
	}
	if s.prog != nil {
		s.prog("balance", s.parts, s.parts)
	}
}

// repair moves replicas of partitions that the greedy placement left spread worse than
// the plan (it can happen to the last slots placed, when the domains they should go to
// are already full); balance then evens out what the repairs took. It returns the moves.
func (s *rebalancer) repair(rep *Report) int {
	moves := 0
	for p := range s.parts {
		r, bad := s.overCap(p, true)
		if !bad || !s.b.movable(p, s.now) {
			continue
		}
		if !s.move(p, r, func() int32 { return s.pickEither(p) }) {
			continue
		}
		rep.Moved++
		moves++
	}
	return moves
}

// chainScan bounds how many partitions one step of a chain looks at, so a ring where no
// chain exists costs milliseconds, not minutes.
const chainScan = 1 << 14

// chain fills one unit of need with two moves: p from a device v at its quota to the needy
// device u, then some p2 from a device above its quota to v. It reports whether it did.
func (s *rebalancer) chain(rep *Report) bool {
	var u int32 = -1
	for i := range s.pl.nodes {
		if nd := &s.pl.nodes[i]; nd.dev >= 0 && nd.count < nd.quota {
			u = int32(i)
			break
		}
	}
	if u < 0 {
		return false
	}
	mask := s.parts - 1
	start := int(s.rng.Uint64()) & mask
	for i := range min(s.parts, chainScan) {
		p := (start + i) & mask
		if !s.b.movable(p, s.now) {
			continue
		}
		for r, row := range s.b.assign {
			v := row[p]
			vleaf := s.pl.path[v][levelDevice]
			if vleaf == u || s.pl.nodes[vleaf].count < s.pl.nodes[vleaf].quota {
				continue
			}
			stamp := s.b.lastMoved[p]
			if !s.move(p, r, func() int32 { return s.onlyIfAllowed(v, u) }) {
				continue
			}
			if s.refill(p, vleaf) {
				rep.Moved += 2
				return true
			}
			s.add(row[p], -1)
			row[p] = v
			s.add(v, 1)
			s.b.lastMoved[p] = stamp
		}
	}
	return false
}

// refill moves one replica of a partition other than skip from a device above its quota
// to the leaf v.
func (s *rebalancer) refill(skip int, v int32) bool {
	mask := s.parts - 1
	start := int(s.rng.Uint64()) & mask
	for i := range min(s.parts, chainScan) {
		p := (start + i) & mask
		if p == skip || !s.b.movable(p, s.now) {
			continue
		}
		for r, row := range s.b.assign {
			oleaf := &s.pl.nodes[s.pl.path[row[p]][levelDevice]]
			if oleaf.count > oleaf.quota && s.move(p, r, func() int32 { return s.onlyIfAllowed(row[p], v) }) {
				return true
			}
		}
	}
	return false
}

// move takes replica r of p out of the counts, loads s.held with p's other replicas, and
// asks choose for a leaf. If it names one other than the replica's own device, the replica
// moves there and p is stamped as moved; otherwise everything is as it was.
func (s *rebalancer) move(p, r int, choose func() int32) bool {
	row := s.b.assign[r]
	id := row[p]
	s.add(id, -1)
	s.heldFor(p, r)
	to := choose()
	if to < 0 || uint16(s.pl.nodes[to].dev) == id {
		s.add(id, 1)
		return false
	}
	row[p] = uint16(s.pl.nodes[to].dev)
	s.add(row[p], 1)
	s.b.lastMoved[p] = s.now
	return true
}

// onlyIfAllowed returns leaf if the replica of the partition being moved may go there
// from device from, else -1.
func (s *rebalancer) onlyIfAllowed(from uint16, leaf int32) int32 {
	if s.allowed(from, leaf) {
		return leaf
	}
	return -1
}

// allowed reports whether a replica of the partition whose other replicas are in s.held
// may move from device from to leaf: leaf holds none of it, no domain above leaf is at its
// cap, and no domain the replica leaves drops below its floor.
func (s *rebalancer) allowed(from uint16, leaf int32) bool {
	dev := uint16(s.pl.nodes[leaf].dev)
	if slices.Contains(s.held, dev) {
		return false
	}
	have := func(n int32, lvl int) int {
		c := 0
		for _, id := range s.held {
			if s.pl.path[id][lvl] == n {
				c++
			}
		}
		return c
	}
	for lvl, n := range s.pl.path[dev] {
		if have(n, lvl) >= s.pl.nodes[n].cap {
			return false
		}
		if src := s.pl.path[from][lvl]; src != n && have(src, lvl) < s.pl.nodes[src].floor {
			return false
		}
	}
	return true
}

// warnings explains results an operator should act on.
func (s *rebalancer) warnings(rep *Report) []string {
	var w []string
	if s.forced > 0 {
		w = append(w, fmt.Sprintf("%d partition-replicas could not be placed within their failure domains' caps", s.forced))
	}
	if need := s.totalNeed(); need > 0 || rep.Pinned > 0 {
		w = append(w, fmt.Sprintf("devices lack %d partition-replicas of their share: min_part_hours (%dh) pins the partitions that would move; rebalance again after it passes", need+int64(rep.Pinned), s.b.cfg.MinPartHours))
	}
	if s.pl.shortfall > 1e-9 {
		if s.pl.overloadNeeded > 1e8 {
			w = append(w, "the weights put more than one replica of some partitions in one failure domain, and no overload avoids it: add failure domains")
		} else {
			w = append(w, fmt.Sprintf("the weights put more than one replica of some partitions in one failure domain; overload %.1f%% would spread them", 100*s.pl.overloadNeeded))
		}
	}
	return w
}

// onOverfull reports whether a replica of p sits on a device above its quota.
func (s *rebalancer) onOverfull(p int) bool {
	for _, row := range s.b.assign {
		if leaf := &s.pl.nodes[s.pl.path[row[p]][levelDevice]]; leaf.count > leaf.quota {
			return true
		}
	}
	return false
}

// totalNeed is the partition-replicas devices lack to reach their quotas.
func (s *rebalancer) totalNeed() int64 {
	var need int64
	for i := range s.pl.nodes {
		if nd := &s.pl.nodes[i]; nd.dev >= 0 && nd.count < nd.quota {
			need += nd.quota - nd.count
		}
	}
	return need
}
