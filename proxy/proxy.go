package proxy

import (
	"iter"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"stratus/internal/hlc"
	"stratus/objectd/client"
	"stratus/ring"
)

// Proxy routes object reads and writes to storage nodes. It is safe for concurrent use.
type Proxy struct {
	cfg   Config
	nodes *client.Client
	clock *hlc.Clock
	log   *slog.Logger
	lim   *limiter
	m     *metrics
	ring  atomic.Pointer[ring.Ring]
	rings ring.Set // storage policies' own rings, by name
	bufs  sync.Pool
	// handoffSlots and bg track the handoff copies running in the background (handoff.go).
	handoffSlots chan struct{}
	bg           sync.WaitGroup
}

// New returns a proxy that reaches storage nodes through nodes and stamps writes with
// clock. It serves nothing until SetRing gives it a ring. Its metrics go to
// cfg.Registerer.
func New(cfg Config, nodes *client.Client, clock *hlc.Clock, logger *slog.Logger) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	p := &Proxy{cfg: cfg, nodes: nodes, clock: clock, log: logger, m: m,
		lim: newLimiter(cfg.ErrorLimit, cfg.ErrorSuppression), handoffSlots: make(chan struct{}, handoffCopies)}
	p.bufs.New = func() any { b := make([]byte, cfg.ChunkBytes); return &b }
	return p, nil
}

// SetRing adopts r if it is newer than the ring in use, and reports whether it did.
func (p *Proxy) SetRing(r *ring.Ring) bool {
	for {
		cur := p.ring.Load()
		if cur != nil && cur.Version() >= r.Version() {
			return false
		}
		if p.ring.CompareAndSwap(cur, r) {
			p.log.Info("ring adopted", "version", r.Version())
			return true
		}
	}
}

// Ring returns the ring in use, or nil.
func (p *Proxy) Ring() *ring.Ring { return p.ring.Load() }

// Stamp returns a new write timestamp, for a caller that must name a version before
// writing it (PutRequest.Timestamp).
func (p *Proxy) Stamp() hlc.Timestamp { return p.clock.Next() }

// postQuorumGrace is how long the replicas that have not answered get once a quorum has,
// after the quorum took toQuorum: PostQuorumTimeout, or twice what the quorum took when
// every replica is slow (a busy disk), so that a loaded node is not cut off from writes it
// would have finished while a hung one still costs little.
func (p *Proxy) postQuorumGrace(toQuorum time.Duration) time.Duration {
	return max(p.cfg.PostQuorumTimeout, 2*toQuorum)
}

// ringChunks is how many chunk buffers one write streams through: the first, and enough
// for MaxLagBytes more, by which a replica may trail the others before the write waits.
func (p *Proxy) ringChunks() int {
	return 1 + (p.cfg.MaxLagBytes+p.cfg.ChunkBytes-1)/p.cfg.ChunkBytes
}

// Quorum is the number of replicas a write must reach: a majority.
func Quorum(replicas int) int { return replicas/2 + 1 }

// placement is where one name lives in one ring.
type placement struct {
	ring      *ring.Ring
	partition ring.Partition
}

func (p *Proxy) place(name string) (placement, error) {
	r := p.ring.Load()
	if r == nil {
		return placement{}, ErrNoRing
	}
	return placement{ring: r, partition: r.Partition(name)}, nil
}

func (pl placement) target(d *ring.Device) client.Target {
	return client.Target{Host: d.Host, Device: d.Name, Partition: uint32(pl.partition)}
}

// candidate is a device to try, and whether it is a handoff rather than a primary.
type candidate struct {
	client.Target
	handoff bool
}

// candidates yields the devices to try for pl, in order: the primaries that are not
// error-limited, then the handoffs that are not, then the limited primaries, so a node
// that is only suspected still serves when nothing else can.
func (p *Proxy) candidates(pl placement) iter.Seq[candidate] {
	return func(yield func(candidate) bool) {
		var limited []client.Target
		for _, d := range pl.ring.Primaries(pl.partition, make([]*ring.Device, 0, pl.ring.Replicas())) {
			t := pl.target(d)
			if p.lim.limited(t.Host) {
				p.m.nodesSkipped.Inc()
				limited = append(limited, t)
				continue
			}
			if !yield(candidate{Target: t}) {
				return
			}
		}
		for d := range pl.ring.Handoffs(pl.partition) {
			t := pl.target(d)
			if p.lim.limited(t.Host) {
				p.m.nodesSkipped.Inc()
				continue
			}
			if !yield(candidate{Target: t, handoff: true}) {
				return
			}
		}
		for _, t := range limited {
			if !yield(candidate{Target: t}) {
				return
			}
		}
	}
}

// try returns the next candidate from next, counting it if it is a handoff.
func (p *Proxy) try(op string, next func() (candidate, bool)) (client.Target, bool) {
	c, ok := next()
	if ok && c.handoff {
		p.m.handoffs.WithLabelValues(op).Inc()
	}
	return c.Target, ok
}
