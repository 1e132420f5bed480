package ec2api

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"time"

	meta "stratus/meta/client"
)

// Placement.
//
// An instance goes on a compute host of its zone that is not lost (hosts.go) and whose capacity, less the vCPUs and memory of the instances placed there that are not
// terminated, holds it. Among those, the least loaded after placement wins (the larger of
// its vCPU and memory fractions; ties by name), which spreads instances over hosts.
//
// Placement is optimistic and race-safe without a lock: the records are written first
// (one transaction for the whole launch), then the instances of every host used are read
// again (a linearizable read) and, if a host's instances now need more than it has, this
// launch withdraws all it placed (conditional deletes) and tries again after a random
// pause, at most placeAttempts times. Why no host is ever oversubscribed by launches that
// keep their instances: each launch that keeps its instances saw, after its own write,
// every instance written before that read — in particular every other kept launch whose
// read came earlier, since that one wrote before reading — and the total fit. The last of
// the kept launches to read therefore saw all the kept instances of the host together,
// and they fit. Two racing launches may both withdraw (then both retry); they never both
// keep what does not fit. The cost: a placed record exists for a few milliseconds before a
// withdrawal removes it, so a host's daemon must tolerate an instance record vanishing
// (it reconciles its domains against the catalog anyway).

// placeAttempts bounds the placements a launch tries when racing launches overfill a host.
const placeAttempts = 6

// hostLoad is a compute host with what its instances use.
type hostLoad struct {
	Host      meta.ComputeHost
	VCPUs     int
	MemoryMiB int
}

// fits reports whether the host has room for t.
func (h hostLoad) fits(t InstanceType) bool {
	return h.VCPUs+t.VCPUs <= h.Host.VCPUs && h.MemoryMiB+t.MemoryMiB <= h.Host.MemoryMiB
}

// loadAfter is the host's load once t is on it: the larger fraction of vCPUs or memory.
func (h hostLoad) loadAfter(t InstanceType) float64 {
	return max(float64(h.VCPUs+t.VCPUs)/float64(h.Host.VCPUs), float64(h.MemoryMiB+t.MemoryMiB)/float64(h.Host.MemoryMiB))
}

// occupies reports whether in uses its host's capacity: every instance not terminated.
func occupies(in meta.Instance) bool { return in.Host != "" && in.State != meta.InstanceTerminated }

// hostLoads returns the live hosts of zone with their load, in name order.
func (s *Server) hostLoads(ctx context.Context, zone string) ([]hostLoad, error) {
	hosts, err := s.meta.ComputeHosts(ctx)
	if err != nil {
		return nil, err
	}
	insts, err := s.meta.Instances(ctx)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	var out []hostLoad
	for _, h := range hosts {
		hz := h.Zone
		if hz == "" {
			hz = s.cfg.Zones[0]
		}
		if hz != zone || !s.hostLive(h, now) {
			continue
		}
		hl := hostLoad{Host: h}
		for _, in := range insts {
			if in.Host == h.Host && occupies(in) {
				hl.VCPUs += in.VCPUs
				hl.MemoryMiB += in.MemoryMiB
			}
		}
		out = append(out, hl)
	}
	return out, nil
}

