package chunkdev

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	objclient "stratus/objectd/client"
	"stratus/ring"
	"stratus/volumed/nbd"
)

// Device is one attachment of a volume. It is safe for concurrent use by any number of
// NBD connections.
type Device struct {
	cfg    Config
	ring   *ring.Ring
	cl     *objclient.Client
	log    *slog.Logger
	m      *metrics
	quorum int

	fenced   atomic.Bool
	detached atomic.Bool
	size     atomic.Int64 // the volume's size: cfg.SizeBytes, grown by SetSize

	mu     sync.Mutex
	chunks map[int64]*chunk
	dirty  map[int64]struct{} // written since the last flush
	rep    repairer

	// Replica calls run on workers kept until Detach, so that each call does not start a
	// goroutine whose small stack grows (and is copied) through the client's deep call
	// path. work is unbuffered: a call goes to an idle worker, or to a new one.
	work     chan func()
	stopWork chan struct{}

	snap snapState   // snapshot.go
	base *baseReader // clone.go; nil unless the volume is a clone
}

// New returns a device for cfg over the chunks r places, reached with cl. Its metrics go to
// cfg.Metrics, or without it to a set of its own registered on reg (nil: nowhere). It starts
// the background repairer, which runs until Detach.
func New(cfg Config, r *ring.Ring, cl *objclient.Client, reg prometheus.Registerer) (*Device, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.fill()
	if r == nil || cl == nil {
		return nil, errors.New("chunkdev: nil ring or client")
	}
	m, err := newMetrics(cfg, reg)
	if err != nil {
		return nil, err
	}
	d := &Device{
		cfg:    cfg,
		ring:   r,
		cl:     cl,
		log:    cfg.Logger.With("volume", cfg.Volume),
		m:      m,
		quorum: r.Replicas()/2 + 1,
		chunks: make(map[int64]*chunk),
		dirty:  make(map[int64]struct{}),

		work:     make(chan func()),
		stopWork: make(chan struct{}),
		base:     newBaseReader(cfg.Base, cfg.ChunkSizeBytes),
	}
	d.size.Store(cfg.SizeBytes)
	d.rep.start(d)
	return d, nil
}

// Info returns the ExportInfo to serve the device with: multi-conn (every connection
// shares this device's state) and 4 KiB blocks.
func (d *Device) Info() nbd.ExportInfo {
	return nbd.ExportInfo{
		Name:                d.cfg.Volume,
		MultiConn:           true,
		MinBlockBytes:       objclient.ChunkBlockSize,
		PreferredBlockBytes: objclient.ChunkBlockSize,
	}
}

// Size implements nbd.Export.
func (d *Device) Size() uint64 { return uint64(d.size.Load()) }

// Fenced reports whether a newer holder fenced the device.
func (d *Device) Fenced() bool { return d.fenced.Load() }

// Repaired returns how many chunk replicas repairs brought up to date by copying blocks.
func (d *Device) Repaired() int { return int(d.rep.repaired.Load()) }

// RepairedBlocks returns how many blocks repairs copied.
func (d *Device) RepairedBlocks() int { return int(d.rep.blocks.Load()) }

// Degraded returns how many chunks have a replica behind.
func (d *Device) Degraded() int {
	d.mu.Lock()
	chunks := make([]*chunk, 0, len(d.chunks))
	for _, c := range d.chunks {
		chunks = append(chunks, c)
	}
	d.mu.Unlock()
	n := 0
	for _, c := range chunks {
		c.mu.Lock()
		for _, r := range c.reps {
			if r.behind {
				n++
				break
			}
		}
		c.mu.Unlock()
	}
	return n
}

// Detach stops the device: it waits for running repairs to finish and fails later calls
// with ErrDetached. It does not flush; flush first to keep unflushed writes.
func (d *Device) Detach() {
	if !d.detached.Swap(true) {
		close(d.stopWork)
	}
	d.snap.stop()
	d.rep.stop()
}

