package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"stratus/meta/client"
	"stratus/ring"
)

// readRings returns every policy's published ring.
func readRings(ctx context.Context, mc *client.Client) ([]client.RingVersion, error) {
	var out []client.RingVersion
	after := ""
	for range 1000 { // a ring per policy: a handful of pages at most
		items, more, err := mc.List(ctx, client.TableRings, "", after, client.MaxListLimit, client.Stale())
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			var rv client.RingVersion
			if err := json.Unmarshal(it.Value, &rv); err != nil {
				return nil, fmt.Errorf("ring %s: %w", it.Key, err)
			}
			out = append(out, rv)
		}
		if !more || len(items) == 0 {
			return out, nil
		}
		after = items[len(items)-1].Key
	}
	return nil, fmt.Errorf("rings table: too many pages")
}

// storageTarget is one storage node as the rings name it: its address and the devices
// they place on it.
type storageTarget struct {
	addr    string
	devices map[string]bool
}

// ringStatuses summarises each ring and returns the storage nodes they name, sorted.
func ringStatuses(rings []client.RingVersion, rep *statusReport, problem func(kind, subject, format string, a ...any)) []storageTarget {
	byAddr := map[string]*storageTarget{}
	for _, rv := range rings {
		r, err := ring.Decode(rv.Data)
		if err != nil {
			problem("ring_unreadable", rv.Policy, "ring of policy %s (version %d) does not decode: %v", rv.Policy, rv.Version, err)
			continue
		}
		devs := r.Devices()
		hosts := map[string]bool{}
		for _, d := range devs {
			hosts[d.IP()] = true
			t := byAddr[d.Host]
			if t == nil {
				t = &storageTarget{addr: d.Host, devices: map[string]bool{}}
				byAddr[d.Host] = t
			}
			t.devices[d.Name] = true
		}
		rep.Rings = append(rep.Rings, ringStatus{Policy: rv.Policy, Version: rv.Version, Published: rv.PublishedAt.UTC(),
			Partitions: r.PartitionCount(), Replicas: r.Replicas(), Devices: len(devs), Hosts: len(hosts), BalanceRatio: ringBalance(r)})
	}
	var out []storageTarget
	for _, t := range byAddr {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b storageTarget) int { return cmp.Compare(a.addr, b.addr) })
	return out
}

// ringBalance is the worst |parts - wanted| / wanted over devices of positive weight, as
// `ring show` reports it from the builder, computed here from the ring alone.
func ringBalance(r *ring.Ring) float64 {
	parts := map[ring.DeviceID]int{}
	var buf []*ring.Device
	for p := range r.PartitionCount() {
		buf = r.Primaries(ring.Partition(p), buf[:0])
		for _, d := range buf {
			parts[d.ID]++
		}
	}
	total := 0.0
	for _, d := range r.Devices() {
		total += d.Weight
	}
	worst := 0.0
	if total <= 0 {
		return 0
	}
	slots := float64(r.PartitionCount() * r.Replicas())
	for _, d := range r.Devices() {
		if d.Weight <= 0 {
			continue
		}
		wanted := slots * d.Weight / total
		worst = max(worst, math.Abs(float64(parts[d.ID])-wanted)/wanted)
	}
	return worst
}
