package proxy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"stratus/internal/hlc"
	"stratus/objectd/client"
)

// TombstonesEC writes a deletion of name at ts to the K+M devices of its partition in c's
// ring, all at once, each bounded by NodeTimeout: the fragment archives of a version the
// index no longer names go. A device holding a version at least as new keeps it (that is
// not an error). A fragment whose primary fails its tombstone gets it on the handoff
// devices a write would have taken in place of the failed primaries (handoffPicker), under
// ECHandoffName: an archive handed off while that node was down is superseded there, and
// the reconstructor carries the tombstone to the primary when it is back. Archives on handoff devices that
// this does not reach are dropped by the reconstructor when it finds the tombstone on
// their primary. It returns the failures, for the caller to log.
func (p *Proxy) TombstonesEC(ctx context.Context, c ECCode, name string, ts hlc.Timestamp) error {
	pl, err := p.placeECAll(c, name)
	if err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	del := func(t client.Target, storeName string) error {
		start := time.Now()
		dctx, cancel := context.WithTimeout(ctx, p.cfg.NodeTimeout)
		defer cancel()
		err := p.nodes.Delete(dctx, t, storeName, ts)
		p.m.replica(opDelete, start, err, false)
		p.observeErr(err)
		if err != nil && !errors.Is(err, client.ErrConflict) {
			return err
		}
		return nil
	}
	errs := make([]error, len(pl.primaries))
	var wg sync.WaitGroup
	for i, t := range pl.primaries {
		wg.Go(func() {
			if err := del(t, name); err != nil {
				errs[i] = fmt.Errorf("fragment %d on %v: %w", i, t, err)
			}
		})
	}
	wg.Wait()
	var failed []int
	for i, err := range errs {
		if err != nil {
			failed = append(failed, i)
		}
	}
	if len(failed) > 0 {
		// A write with these primaries down put their fragments on the first devices the
		// picker hands out, in whichever order its streams failed: each of those devices
		// gets the tombstone of each of those fragments.
		picker := p.newHandoffPicker(pl)
		defer picker.close()
		for _, i := range failed {
			if h := pl.primaries[i].Host; !slices.Contains(picker.failedHosts, h) {
				picker.failedHosts = append(picker.failedHosts, h)
			}
		}
		var handoffs []client.Target
		for range failed {
			if t, ok := picker.pick(""); ok {
				handoffs = append(handoffs, t)
			}
		}
		var mu sync.Mutex
		for _, i := range failed {
			for _, t := range handoffs {
				wg.Go(func() {
					if del(t, client.ECHandoffName(name, i)) == nil {
						mu.Lock()
						errs[i] = nil
						mu.Unlock()
					}
				})
			}
		}
		wg.Wait()
	}
	return errors.Join(errs...)
}