// goWork runs f concurrently: on an idle worker, or on a new one that, once f returns,
// waits for more work until Detach.
func (d *Device) goWork(f func()) {
	select {
	case d.work <- f:
		return
	default:
	}
	go func() {
		for {
			f()
			select {
			case f = <-d.work:
			case <-d.stopWork:
				return
			}
		}
	}()
}

// ChunkName returns the ring name of chunk i of volume.
func ChunkName(volume string, i int64) string {
	return fmt.Sprintf(".vol/%s/%016x", volume, uint64(i))
}

func (d *Device) usable() error {
	switch {
	case d.fenced.Load():
		return ErrFenced
	case d.detached.Load():
		return ErrDetached
	}
	return nil
}

// chunk returns chunk i's state, creating it (not yet loaded).
func (d *Device) chunk(i int64) *chunk {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.chunks[i]
	if c == nil {
		name := ChunkName(d.cfg.Volume, i)
		p := d.ring.Partition(name)
		c = &chunk{idx: i, name: name}
		for _, dev := range d.ring.Primaries(p, make([]*ring.Device, 0, d.ring.Replicas())) {
			c.targets = append(c.targets, objclient.Target{Host: dev.Host, Device: dev.Name, Partition: uint32(p)})
		}
		c.reps = make([]replica, len(c.targets))
		c.repairMu = make([]sync.Mutex, len(c.targets))
		d.chunks[i] = c
	}
	return c
}

func (d *Device) markDirty(i int64) {
	d.mu.Lock()
	d.dirty[i] = struct{}{}
	d.mu.Unlock()
}

// fence records that a newer holder took the volume.
func (d *Device) fence(err error) error {
	if !d.fenced.Swap(true) {
		d.log.Warn("volume fenced by a newer holder; failing every later write", "err", err)
	}
	return fmt.Errorf("%w: %w", ErrFenced, err)
}

// callCtx bounds one storage call by CallTimeout.
func (d *Device) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d.cfg.CallTimeout)
}

// chunk is the device's knowledge of one chunk. mu guards every field but the fixed ones
// (idx, name, targets); loadMu is held while the tables are read on first access.
type chunk struct {
	idx     int64
	name    string
	targets []objclient.Target

	loadMu sync.Mutex
	// gate is held while the chunk is materialized from the base before a change.
	gate sync.Mutex
	// repairMu[r] is held while replica r is repaired, so two repairs of it never overlap.
	repairMu []sync.Mutex
	mu       sync.Mutex
	loaded   bool
	exists   bool   // some replica holds the chunk
	n        uint64 // low half of the last sequence given out
	version  uint64 // the highest sequence the replicas held when first loaded
	reps     []replica
	// alloc caches which blocks hold data, a bit per block, for block status (nil: not
	// known). Every change clears it; one read while a change was in flight, or across
	// the start or end of one, is not kept (changeEvents counts both).
	alloc        []uint64
	changing     int
	changeEvents uint64
}

// replica is what the device knows of one replica of a chunk.
type replica struct {
	// behind: the replica may lack an acknowledged change; it is not read until repaired.
	behind bool
	// since: when behind, the replica holds every block whose truth has sequence <= since.
	since uint64
	// misses counts the times it was marked behind, so a repair that raced a new miss
	// does not mark it current.
	misses uint64
	// torn lists block offsets a read found torn: repair copies them even at an equal
	// sequence.
	torn []int64
	// epoch is the node run that acknowledged the replica's last change.
	epoch string
	// unflushed is the lowest sequence acknowledged since the replica's last flush (0:
	// none), and acks counts acknowledged changes, so a flush can tell whether it covered
	// all of them.
	unflushed uint64
	acks      uint64
	queued    bool // a repair is pending
	// copied counts blocks repairs copied to it since it was last marked behind.
	copied int
}

// seq returns the next sequence of c. c.mu must be held.
func (d *Device) nextSeq(c *chunk) (uint64, error) {
	if c.n+1 >= 1<<32 {
		return 0, fmt.Errorf("chunk %s: sequences of generation %d exhausted", c.name, d.cfg.Generation)
	}
	c.n++
	return d.cfg.Generation<<32 | c.n, nil
}

