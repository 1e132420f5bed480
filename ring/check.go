package ring

import "fmt"

// Check verifies the invariants of a rebalanced builder: every partition has Replicas
// distinct devices, each present in the builder. (A device being drained may still hold
// replicas that min_part_hours pins.) It is the oracle of the tests and cheap enough to run
// after every rebalance.
func (b *Builder) Check() error {
	if b.assign == nil {
		return nil
	}
	if len(b.assign) != b.cfg.Replicas {
		return fmt.Errorf("%d replica rows, want %d", len(b.assign), b.cfg.Replicas)
	}
	for p := range 1 << b.cfg.PartPower {
		for r, row := range b.assign {
			id := row[p]
			if id == unassigned {
				return fmt.Errorf("partition %d replica %d has no device", p, r)
			}
			d := b.devs[id]
			if d == nil || b.removing[id] {
				return fmt.Errorf("partition %d replica %d is on device %d, which is not in the ring", p, r, id)
			}
			for _, other := range b.assign[:r] {
				if other[p] == id {
					return fmt.Errorf("partition %d has device %d twice", p, id)
				}
			}
		}
	}
	return nil
}
