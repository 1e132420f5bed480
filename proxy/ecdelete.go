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
// device a write would have taken in its place (handoffPicker), under ECHandoffName: an
// archive handed off while that node was down is superseded there, and the reconstructor
// carries the tombstone to the primary when it is back. Archives on handoff devices that
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
	var picker *handoffPicker
	for i, err := range errs {
		if err == nil {
			continue
		}
		if picker == nil {
			picker = p.newHandoffPicker(pl)
			defer picker.close()
			for j, err := range errs {
				if err != nil && !slices.Contains(picker.failedHosts, pl.primaries[j].Host) {
					picker.failedHosts = append(picker.failedHosts, pl.primaries[j].Host)
				}
			}
		}
		for {
			t, ok := picker.pick(pl.primaries[i].Host)
			if !ok {
				break
			}
			if herr := del(t, client.ECHandoffName(name, i)); herr == nil {
				errs[i] = nil
				break
			}
		}
	}
	return errors.Join(errs...)
}
