package chunkdev

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	objclient "stratus/objectd/client"
	"stratus/volumed/nbd"
)

// span is the part of a device range that falls in one chunk.
type span struct {
	idx int64 // chunk index
	off int64 // offset in the chunk
	n   int64 // length
	pos int64 // offset from the start of the range
}

// spans splits [off, off+length) by chunk.
func (d *Device) spans(off, length int64) []span {
	cs := d.cfg.ChunkSizeBytes
	var out []span
	for pos := int64(0); pos < length; {
		abs := off + pos
		in := abs % cs
		n := min(cs-in, length-pos)
		out = append(out, span{idx: abs / cs, off: in, n: n, pos: pos})
		pos += n
	}
	return out
}

func (d *Device) checkRange(off, length uint64) error {
	if off%objclient.ChunkBlockSize != 0 || length%objclient.ChunkBlockSize != 0 {
		return fmt.Errorf("%w: offset %d, length %d not multiples of %d", nbd.ErrInvalid, off, length, objclient.ChunkBlockSize)
	}
	if size := d.Size(); off > size || length > size-off {
		return fmt.Errorf("%w: offset %d, length %d past the end (%d)", nbd.ErrInvalid, off, length, size)
	}
	return d.usable()
}

// forSpans runs fn on each span concurrently and returns the first error.
func forSpans(spans []span, fn func(s span) error) error {
	if len(spans) == 1 {
		return fn(spans[0])
	}
	errs := make([]error, len(spans))
	var wg sync.WaitGroup
	for i, s := range spans {
		wg.Go(func() { errs[i] = fn(s) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (d *Device) observe(op string, start time.Time, n int, err error) {
	d.m.ops.WithLabelValues(op).Inc()
	d.m.latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil {
		d.m.errs.WithLabelValues(op).Inc()
		return
	}
	d.m.bytes.WithLabelValues(op).Add(float64(n))
}

// WriteAt implements nbd.Writer: each chunk's part goes to all its replicas and is
// acknowledged at a write quorum; with fua, a quorum made it durable.
func (d *Device) WriteAt(ctx context.Context, p []byte, off uint64, fua bool) (err error) {
	defer func(start time.Time) { d.observe("write", start, len(p), err) }(time.Now())
	if err := d.checkRange(off, uint64(len(p))); err != nil {
		return err
	}
	defer d.snap.hold()()
	return forSpans(d.spans(int64(off), int64(len(p))), func(s span) error {
		c := d.chunk(s.idx)
		if err := d.load(ctx, c); err != nil {
			return err
		}
		if err := d.prepareChange(ctx, c); err != nil {
			return err
		}
		data := p[s.pos : s.pos+s.n]
		_, err := d.change(ctx, c, fua, true, func(ctx context.Context, t objclient.Target, seq uint64) (objclient.ChunkResult, error) {
			return d.cl.WriteChunk(ctx, t, objclient.ChunkWrite{Name: c.name, Offset: s.off, Generation: d.cfg.Generation,
				Sequence: seq, ChunkSize: d.cfg.ChunkSizeBytes, FUA: fua}, data)
		})
		if !fua {
			d.markDirty(s.idx)
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", c.name, err)
		}
		return nil
	})
}

// zero marks a range zero on every replica of its chunks.
func (d *Device) zero(ctx context.Context, op string, off, length uint64, fua bool) (err error) {
	defer func(start time.Time) { d.observe(op, start, int(length), err) }(time.Now())
	if err := d.checkRange(off, length); err != nil {
		return err
	}
	defer d.snap.hold()()
	return forSpans(d.spans(int64(off), int64(length)), func(s span) error {
		c := d.chunk(s.idx)
		if err := d.load(ctx, c); err != nil {
			return err
		}
		if err := d.prepareChange(ctx, c); err != nil {
			return err
		}
		c.mu.Lock()
		exists := c.exists
		c.mu.Unlock()
		if !exists {
			return nil // a chunk no replica holds (nor the base) reads as zeros already
		}
		_, err := d.change(ctx, c, fua, false, func(ctx context.Context, t objclient.Target, seq uint64) (objclient.ChunkResult, error) {
			return d.cl.ZeroChunk(ctx, t, objclient.ChunkZero{Name: c.name, Offset: s.off, Length: s.n,
				Generation: d.cfg.Generation, Sequence: seq, ChunkSize: d.cfg.ChunkSizeBytes, FUA: fua})
		})
		if !fua {
			d.markDirty(s.idx)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", op, c.name, err)
		}
		return nil
	})
}

// Trim implements nbd.Trimmer: trimmed blocks read as zeros.
func (d *Device) Trim(ctx context.Context, off, length uint64, fua bool) error {
	return d.zero(ctx, "trim", off, length, fua)
}

// Zero implements nbd.Zeroer. Zeroing is always fast (no data moves); NoHole is not
// honoured, since replicas allocate blocks when they are written.
func (d *Device) Zero(ctx context.Context, off, length uint64, flags nbd.ZeroFlags) error {
	return d.zero(ctx, "zero", off, length, flags.FUA)
}

// ReadAt implements nbd.Export: each chunk's part is read from a current replica.
func (d *Device) ReadAt(ctx context.Context, p []byte, off uint64) (err error) {
	defer func(start time.Time) { d.observe("read", start, len(p), err) }(time.Now())
	if err := d.checkRange(off, uint64(len(p))); err != nil {
		return err
	}
	return forSpans(d.spans(int64(off), int64(len(p))), func(s span) error {
		_, err := d.readSpan(ctx, s, p[s.pos:s.pos+s.n])
		return err
	})
}

// ReadSparse implements nbd.SparseReader: chunks no replica holds come back as zero
// extents without a call.
func (d *Device) ReadSparse(ctx context.Context, p []byte, off uint64) (ext []nbd.Extent, err error) {
	defer func(start time.Time) { d.observe("read", start, len(p), err) }(time.Now())
	if err := d.checkRange(off, uint64(len(p))); err != nil {
		return nil, err
	}
	spans := d.spans(int64(off), int64(len(p)))
	holes := make([]bool, len(spans))
	err = forSpans(spans, func(s span) error {
		i := 0
		for spans[i].pos != s.pos {
			i++
		}
		var err error
		holes[i], err = d.readSpan(ctx, s, p[s.pos:s.pos+s.n])
		return err
	})
	if err != nil {
		return nil, err
	}
	for i, s := range spans {
		var f nbd.ExtentFlags
		if holes[i] {
			f = nbd.ExtentZero | nbd.ExtentHole
		}
		if len(ext) > 0 && ext[len(ext)-1].Flags == f {
			ext[len(ext)-1].Length += uint64(s.n)
		} else {
			ext = append(ext, nbd.Extent{Length: uint64(s.n), Flags: f})
		}
	}
	return ext, nil
}

// readSpan fills buf from chunk s.idx; hole reports a chunk no replica holds (buf is then
// zeroed).
func (d *Device) readSpan(ctx context.Context, s span, buf []byte) (hole bool, err error) {
	hole, _, err = d.readSpanVersion(ctx, s, buf)
	return hole, err
}

// readSpanVersion is readSpan that also returns the version of the replica read (0 for a
// hole or a chunk read from the base).
func (d *Device) readSpanVersion(ctx context.Context, s span, buf []byte) (hole bool, version uint64, err error) {
	c := d.chunk(s.idx)
	if err := d.load(ctx, c); err != nil {
		return false, 0, err
	}
	var errs []error
	compared := false
	for tried := map[int]bool{}; ; {
		c.mu.Lock()
		exists := c.exists
		r := -1
		for i := range c.reps {
			k := (i + int(s.idx)) % len(c.reps) // spread chunks' reads over replicas
			if !c.reps[k].behind && !tried[k] {
				r = k
				break
			}
		}
		c.mu.Unlock()
		if !exists && d.base != nil && d.base.holds(s.idx) {
			return false, 0, d.base.readAt(ctx, s.idx, s.off, buf)
		}
		if !exists {
			clear(buf)
			return true, 0, nil
		}
		if r < 0 && !compared && exists {
			// Every replica missed some change. The tables may show one holding it all;
			// if not, repair one here rather than fail the read.
			compared = true
			if err := d.compare(ctx, c, true); err != nil {
				return false, 0, fmt.Errorf("read %s: %w", c.name, err)
			}
			for k := range c.targets {
				c.mu.Lock()
				ok := c.current()
				c.mu.Unlock()
				if ok {
					break
				}
				if err := d.repair(ctx, c, k); err != nil {
					errs = append(errs, err)
				}
			}
			clear(tried)
			continue
		}
		if r < 0 {
			return false, 0, fmt.Errorf("read %s: %w: %w", c.name, ErrUnavailable, errors.Join(errs...))
		}
		tried[r] = true
		cctx, cancel := d.callCtx(ctx)
		rd, err := d.cl.ReadChunk(cctx, c.targets[r], c.name, s.off, buf)
		cancel()
		if err == nil {
			return false, rd.Version, nil
		}
		if ctx.Err() != nil {
			return false, 0, fmt.Errorf("read %s: %w", c.name, err)
		}
		errs = append(errs, err)
		c.mu.Lock()
		var se *objclient.StatusError
		if errors.Is(err, objclient.ErrTorn) && errors.As(err, &se) {
			c.reps[r].torn = append(c.reps[r].torn, se.TornOffset)
			d.markBehind(c, r, 0, "torn block", err)
		} else {
			d.markBehind(c, r, 0, "read failed", err)
		}
		c.mu.Unlock()
	}
}

// Flush implements nbd.Flusher: every chunk written since the last flush is synced on a
// write quorum of replicas that hold all its acknowledged writes.
func (d *Device) Flush(ctx context.Context) (err error) {
	start := time.Now()
	defer func() {
		d.observe("flush", start, 0, err)
		if err == nil {
			d.m.flush.Observe(time.Since(start).Seconds())
		}
	}()
	if err := d.usable(); err != nil {
		return err
	}
	d.mu.Lock()
	var chunks []*chunk
	for i := range d.dirty {
		chunks = append(chunks, d.chunks[i])
	}
	clear(d.dirty)
	d.mu.Unlock()
	if len(chunks) == 0 {
		return nil
	}
	type devKey struct{ host, device string }
	type member struct {
		c    *chunk
		r    int
		acks uint64
		miss uint64
	}
	byDev := map[devKey][]member{}
	for _, c := range chunks {
		c.mu.Lock()
		for r, rp := range c.reps {
			if rp.behind {
				continue
			}
			k := devKey{c.targets[r].Host, c.targets[r].Device}
			byDev[k] = append(byDev[k], member{c, r, rp.acks, rp.misses})
		}
		c.mu.Unlock()
	}
	type devResult struct {
		epoch string
		err   error
	}
	results := make(map[devKey]*devResult, len(byDev))
	var wg sync.WaitGroup
	for k, ms := range byDev {
		res := &devResult{}
		results[k] = res
		wg.Go(func() {
			for len(ms) > 0 && res.err == nil {
				batch := ms[:min(len(ms), objclient.MaxFlushChunks)]
				ms = ms[len(batch):]
				refs := make([]objclient.ChunkRef, len(batch))
				for i, m := range batch {
					refs[i] = objclient.ChunkRef{Partition: m.c.targets[m.r].Partition, Name: m.c.name}
				}
				cctx, cancel := d.callCtx(ctx)
				out, err := d.cl.FlushChunks(cctx, objclient.Target{Host: k.host, Device: k.device}, refs)
				cancel()
				if res.epoch != "" && out.Epoch != res.epoch {
					err = fmt.Errorf("node %s restarted during a flush", k.host)
				}
				res.epoch, res.err = out.Epoch, err
			}
		})
	}
	wg.Wait()
	synced := map[*chunk]int{}
	for k, ms := range byDev {
		res := results[k]
		for _, m := range ms {
			c := m.c
			c.mu.Lock()
			rp := &c.reps[m.r]
			switch {
			case res.err != nil:
				if rp.unflushed != 0 {
					d.markBehind(c, m.r, rp.unflushed-1, "flush failed", res.err)
				}
			case rp.epoch != "" && res.epoch != rp.epoch && rp.unflushed != 0:
				d.markBehind(c, m.r, rp.unflushed-1, "node restarted with unflushed writes", nil)
			case rp.behind || rp.misses != m.miss:
			default:
				synced[c]++
				if rp.acks == m.acks {
					rp.unflushed = 0
				}
				rp.epoch = res.epoch
			}
			c.mu.Unlock()
		}
	}
	var errs []error
	for _, c := range chunks {
		if synced[c] < d.quorum {
			d.markDirty(c.idx)
			errs = append(errs, fmt.Errorf("flush %s: %w (%d of %d synced)", c.name, ErrQuorum, synced[c], len(c.targets)))
		}
	}
	if len(errs) == 0 {
		return nil // a device that failed cost no chunk its quorum
	}
	for _, r := range results {
		if r.err != nil {
			errs = append(errs, r.err)
		}
	}
	return errors.Join(errs...)
}

// BlockStatus implements nbd.BlockStatuser: chunks no replica holds (nor the base), and
// blocks never written or zeroed, are holes that read as zeros. A chunk read from the base
// is data throughout.
func (d *Device) BlockStatus(ctx context.Context, off, length uint64) (ext []nbd.Extent, err error) {
	defer func(start time.Time) { d.observe("block_status", start, 0, err) }(time.Now())
	if err := d.checkRange(off, length); err != nil {
		return nil, err
	}
	add := func(n int64, f nbd.ExtentFlags) {
		if len(ext) > 0 && ext[len(ext)-1].Flags == f {
			ext[len(ext)-1].Length += uint64(n)
		} else {
			ext = append(ext, nbd.Extent{Length: uint64(n), Flags: f})
		}
	}
	const hole = nbd.ExtentHole | nbd.ExtentZero
	for _, s := range d.spans(int64(off), int64(length)) {
		c := d.chunk(s.idx)
		if err := d.load(ctx, c); err != nil {
			return nil, err
		}
		alloc, found, err := d.allocation(ctx, c)
		if err != nil {
			if len(ext) > 0 {
				return ext, nil // describe what is known; the client asks again
			}
			return nil, err
		}
		if !found && d.base != nil && d.base.holds(s.idx) {
			add(s.n, 0) // read from the base
			continue
		}
		if !found {
			add(s.n, hole)
			continue
		}
		for o := s.off; o < s.off+s.n; o += objclient.ChunkBlockSize {
			if i := o / objclient.ChunkBlockSize; alloc[i/64]&(1<<(i%64)) != 0 {
				add(objclient.ChunkBlockSize, 0)
			} else {
				add(objclient.ChunkBlockSize, hole)
			}
		}
	}
	return ext, nil
}

// allocation returns which blocks of c hold data, a bit per block; found is false for a
// chunk no replica holds. A client walking a volume's extents asks about the same chunk
// once per extent (qemu asks for one extent at a time), so the answer is kept until c
// changes.
func (d *Device) allocation(ctx context.Context, c *chunk) (alloc []uint64, found bool, err error) {
	c.mu.Lock()
	alloc, events := c.alloc, c.changeEvents
	c.mu.Unlock()
	if alloc != nil {
		return alloc, true, nil
	}
	meta, found, err := d.currentMeta(ctx, c)
	if err != nil || !found {
		return nil, found, err
	}
	alloc = make([]uint64, (d.cfg.ChunkSizeBytes/objclient.ChunkBlockSize+63)/64)
	for _, b := range meta.Blocks {
		if i := b.OffsetBytes / objclient.ChunkBlockSize; !b.Zero && b.OffsetBytes >= 0 && int(i/64) < len(alloc) {
			alloc[i/64] |= 1 << (i % 64)
		}
	}
	c.mu.Lock()
	if c.changeEvents == events && c.changing == 0 {
		c.alloc = alloc
	}
	c.mu.Unlock()
	return alloc, true, nil
}

// currentMeta reads c's table from a current replica; found is false for a chunk no
// replica holds.
func (d *Device) currentMeta(ctx context.Context, c *chunk) (objclient.ChunkMeta, bool, error) {
	var errs []error
	for r := range c.targets {
		c.mu.Lock()
		exists, behind := c.exists, c.reps[r].behind
		c.mu.Unlock()
		if !exists {
			return objclient.ChunkMeta{}, false, nil
		}
		if behind {
			continue
		}
		cctx, cancel := d.callCtx(ctx)
		meta, err := d.cl.ChunkMeta(cctx, c.targets[r], c.name, 0)
		cancel()
		if err == nil {
			return meta, true, nil
		}
		errs = append(errs, err)
	}
	return objclient.ChunkMeta{}, false, fmt.Errorf("block status %s: %w: %w", c.name, ErrUnavailable, errors.Join(errs...))
}
