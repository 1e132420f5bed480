package proxy

import (
	"errors"
	"time"

	"stratus/internal/hlc"
	"stratus/objectd/client"
)

// observe moves the proxy's clock up to a timestamp a storage node reported (a version it
// holds, or the newer one a write conflicted with), so that a proxy whose clock runs slow
// stamps its next writes after what the nodes hold instead of losing to it. A timestamp
// more than MaxClockSkew ahead of this proxy's wall clock is ignored: it can only come from
// data written before the nodes bounded skew (a forged ffffffffffffffff tombstone, say), and
// following it would date every later write where the nodes refuse it.
func (p *Proxy) observe(ts hlc.Timestamp) {
	now := time.Now
	if p.clock.Now != nil {
		now = p.clock.Now
	}
	if ts.Time().After(now().Add(p.cfg.MaxClockSkew)) {
		p.log.Debug("timestamp from a storage node not followed: too far ahead", "ts", ts)
		return
	}
	p.clock.Observe(ts)
}

// observeErr observes the timestamp a node's error answer carries, if any.
func (p *Proxy) observeErr(err error) {
	var se *client.StatusError
	if errors.As(err, &se) && se.Timestamp != 0 {
		p.observe(se.Timestamp)
	}
}

// refused reports whether err is a node's answer about the request's timestamp (older than
// what it holds, or too far ahead of its clock) rather than a sign that the node is unwell:
// such a node is not error-limited, and a handoff would answer the same.
func refused(err error) bool {
	return errors.Is(err, client.ErrConflict) || errors.Is(err, client.ErrFutureTimestamp)
}