// markBehind marks replica r of c behind from since and schedules its repair. c.mu must be
// held.
func (d *Device) markBehind(c *chunk, r int, since uint64, why string, err error) {
	rp := &c.reps[r]
	if !rp.behind {
		rp.behind = true
		rp.since = since
		d.m.behind.Inc()
		d.log.Warn("chunk replica behind", "chunk", c.name, "node", c.targets[r].Host, "device", c.targets[r].Device, "why", why, "err", err)
	} else if since < rp.since {
		rp.since = since
	}
	rp.misses++
	if !rp.queued {
		rp.queued = true
		d.rep.schedule(c, r)
	}
	d.updateDegraded()
}

// updateDegraded recomputes the degraded gauge lazily: the repairer and markBehind call it,
// and it only counts.
func (d *Device) updateDegraded() {
	d.rep.degradedDirty.Store(true)
	d.rep.kick()
}

// noteAck records that replica r of c acknowledged a change at seq under epoch. c.mu must
// be held.
func (d *Device) noteAck(c *chunk, r int, seq uint64, epoch string, durable bool) {
	rp := &c.reps[r]
	if rp.epoch != "" && epoch != "" && epoch != rp.epoch && rp.unflushed != 0 {
		// The node restarted while holding unflushed writes: they may be gone.
		d.markBehind(c, r, rp.unflushed-1, "node restarted with unflushed writes", nil)
	}
	if epoch != "" {
		rp.epoch = epoch
	}
	rp.acks++
	if !durable && (rp.unflushed == 0 || seq < rp.unflushed) {
		rp.unflushed = seq
	}
}

// load reads the replicas' tables on first access to c and decides which are current.
func (d *Device) load(ctx context.Context, c *chunk) error {
	c.mu.Lock()
	loaded := c.loaded
	c.mu.Unlock()
	if loaded {
		return nil
	}
	return d.compare(ctx, c, false)
}

