package proxy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"stratus/internal/hlc"
	"stratus/objectd/client"
)

// TombstonesEC writes a deletion of name at ts to the K+M devices of its partition in c's
// ring, all at once, each bounded by NodeTimeout: the fragment archives of a version the
// index no longer names go. A device holding a version at least as new keeps it (that is
// not an error). It returns the failures, for the caller to log: an archive that missed
// its tombstone stays, unreferenced.
func (p *Proxy) TombstonesEC(ctx context.Context, c ECCode, name string, ts hlc.Timestamp) error {
	targets, err := p.placeEC(c, name)
	if err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			start := time.Now()
			dctx, cancel := context.WithTimeout(ctx, p.cfg.NodeTimeout)
			defer cancel()
			err := p.nodes.Delete(dctx, t, name, ts)
			p.m.replica(opDelete, start, err, false)
			p.observeErr(err)
			if err != nil && !errors.Is(err, client.ErrConflict) {
				errs[i] = fmt.Errorf("fragment %d on %v: %w", i, t, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
