package objectd

import (
	"sync"
	"time"

	"stratus/internal/hlc"
	"stratus/objectd/client"
)

// promiseTTL is how long a version a node asked one pusher for is held back from the
// others. It outlasts a push of one partition's batch; a pusher that dies lets its promises
// lapse, and the version is then asked of whoever offers it next.
const promiseTTL = 30 * time.Second

// promises remembers the versions this node answered "missing" for and has not received
// yet. When a partition moves to a new device, its old holder and every other primary all
// find the newcomer empty in their next pass; without promises each would push the whole
// partition. With them, the first to ask gets the versions and the others are told they are
// pending: a primary then skips them, and a handoff keeps its copy until a later pass finds
// them delivered, so nothing is removed on the strength of a push still in flight.
type promises struct {
	now func() time.Time

	mu        sync.Mutex
	m         map[promiseKey]promise
	lastSweep time.Time
}

// promiseKey names an object on a device.
type promiseKey struct {
	dev  string
	part uint32
	hash string
}

// promise is the newest version of an object asked for, and when the asking lapses.
type promise struct {
	ts  hlc.Timestamp
	due time.Time
}

func newPromises(now func() time.Time) *promises {
	return &promises{now: now, m: map[promiseKey]promise{}}
}

// claim splits the wanted hashes (a subset of offers) into those now promised to this
// caller and those already promised to another.
func (p *promises) claim(dev string, part uint32, offers []client.Offer, want []string) (mine, pending []string) {
	if len(want) == 0 {
		return want, nil
	}
	ts := make(map[string]hlc.Timestamp, len(offers))
	for _, o := range offers {
		ts[o.Hash] = o.Timestamp
	}
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sweep(now)
	for _, h := range want {
		k := promiseKey{dev, part, h}
		if pr, ok := p.m[k]; ok && pr.ts >= ts[h] && now.Before(pr.due) {
			pending = append(pending, h)
			continue
		}
		p.m[k] = promise{ts: ts[h], due: now.Add(promiseTTL)}
		mine = append(mine, h)
	}
	return mine, pending
}

// kept drops the promises that a stored version fulfils: itself and anything older.
func (p *promises) kept(dev string, part uint32, hash string, ts hlc.Timestamp) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := promiseKey{dev, part, hash}
	if pr, ok := p.m[k]; ok && pr.ts <= ts {
		delete(p.m, k)
	}
}

// broken drops the promise of a version that was pushed but refused (dated too far ahead),
// so that other pushers' older versions are not held back for it.
func (p *promises) broken(dev string, part uint32, hash string, ts hlc.Timestamp) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := promiseKey{dev, part, hash}
	if pr, ok := p.m[k]; ok && pr.ts == ts {
		delete(p.m, k)
	}
}

// sweep forgets lapsed promises, at most once per TTL so that claims stay cheap.
func (p *promises) sweep(now time.Time) {
	if now.Sub(p.lastSweep) < promiseTTL {
		return
	}
	p.lastSweep = now
	for k, pr := range p.m {
		if !now.Before(pr.due) {
			delete(p.m, k)
		}
	}
}
