package ring

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// topology describes a regular cluster for tests and benchmarks.
type topology struct {
	regions, zones, hosts, devices int
	weight                         float64
}

func (tp topology) size() int { return tp.regions * tp.zones * tp.hosts * tp.devices }

// addTopology adds tp's devices to b; host numbers start at firstHost.
func addTopology(tb testing.TB, b *Builder, tp topology, firstHost int) {
	tb.Helper()
	for r := range tp.regions {
		for z := range tp.zones {
			for h := range tp.hosts {
				for d := range tp.devices {
					hostNum := firstHost + h
					ip := fmt.Sprintf("10.%d.%d.%d", r+1, z+1, hostNum+1)
					if _, err := b.Add(Device{Region: r + 1, Zone: z + 1, Host: ip + ":6200",
						Name: fmt.Sprintf("sd%c", 'a'+d), Weight: tp.weight}); err != nil {
						tb.Fatal(err)
					}
				}
			}
		}
	}
}

func newTestBuilder(tb testing.TB, partPower, replicas, minPartHours int) *Builder {
	tb.Helper()
	b, err := NewBuilder(BuilderConfig{PartPower: partPower, Replicas: replicas, MinPartHours: minPartHours})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func rebalance(tb testing.TB, b *Builder, seed uint64, now time.Time) *Report {
	tb.Helper()
	rep, err := b.Rebalance(RebalanceOptions{Seed: seed, Now: now})
	if err != nil {
		tb.Fatal(err)
	}
	if err := b.Check(); err != nil {
		tb.Fatal(err)
	}
	return rep
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
