package objectd

import (
	"sync"
	"time"
)

// logLimiter limits repeated log lines to one per key per interval: a misconfigured peer
// retrying in a loop, a scanner, a peer that is down for an hour or a device that is not
// mounted must not flood the log. Keys name what a line is about (a caller's address, a
// peer, a device). It is safe for concurrent use.
type logLimiter struct {
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex
	seen map[string]*limitedLine
}

type limitedLine struct {
	logged     time.Time // when the last line for this key was written
	suppressed int       // events since then that were not logged
}

// maxLimitedKeys bounds the keys remembered; past it the memory starts over, which at worst
// logs a line per key again.
const maxLimitedKeys = 4096

func newLogLimiter(interval time.Duration, now func() time.Time) *logLimiter {
	if now == nil {
		now = time.Now
	}
	return &logLimiter{interval: interval, now: now, seen: map[string]*limitedLine{}}
}

// allow reports whether to log a line about n events of key, and how many events of key
// went unlogged since its last line. Events that are not logged are counted for the next
// line.
func (l *logLimiter) allow(key string, n int) (suppressed int, ok bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.seen[key]
	if e == nil {
		if len(l.seen) >= maxLimitedKeys {
			clear(l.seen)
		}
		l.seen[key] = &limitedLine{logged: now}
		return 0, true
	}
	if now.Sub(e.logged) < l.interval {
		e.suppressed += n
		return 0, false
	}
	suppressed = e.suppressed
	*e = limitedLine{logged: now}
	return suppressed, true
}
