package chunkdev

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	objclient "stratus/objectd/client"
)

// repairer brings replicas marked behind up to date in the background. Lock order: a
// chunk's mu before repairer.mu.
type repairer struct {
	d      *Device
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{}
	sem    chan struct{}

	mu      sync.Mutex
	pending []repairJob

	repaired      atomic.Int64
	blocks        atomic.Int64
	degradedDirty atomic.Bool
}

type repairJob struct {
	c       *chunk
	r       int
	attempt int
	due     time.Time
}

// errRetry asks for another attempt at once: the replica missed a change while it was
// being repaired.
var errRetry = errors.New("replica missed a change during its repair")

func (rp *repairer) start(d *Device) {
	rp.d = d
	rp.ctx, rp.cancel = context.WithCancel(context.Background())
	rp.wake = make(chan struct{}, 1)
	rp.sem = make(chan struct{}, d.cfg.RepairConcurrency)
	rp.wg.Add(1)
	go rp.loop()
}

func (rp *repairer) stop() {
	rp.cancel()
	rp.wg.Wait()
}

func (rp *repairer) kick() {
	select {
	case rp.wake <- struct{}{}:
	default:
	}
}

// schedule queues a repair of replica r of c. The caller holds c.mu and has set queued.
func (rp *repairer) schedule(c *chunk, r int) {
	rp.mu.Lock()
	rp.pending = append(rp.pending, repairJob{c: c, r: r})
	rp.mu.Unlock()
	rp.kick()
}

func (rp *repairer) loop() {
	defer rp.wg.Done()
	for {
		if rp.degradedDirty.Swap(false) {
			rp.d.m.degraded.Set(float64(rp.d.Degraded()))
		}
		now := time.Now()
		var due []repairJob
		var next time.Time
		rp.mu.Lock()
		keep := rp.pending[:0]
		for _, j := range rp.pending {
			if !j.due.After(now) {
				due = append(due, j)
				continue
			}
			keep = append(keep, j)
			if next.IsZero() || j.due.Before(next) {
				next = j.due
			}
		}
		rp.pending = keep
		rp.mu.Unlock()
		for _, j := range due {
			select {
			case rp.sem <- struct{}{}:
			case <-rp.ctx.Done():
				return
			}
			rp.wg.Go(func() {
				defer func() { <-rp.sem }()
				rp.run(j)
			})
		}
		if len(due) > 0 {
			continue
		}
		var timer <-chan time.Time
		if !next.IsZero() {
			t := time.NewTimer(time.Until(next))
			timer = t.C
			defer t.Stop()
		}
		select {
		case <-rp.ctx.Done():
			return
		case <-rp.wake:
		case <-timer:
		}
	}
}

func (rp *repairer) run(j repairJob) {
	err := rp.d.repair(rp.ctx, j.c, j.r)
	if err == nil || rp.ctx.Err() != nil {
		rp.degradedDirty.Store(true)
		rp.kick()
		return
	}
	if errors.Is(err, errRetry) {
		j.attempt = 0
		j.due = time.Time{}
	} else {
		rp.d.m.repairFail.Inc()
		step := rp.d.cfg.RepairRetryMax / 10
		wait := min(rp.d.cfg.RepairRetryMax, step<<min(j.attempt, 10))
		j.attempt++
		j.due = time.Now().Add(wait)
		rp.d.log.Debug("chunk repair failed; will retry", "chunk", j.c.name, "node", j.c.targets[j.r].Host, "wait", wait, "err", err)
	}
	rp.mu.Lock()
	rp.pending = append(rp.pending, j)
	rp.mu.Unlock()
	rp.kick()
}

