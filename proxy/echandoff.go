package proxy

import (
	"iter"
	"slices"
	"sync"

	"stratus/objectd/client"
	"stratus/ring"
)

// ecHandoffSearch bounds how many devices a read or a deletion tries for one fragment kept
// off its primary: the handoff devices a write would have picked first.
const ecHandoffSearch = 8

// ecPlacement is where the fragments of one name go in an erasure-coded policy's ring.
type ecPlacement struct {
	ring      *ring.Ring
	ringName  string
	partition ring.Partition
	primaries []client.Target // fragment i on primaries[i]
}

func (p *Proxy) placeECAll(c ECCode, name string) (ecPlacement, error) {
	targets, err := p.placeEC(c, name)
	if err != nil {
		return ecPlacement{}, err
	}
	r, _ := p.policyRing(c.Ring)
	return ecPlacement{ring: r, ringName: c.Ring, partition: r.Partition(name), primaries: targets}, nil
}

// searchOrder is where a read or a deletion looks for a fragment kept off its primary:
// where a write puts it (handoffPicker), the first ecHandoffSearch handoff devices and
// then the primaries. A primary comes last because a device that is another fragment's
// primary then holds two fragments of the object (under ECHandoffName, so they do not
// collide), which a write does only when the ring has no other device left: with 4+2 on
// six devices, a host down leaves no handoff, and its two fragments go to two others.
func (pl ecPlacement) searchOrder() []client.Target {
	var ts []client.Target
	n := 0
	for t := range pl.ring.Handoffs(pl.partition) {
		if n++; n > ecHandoffSearch {
			break
		}
		ts = append(ts, client.Target{Host: t.Host, Device: t.Name, Partition: uint32(pl.partition), Ring: pl.ringName})
	}
	return append(ts, pl.primaries...)
}

// handoffPicker hands out the devices of one write's fragments whose primaries failed:
// each device at most once, none on a host that failed this write or that the proxy's
// error limiter skips: the ring's handoff devices in order, then the primaries, the one
// on the host that took the fewest handed-off fragments first, so that the fragments of
// a write stay spread over hosts as far as the live ones allow.
type handoffPicker struct {
	p           *Proxy
	mu          sync.Mutex
	handoffs    func() (client.Target, bool)
	stop        func()
	primaries   []client.Target // not handed out yet
	perHost     map[string]int  // fragments handed to each host
	failedHosts []string
}

func (p *Proxy) newHandoffPicker(pl ecPlacement) *handoffPicker {
	next, stop := iter.Pull(func(yield func(client.Target) bool) {
		for d := range pl.ring.Handoffs(pl.partition) {
			if !yield(client.Target{Host: d.Host, Device: d.Name, Partition: uint32(pl.partition), Ring: pl.ringName}) {
				return
			}
		}
	})
	return &handoffPicker{p: p, handoffs: next, stop: stop, primaries: slices.Clone(pl.primaries), perHost: map[string]int{}}
}

// pick returns a device for a fragment whose attempt on failedHost failed ("" for none).
func (h *handoffPicker) pick(failedHost string) (client.Target, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if failedHost != "" && !slices.Contains(h.failedHosts, failedHost) {
		h.failedHosts = append(h.failedHosts, failedHost)
	}
	usable := func(t client.Target) bool {
		return !slices.Contains(h.failedHosts, t.Host) && !h.p.lim.limited(t.Host)
	}
	for {
		t, ok := h.handoffs()
		if !ok {
			break
		}
		if usable(t) {
			return h.give(t), true
		}
	}
	best := -1
	for i, t := range h.primaries {
		if usable(t) && (best < 0 || h.perHost[t.Host] < h.perHost[h.primaries[best].Host]) {
			best = i
		}
	}
	if best < 0 {
		return client.Target{}, false
	}
	t := h.primaries[best]
	h.primaries = slices.Delete(h.primaries, best, best+1)
	return h.give(t), true
}

func (h *handoffPicker) give(t client.Target) client.Target {
	h.perHost[t.Host]++
	h.p.m.handoffs.WithLabelValues(opPut).Inc()
	return t
}

func (h *handoffPicker) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stop()
}