// placeOn chooses hosts for up to n instances of type t among loads (which it updates):
// each on the least loaded host that fits it. It returns the hosts chosen, fewer than n
// when capacity runs out.
func placeOn(loads []hostLoad, t InstanceType, n int) []string {
	var out []string
	for range n {
		best := -1
		for i, h := range loads {
			if h.fits(t) && (best < 0 || h.loadAfter(t) < loads[best].loadAfter(t)) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		loads[best].VCPUs += t.VCPUs
		loads[best].MemoryMiB += t.MemoryMiB
		out = append(out, loads[best].Host.Host)
	}
	return out
}

// launch places and stores the instances of one RunInstances call: at least min and at
// most len(insts) of them (each with its type's vCPUs and memory set), with extra ops (their
// tags, their volumes) built by ops for the instances that are launched. It returns the
// instances stored, with their hosts.
func (s *Server) launch(ctx context.Context, insts []meta.Instance, minCount int, t InstanceType,
	ops func(launched []meta.Instance) ([]meta.Op, error)) ([]meta.Instance, error) {
	for attempt := range placeAttempts {
		if attempt > 0 {
			pause := time.Duration(rand.Int64N(int64(20*time.Millisecond<<attempt))) + 5*time.Millisecond
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(pause):
			}
		}
		loads, err := s.hostLoads(ctx, insts[0].Zone)
		if err != nil {
			return nil, err
		}
		hosts := placeOn(loads, t, len(insts))
		if len(hosts) < minCount {
			return nil, errorf(ErrInsufficientInstanceCapacity,
				"There is not enough capacity for %d %s instances in %s (room for %d).", minCount, t.Name, insts[0].Zone, len(hosts))
		}
		launched := slices.Clone(insts[:len(hosts)])
		for i := range launched {
			launched[i].Host = hosts[i]
		}
		extra, err := ops(launched)
		if err != nil {
			return nil, err
		}
		if err := s.createInstances(ctx, launched, extra); err != nil {
			return nil, err
		}
		over, err := s.overfilled(ctx, hosts)
		if err != nil || !over {
			return launched, err
		}
		if err := s.withdraw(ctx, launched, extra); err != nil {
			return nil, err
		}
	}
	return nil, errorf(ErrInsufficientInstanceCapacity, "Concurrent launches kept filling the hosts of %s; try again.", insts[0].Zone)
}

// createInstances stores the instances and extra in one transaction.
func (s *Server) createInstances(ctx context.Context, insts []meta.Instance, extra []meta.Op) error {
	// CreateInstance takes one record and the rest as extra ops: the others go as ops of
	// their own, built the same way (a conditional create each).
	var more []meta.Op
	for _, in := range insts[1:] {
		op, err := instanceCreateOp(in)
		if err != nil {
			return err
		}
		more = append(more, op)
	}
	return s.meta.CreateInstance(ctx, insts[0], append(more, extra...)...)
}

// overfilled reports whether any of hosts has instances (read now) needing more than it has.
func (s *Server) overfilled(ctx context.Context, hosts []string) (bool, error) {
	all, err := s.meta.ComputeHosts(ctx)
	if err != nil {
		return false, err
	}
	insts, err := s.meta.Instances(ctx)
	if err != nil {
		return false, err
	}
	for _, h := range all {
		if !slices.Contains(hosts, h.Host) {
			continue
		}
		cpu, mem := 0, 0
		for _, in := range insts {
			if in.Host == h.Host && occupies(in) {
				cpu += in.VCPUs
				mem += in.MemoryMiB
			}
		}
		if cpu > h.VCPUs || mem > h.MemoryMiB {
			return true, nil
		}
	}
	return false, nil
}

// withdraw removes the records a launch wrote (its instances and the records its extra ops
// created), each conditional on its current mod index, rereading on a conflict (the host
// may already have touched a record).
func (s *Server) withdraw(ctx context.Context, insts []meta.Instance, extra []meta.Op) error {
	for _, in := range insts {
		for try := 0; ; try++ {
			_, idx, err := s.meta.Instance(ctx, in.ID)
			if errors.Is(err, meta.ErrNotFound) {
				break
			}
			if err != nil {
				return err
			}
			err = s.meta.DeleteInstance(ctx, in.ID, idx)
			if err == nil || errors.Is(err, meta.ErrNotFound) {
				break
			}
			if !errors.Is(err, meta.ErrConflict) || try >= maxVolumeRetries {
				return err
			}
		}
	}
	var dels []meta.Op
	for _, op := range extra {
		if op.Kind == meta.OpPut && op.Cond == meta.CondAbsent || op.Table == meta.TableTags {
			dels = append(dels, meta.Op{Kind: meta.OpDelete, Table: op.Table, Key: op.Key})
		}
	}
	if len(dels) == 0 {
		return nil
	}
	_, err := s.meta.Apply(ctx, dels...)
	return err
}