// repair copies to replica r of c the blocks it lacks and marks it current, unless it
// missed another change meanwhile. It reads the tables of every replica above the sequence
// r is known to hold; the blocks of which some other replica holds a newer sequence (or
// that r holds torn) are copied, each from a replica holding its newest sequence, known
// current ones first. A quorum of tables, r's included, must answer: every acknowledged
// change is then in one of them, so no current replica is needed as the source.
func (d *Device) repair(ctx context.Context, c *chunk, r int) error {
	c.repairMu[r].Lock()
	defer c.repairMu[r].Unlock()
	c.mu.Lock()
	rp := &c.reps[r]
	if !rp.behind {
		rp.queued = false
		c.mu.Unlock()
		return nil
	}
	misses, since, torn := rp.misses, rp.since, slices.Clone(rp.torn)
	epoch0, unflushed := rp.epoch, rp.unflushed
	current := make([]bool, len(c.reps))
	for i := range c.reps {
		current[i] = !c.reps[i].behind
	}
	c.mu.Unlock()
	cctx, cancel := d.callCtx(ctx)
	defer cancel()
	dstT := c.targets[r]

	metas := make([]*objclient.ChunkMeta, len(c.targets)) // nil: no answer
	dstMissing := false
	read := func() (int, error) {
		var wg sync.WaitGroup
		errs := make([]error, len(c.targets))
		for i, t := range c.targets {
			wg.Go(func() {
				m, err := d.cl.ChunkMeta(cctx, t, c.name, since)
				switch {
				case err == nil:
					metas[i] = &m
				case errors.Is(err, objclient.ErrNotFound):
					metas[i] = &objclient.ChunkMeta{}
					if i == r {
						dstMissing = true
					}
				default:
					metas[i], errs[i] = nil, err
				}
			})
		}
		wg.Wait()
		n := 0
		for _, m := range metas {
			if m != nil {
				n++
			}
		}
		return n, errors.Join(errs...)
	}
	n, err := read()
	if metas[r] == nil || n < d.quorum {
		return fmt.Errorf("repair %s: %w (%d of %d tables): %w", c.name, ErrQuorum, n, len(c.targets), err)
	}
	if dstMissing && since > 0 {
		// Compare from the start: nothing below since can be assumed held.
		since = 0
		if n, err = read(); metas[r] == nil || n < d.quorum {
			return fmt.Errorf("repair %s: %w (%d of %d tables): %w", c.name, ErrQuorum, n, len(c.targets), err)
		}
	}
	if !dstMissing && epoch0 != "" && metas[r].Epoch != epoch0 && unflushed != 0 && unflushed-1 < since {
		// The node restarted and may have lost unflushed writes below since.
		c.mu.Lock()
		rp.since = min(rp.since, unflushed-1)
		c.mu.Unlock()
		return errRetry
	}
	held := make(map[int64]uint64, len(metas[r].Blocks))
	for _, b := range metas[r].Blocks {
		if !b.Damaged {
			held[b.OffsetBytes] = b.Sequence
		}
	}
	isTorn := map[int64]bool{}
	for _, off := range torn {
		isTorn[off] = true
	}
	// For each block, the newest sequence another replica holds and who holds it.
	type best struct {
		seq uint64
		src int
	}
	bests := map[int64]best{}
	for i, m := range metas {
		if i == r || m == nil {
			continue
		}
		for _, b := range m.Blocks {
			if b.Damaged {
				continue
			}
			cur, ok := bests[b.OffsetBytes]
			if !ok || b.Sequence > cur.seq || (b.Sequence == cur.seq && current[i] && !current[cur.src]) {
				bests[b.OffsetBytes] = best{b.Sequence, i}
			}
		}
	}
	need := map[int][]int64{} // source → offsets
	for off, b := range bests {
		if b.seq > held[off] || (isTorn[off] && b.seq >= held[off]) {
			need[b.src] = append(need[b.src], off)
		}
	}
	var blocks []objclient.ChunkBlock
	for src, offs := range need {
		slices.Sort(offs)
		want := map[int64]bool{}
		for _, off := range offs {
			want[off] = true
		}
		for i := 0; i < len(offs); {
			j := i + 1
			for j < len(offs) && offs[j] == offs[j-1]+objclient.ChunkBlockSize {
				j++
			}
			run, _, err := d.cl.ReadChunkBlocks(cctx, c.targets[src], c.name, offs[i], offs[j-1]+objclient.ChunkBlockSize-offs[i], 0)
			if err != nil {
				return fmt.Errorf("repair %s: read blocks from %s: %w", c.name, c.targets[src].Host, err)
			}
			for _, b := range run {
				if want[b.Offset] {
					blocks = append(blocks, b)
				}
			}
			i = j
		}
	}
	slices.SortFunc(blocks, func(a, b objclient.ChunkBlock) int { return int((a.Offset - b.Offset) / objclient.ChunkBlockSize) })
	epoch := metas[r].Epoch
	const batch = 1024
	for i := 0; i < len(blocks); i += batch {
		res, err := d.cl.RepairChunk(cctx, dstT, objclient.ChunkRepair{Name: c.name, Generation: d.cfg.Generation,
			ChunkSize: d.cfg.ChunkSizeBytes, FUA: true}, blocks[i:min(len(blocks), i+batch)])
		if errors.Is(err, objclient.ErrFenced) {
			d.fence(err)
			return nil
		}
		if err != nil {
			return fmt.Errorf("repair %s: apply blocks: %w", c.name, err)
		}
		c.mu.Lock()
		rp.copied += min(batch, len(blocks)-i)
		c.mu.Unlock()
		if epoch != "" && res.Epoch != epoch {
			return fmt.Errorf("repair %s: node %s restarted during the repair", c.name, dstT.Host)
		}
		epoch = res.Epoch
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if rp.misses != misses {
		return errRetry
	}
	rp.behind, rp.since, rp.torn, rp.queued = false, 0, nil, false
	if epoch != "" && epoch != rp.epoch {
		// What it acknowledged under an older run was compared above.
		rp.epoch, rp.unflushed = epoch, 0
	}
	if rp.copied > 0 {
		d.rep.repaired.Add(1)
		d.rep.blocks.Add(int64(rp.copied))
		d.m.repairs.Inc()
		d.m.repairBlks.Add(float64(rp.copied))
	}
	d.log.Info("chunk replica repaired", "chunk", c.name, "node", dstT.Host, "device", dstT.Device, "blocks", rp.copied)
	rp.copied = 0
	return nil
}