// compare reads the block tables of c's replicas (a quorum must answer), takes the highest
// sequence of each block as the truth, and marks behind every replica that lacks a block
// of it. On first access (again false) it sets up c; again, when no replica is known
// current any more (each missed some change), it also marks current the replicas that
// hold the whole truth and missed nothing while their tables were read.
func (d *Device) compare(ctx context.Context, c *chunk, again bool) error {
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	c.mu.Lock()
	if c.loaded && !again {
		c.mu.Unlock()
		return nil
	}
	misses := make([]uint64, len(c.reps))
	for r := range c.reps {
		misses[r] = c.reps[r].misses
	}
	c.mu.Unlock()
	type answer struct {
		meta objclient.ChunkMeta
		err  error
	}
	answers := make([]answer, len(c.targets))
	var wg sync.WaitGroup
	for i, t := range c.targets {
		wg.Go(func() {
			cctx, cancel := d.callCtx(ctx)
			defer cancel()
			answers[i].meta, answers[i].err = d.cl.ChunkMeta(cctx, t, c.name, 0)
		})
	}
	wg.Wait()
	got := 0
	truth := map[int64]uint64{}
	var version uint64
	for i, a := range answers {
		switch {
		case a.err == nil && a.meta.ChunkSizeBytes != d.cfg.ChunkSizeBytes:
			return fmt.Errorf("chunk %s on %s has %d bytes, the volume's chunks %d", c.name, c.targets[i].Host, a.meta.ChunkSizeBytes, d.cfg.ChunkSizeBytes)
		case a.err == nil:
			got++
			version = max(version, a.meta.Version)
			for _, b := range a.meta.Blocks {
				if !b.Damaged && b.Sequence > truth[b.OffsetBytes] {
					truth[b.OffsetBytes] = b.Sequence
				}
			}
		case errors.Is(a.err, objclient.ErrNotFound):
			got++
		}
	}
	if got < d.quorum {
		var errs []error
		for _, a := range answers {
			errs = append(errs, a.err)
		}
		return fmt.Errorf("read tables of chunk %s: %w (%d of %d answered): %w", c.name, ErrQuorum, got, len(c.targets), errors.Join(errs...))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.loaded {
		c.loaded = true
		c.exists = len(truth) > 0 || version > 0
		c.version = version
		if version>>32 == d.cfg.Generation {
			c.n = version & (1<<32 - 1)
		}
	}
	for r, a := range answers {
		if a.err != nil && !errors.Is(a.err, objclient.ErrNotFound) {
			d.markBehind(c, r, 0, "table unreadable", a.err)
			continue
		}
		held := map[int64]uint64{}
		for _, b := range a.meta.Blocks {
			if !b.Damaged {
				held[b.OffsetBytes] = b.Sequence
			}
		}
		var lack uint64
		for off, seq := range truth {
			if held[off] < seq && (lack == 0 || seq < lack) {
				lack = seq
			}
		}
		rp := &c.reps[r]
		switch {
		case lack != 0 && rp.behind && lack-1 >= rp.since:
			// Already behind from no later than that: not a new miss.
		case lack != 0:
			d.markBehind(c, r, lack-1, "table lacks blocks", nil)
		case !again:
			rp.epoch = a.meta.Epoch
		case rp.behind && rp.misses == misses[r] && len(rp.torn) == 0 && (a.meta.Epoch == rp.epoch || rp.unflushed == 0):
			rp.behind, rp.since = false, 0
			rp.epoch = a.meta.Epoch
			d.updateDegraded()
		}
	}
	return nil
}

// current reports whether some replica of c is known current. c.mu must be held.
func (c *chunk) current() bool {
	for _, rp := range c.reps {
		if !rp.behind {
			return true
		}
	}
	return false
}

// change sends one change of c to every replica and waits for a quorum, then for the rest
// up to the post-quorum grace; replicas that failed or are still out are cancelled and
// marked behind. send gets the sequence the change carries.
func (d *Device) change(ctx context.Context, c *chunk, durable, creates bool, send func(ctx context.Context, t objclient.Target, seq uint64) (objclient.ChunkResult, error)) (objclient.ChunkResult, error) {
	c.mu.Lock()
	seq, err := d.nextSeq(c)
	if err == nil {
		c.alloc = nil
		c.changing++
		c.changeEvents++
	}
	c.mu.Unlock()
	if err != nil {
		return objclient.ChunkResult{}, err
	}
	type result struct {
		r   int
		res objclient.ChunkResult
		err error
	}
	cctx, cancel := d.callCtx(ctx)
	defer cancel()
	results := make(chan result, len(c.targets))
	start := time.Now()
	for r, t := range c.targets {
		d.goWork(func() {
			res, err := send(cctx, t, seq)
			results <- result{r, res, err}
		})
	}
	// Every goroutine sends exactly once to the buffered channel, and the loop below
	// receives every send before returning, so none outlives the call.
	outcome := make([]result, len(c.targets))
	answered, ok := 0, 0
	var grace <-chan time.Time
	for answered < len(c.targets) {
		select {
		case res := <-results:
			outcome[res.r] = res
			answered++
			if res.err == nil {
				ok++
				if ok == d.quorum && answered < len(c.targets) {
					g := max(d.cfg.PostQuorumGrace, 2*time.Since(start))
					timer := time.NewTimer(g)
					defer timer.Stop()
					grace = timer.C
				}
			}
		case <-grace:
			cancel()
			grace = nil
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.alloc = nil
	c.changing--
	c.changeEvents++
	var fenced error
	var best objclient.ChunkResult
	var errs []error
	for r, o := range outcome {
		switch {
		case o.err == nil:
			d.noteAck(c, r, seq, o.res.Epoch, durable)
			if o.res.Version > best.Version {
				best = o.res
			}
		case errors.Is(o.err, objclient.ErrFenced):
			fenced = o.err
		default:
			errs = append(errs, o.err)
			d.markBehind(c, r, seq-1, "change failed", o.err)
		}
	}
	if creates && ok > 0 {
		c.exists = true
	}
	if fenced != nil {
		return best, d.fence(fenced)
	}
	if ok < d.quorum {
		return best, fmt.Errorf("change chunk %s: %w (%d of %d took it): %w", c.name, ErrQuorum, ok, len(c.targets), errors.Join(errs...))
	}
	return best, nil
}
