package ring

import (
	"cmp"
	"fmt"
	"slices"
)

// Diff is what changes between two rings: the partition-replicas that move and where.
type Diff struct {
	OldVersion uint64
	NewVersion uint64
	// Moved counts partition-replicas whose device is new in the partition's set.
	Moved int
	// Total is partitions × replicas of the new ring.
	Total int
	// Fraction is Moved/Total: the share of the data that will be copied.
	Fraction float64
	// PartitionsChanged counts partitions with at least one replica moving, and
	// MaxMovedInPartition the most replicas of one partition moving at once.
	PartitionsChanged   int
	MaxMovedInPartition int
	Devices             []DeviceDiff
}

// DeviceDiff is one device's line of a Diff. Devices are matched by host and name, since
// IDs of removed devices can be reused.
type DeviceDiff struct {
	Host     string
	Name     string
	OldParts int
	NewParts int
	Gained   int
	Lost     int
}

// Compare returns what moves from ring a to ring b. Both must have the same partition
// count and hash key, or no partition means the same data in both.
func Compare(a, b *Ring) (*Diff, error) {
	if a.partPower != b.partPower {
		return nil, fmt.Errorf("%w: part power %d vs %d: every object changes partition", ErrInvalid, a.partPower, b.partPower)
	}
	if a.key != b.key {
		return nil, fmt.Errorf("%w: the rings have different hash keys: every object changes partition", ErrInvalid)
	}
	type devKey struct{ host, name string }
	index := map[devKey]int{}
	var lines []DeviceDiff
	slot := func(d *Device) int {
		k := devKey{d.Host, d.Name}
		i, ok := index[k]
		if !ok {
			i = len(lines)
			index[k] = i
			lines = append(lines, DeviceDiff{Host: d.Host, Name: d.Name})
		}
		return i
	}
	// Map each ring's device IDs to diff lines once, so the partition walk is lookups.
	lineOf := func(r *Ring) []int {
		m := make([]int, len(r.devs))
		for id, d := range r.devs {
			if d != nil {
				m[id] = slot(d)
			}
		}
		return m
	}
	la, lb := lineOf(a), lineOf(b)
	df := &Diff{OldVersion: a.version, NewVersion: b.version, Total: b.PartitionCount() * b.Replicas()}
	var oldSet, newSet []int
	for p := range a.PartitionCount() {
		oldSet, newSet = oldSet[:0], newSet[:0]
		for _, row := range a.assign {
			oldSet = append(oldSet, la[row[p]])
		}
		for _, row := range b.assign {
			newSet = append(newSet, lb[row[p]])
		}
		moved := 0
		for _, l := range oldSet {
			lines[l].OldParts++
			if !slices.Contains(newSet, l) {
				lines[l].Lost++
			}
		}
		for _, l := range newSet {
			lines[l].NewParts++
			if !slices.Contains(oldSet, l) {
				lines[l].Gained++
				moved++
			}
		}
		df.Moved += moved
		if moved > 0 {
			df.PartitionsChanged++
			df.MaxMovedInPartition = max(df.MaxMovedInPartition, moved)
		}
	}
	df.Fraction = float64(df.Moved) / float64(df.Total)
	slices.SortFunc(lines, func(x, y DeviceDiff) int {
		return cmp.Or(cmp.Compare(y.Gained+y.Lost, x.Gained+x.Lost), cmp.Compare(x.Host, y.Host), cmp.Compare(x.Name, y.Name))
	})
	df.Devices = lines
	return df, nil
}

// FromRing rebuilds a builder from a ring, for an operator who has lost the builder file:
// devices, assignment, version and hash key come back; when partitions last moved does
// not, so min_part_hours counts from the next rebalance.
func FromRing(r *Ring, minPartHours int) (*Builder, error) {
	cfg := BuilderConfig{PartPower: int(r.partPower), Replicas: len(r.assign), MinPartHours: minPartHours}
	b, err := NewBuilder(cfg)
	if err != nil {
		return nil, err
	}
	b.key, b.version = r.key, r.version
	b.devs = make([]*Device, len(r.devs))
	b.removing = make([]bool, len(r.devs))
	for id, d := range r.devs {
		if d != nil {
			c := *d
			b.devs[id] = &c
		}
	}
	b.assign = make([][]uint16, len(r.assign))
	for i, row := range r.assign {
		b.assign[i] = slices.Clone(row)
	}
	return b, nil
}
