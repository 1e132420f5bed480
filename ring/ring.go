package ring

import (
	"iter"
	"strconv"
)

// Partition is a partition number, in [0, 2^PartPower).
type Partition uint32

// unassigned marks a replica slot with no device, in builder state only.
const unassigned = 0xFFFF

// Ring is an immutable placement table: what daemons load. Its methods are safe for
// concurrent use, and the lookups allocate nothing.
type Ring struct {
	version   uint64
	partPower uint8
	key       HashKey
	k0, k1    uint64
	// devs is indexed by DeviceID; nil where no device has that ID.
	devs []*Device
	// assign[r][p] is the device ID of replica r of partition p.
	assign [][]uint16
	// tiers[id] is the device's failure-domain indexes (region, zone, host), dense per ring;
	// only the handoff walk needs them.
	tiers     [][3]int32
	tierCount [3]int
}

// Version is the ring's version: it grows by one with every rebalance, so a node can tell a
// newer ring from an older one.
func (r *Ring) Version() uint64 { return r.version }

// PartPower is log2 of the partition count.
func (r *Ring) PartPower() int { return int(r.partPower) }

// PartitionCount is 2^PartPower.
func (r *Ring) PartitionCount() int { return 1 << r.partPower }

// Replicas is the number of primaries of every partition.
func (r *Ring) Replicas() int { return len(r.assign) }

// HashKey returns the key of the partition hash.
func (r *Ring) HashKey() HashKey { return r.key }

// Partition returns the partition of an object name: the top PartPower bits of its keyed
// hash.
func (r *Ring) Partition(name string) Partition {
	return Partition(sipHash24(r.k0, r.k1, name) >> (64 - r.partPower))
}

// Primaries appends the primary devices of partition p to dst, in replica order, and
// returns the extended slice. With a dst of capacity Replicas it allocates nothing.
func (r *Ring) Primaries(p Partition, dst []*Device) []*Device {
	for _, row := range r.assign {
		dst = append(dst, r.devs[row[p]])
	}
	return dst
}

// IsPrimary reports whether device id is a primary of partition p.
func (r *Ring) IsPrimary(p Partition, id DeviceID) bool {
	for _, row := range r.assign {
		if DeviceID(row[p]) == id {
			return true
		}
	}
	return false
}

// Device returns the device with the given ID, or nil.
func (r *Ring) Device(id DeviceID) *Device {
	if int(id) >= len(r.devs) {
		return nil
	}
	return r.devs[id]
}

// Devices returns every device of the ring, in ID order. The devices are shared: callers
// must not modify them.
func (r *Ring) Devices() []*Device {
	out := make([]*Device, 0, len(r.devs))
	for _, d := range r.devs {
		if d != nil {
			out = append(out, d)
		}
	}
	return out
}

// Handoffs yields the devices to use, in order, when primaries of partition p are
// unavailable: first a device in each region that holds no primary, then in each new zone,
// then on each new host, then the remaining devices. Devices are found by walking other
// partitions' assignments, so each is met in proportion to its weight. The order is
// deterministic: every node computes the same sequence from the same ring. Devices of zero
// weight are never yielded.
func (r *Ring) Handoffs(p Partition) iter.Seq[*Device] {
	return func(yield func(*Device) bool) {
		seen := make([]bool, len(r.devs))
		var used [3][]bool
		for lvl := range used {
			used[lvl] = make([]bool, r.tierCount[lvl])
		}
		var usedCount [3]int
		mark := func(id uint16) {
			seen[id] = true
			for lvl, t := range r.tiers[id] {
				if !used[lvl][t] {
					used[lvl][t] = true
					usedCount[lvl]++
				}
			}
		}
		for _, row := range r.assign {
			mark(row[p])
		}
		parts := uint64(r.PartitionCount())
		h := mix64(uint64(p) ^ r.k0)
		start := h % parts
		// Any odd stride visits every partition of a power-of-two count once.
		stride := (mix64(h) | 1) % parts
		if parts == 1 {
			stride = 1
		}
		for lvl := range 3 {
			if usedCount[lvl] == r.tierCount[lvl] {
				continue
			}
			q := start
			for range parts {
				for _, row := range r.assign {
					id := row[q]
					if seen[id] || used[lvl][r.tiers[id][lvl]] || r.devs[id].Weight == 0 {
						continue
					}
					mark(id)
					if !yield(r.devs[id]) {
						return
					}
				}
				if usedCount[lvl] == r.tierCount[lvl] {
					break
				}
				q = (q + stride) & (parts - 1)
			}
		}
		// Any device not met yet, in an order scrambled per partition.
		n := len(r.devs)
		off := int(h % uint64(max(n, 1)))
		for i := range n {
			id := (off + i) % n
			d := r.devs[id]
			if d == nil || seen[id] || d.Weight == 0 {
				continue
			}
			seen[id] = true
			if !yield(d) {
				return
			}
		}
	}
}

// newRing indexes devs and assign into a Ring. The caller has validated them.
func newRing(version uint64, partPower uint8, key HashKey, devs []*Device, assign [][]uint16) *Ring {
	r := &Ring{version: version, partPower: partPower, key: key, devs: devs, assign: assign}
	r.k0, r.k1 = key.halves()
	r.tiers = make([][3]int32, len(devs))
	index := [3]map[string]int32{{}, {}, {}}
	for id, d := range devs {
		if d == nil {
			continue
		}
		names := tierNames(d)
		for lvl, name := range names {
			t, ok := index[lvl][name]
			if !ok {
				t = int32(len(index[lvl]))
				index[lvl][name] = t
			}
			r.tiers[id][lvl] = t
		}
	}
	for lvl := range index {
		r.tierCount[lvl] = len(index[lvl])
	}
	return r
}

// tierNames gives a device's region, zone and host as keys unique across the ring.
func tierNames(d *Device) [3]string {
	region := strconv.Itoa(d.Region)
	zone := region + "/" + strconv.Itoa(d.Zone)
	return [3]string{region, zone, zone + "/" + d.IP()}
}
