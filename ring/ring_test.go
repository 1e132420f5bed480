package ring

import (
	"testing"
)

func TestHandoffs(t *testing.T) {
	b := newTestBuilder(t, 8, 3, 0)
	addTopology(t, b, topology{2, 3, 2, 2, 100}, 0)
	b.Add(Device{Region: 1, Zone: 1, Host: "10.9.9.9:6200", Name: "empty", Weight: 0})
	mustRebalance(t, b, 1, t0)
	r, err := b.Ring()
	if err != nil {
		t.Fatal(err)
	}
	for p := range Partition(r.PartitionCount()) {
		prim := r.Primaries(p, nil)
		seen := map[DeviceID]bool{}
		regions, zones := map[int]bool{}, map[[2]int]bool{}
		for _, d := range prim {
			seen[d.ID] = true
			regions[d.Region] = true
			zones[[2]int{d.Region, d.Zone}] = true
		}
		var order []*Device
		for d := range r.Handoffs(p) {
			if seen[d.ID] {
				t.Fatalf("partition %d: handoff %d repeats a device", p, d.ID)
			}
			if d.Weight == 0 {
				t.Fatalf("partition %d: zero-weight device %d offered as a handoff", p, d.ID)
			}
			seen[d.ID] = true
			order = append(order, d)
		}
		if len(seen) != len(r.Devices())-1 {
			t.Fatalf("partition %d: %d devices in primaries and handoffs, want %d", p, len(seen), len(r.Devices())-1)
		}
		// New failure domains come first: a region no primary uses, then new zones.
		i := 0
		for ; i < len(order) && !regions[order[i].Region]; i++ {
			regions[order[i].Region] = true
			zones[[2]int{order[i].Region, order[i].Zone}] = true
		}
		if len(regions) != 2 {
			t.Fatalf("partition %d: handoffs reach a new region only after a repeat", p)
		}
		for ; i < len(order) && !zones[[2]int{order[i].Region, order[i].Zone}]; i++ {
			zones[[2]int{order[i].Region, order[i].Zone}] = true
		}
		if len(zones) != 6 {
			t.Fatalf("partition %d: handoffs reach all zones only after a repeat (%d of 6)", p, len(zones))
		}
		// Deterministic: the same order every time.
		j := 0
		for d := range r.Handoffs(p) {
			if d != order[j] {
				t.Fatalf("partition %d: handoff order differs between calls", p)
			}
			j++
		}
	}
}

func TestPartitionKeyed(t *testing.T) {
	a := newTestBuilder(t, 16, 1, 0)
	a.key = HashKey{1}
	b := newTestBuilder(t, 16, 1, 0)
	b.key = HashKey{2}
	for _, x := range []*Builder{a, b} {
		x.Add(Device{Host: "10.0.0.1:6200", Name: "a", Weight: 1})
		mustRebalance(t, x, 1, t0)
	}
	ra, _ := a.Ring()
	rb, _ := b.Ring()
	same := 0
	for i := range 1000 {
		name := "bucket/key" + string(rune('a'+i%26)) + string(rune(i))
		if ra.Partition(name) == rb.Partition(name) {
			same++
		}
	}
	if same > 10 {
		t.Fatalf("%d of 1000 names share a partition under different keys: the key is not used", same)
	}
}

// TestSipHashVector checks SipHash-2-4 against the reference paper's test vector.
func TestSipHashVector(t *testing.T) {
	var k HashKey
	for i := range k {
		k[i] = byte(i)
	}
	msg := make([]byte, 15)
	for i := range msg {
		msg[i] = byte(i)
	}
	k0, k1 := k.halves()
	if got, want := sipHash24(k0, k1, string(msg)), uint64(0xa129ca6149be45e5); got != want {
		t.Fatalf("siphash = %#x, want %#x", got, want)
	}
}

func TestParseDevice(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Device
		bad  bool
	}{
		{in: "r1z2-10.0.0.1:6200/sdb1", want: Device{Region: 1, Zone: 2, Host: "10.0.0.1:6200", Name: "sdb1"}},
		{in: "r0z0-[::1]:6200/d_fast ssd", want: Device{Host: "[::1]:6200", Name: "d", Meta: "fast ssd"}},
		{in: "z1-10.0.0.1:6200/sdb1", bad: true},
		{in: "r1z2-10.0.0.1/sdb1", bad: true},
		{in: "r1z2-10.0.0.1:6200/", bad: true},
		{in: "r1z2-10.0.0.1:6200/../x", bad: true},
		{in: "r1z2-host.example:6200/sdb", bad: true},
		{in: "r1z2-10.0.0.1:99999/sdb", bad: true},
		{in: "r-1z2-10.0.0.1:6200/sdb", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			d, err := ParseDevice(tc.in)
			if tc.bad {
				if err == nil {
					t.Fatalf("parsed %+v, want an error", d)
				}
				return
			}
			if err != nil || d != tc.want {
				t.Fatalf("got %+v, %v; want %+v", d, err, tc.want)
			}
		})
	}
}

func TestBuilderBadInput(t *testing.T) {
	if _, err := NewBuilder(BuilderConfig{PartPower: 25, Replicas: 3}); !errorsIs(err, ErrInvalid) {
		t.Fatalf("part power 25: %v", err)
	}
	if _, err := NewBuilder(BuilderConfig{PartPower: 0, Replicas: 3}); !errorsIs(err, ErrInvalid) {
		t.Fatalf("part power 0: %v", err)
	}
	b := newTestBuilder(t, 4, 1, 0)
	d := Device{Host: "10.0.0.1:6200", Name: "a", Weight: 1}
	if _, err := b.Add(d); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Add(d); !errorsIs(err, ErrDuplicateDevice) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := b.SetWeight(0, -1); !errorsIs(err, ErrInvalid) {
		t.Fatalf("negative weight: %v", err)
	}
	if err := b.SetWeight(7, 1); !errorsIs(err, ErrNoDevice) {
		t.Fatalf("unknown device: %v", err)
	}
	if _, err := b.Search("10.0.0.2"); !errorsIs(err, ErrNoDevice) {
		t.Fatalf("search for nothing: %v", err)
	}
	if ids, err := b.Search("r0z0-10.0.0.1:6200/a"); err != nil || len(ids) != 1 {
		t.Fatalf("search: %v %v", ids, err)
	}
	if _, err := b.Ring(); !errorsIs(err, ErrNotBalanced) {
		t.Fatalf("ring before rebalance: %v", err)
	}
}
