package objectd

import (
	"cmp"
	"log/slog"
	"maps"
	"slices"
	"sync"
)

// replWarning is one kind of trouble a replication pass had with one subject: a peer (by
// host) or a local device. A pass touches every partition, so trouble with a peer that is
// down, a clock that is off or a failing disk shows in hundreds of partitions at once; the
// pass logs it as one line per kind and subject (passWarnings), and repeats of that line are
// rate-limited across passes (Server.replWarnings).
type replWarning struct {
	msg     string // the line's message
	attr    string // "peer" or "device"
	subject string // the peer's host, or the device's name
	unit    string // what the line counts besides partitions ("versions"), or ""
}

// The kinds of trouble a pass gathers.
const (
	warnPeerFailed   = "replication with peer failed; retried next pass"
	warnPeerRefused  = "peer refused versions as dated in its future; is its clock behind?"
	warnLocalFailed  = "partition not replicated: local error; retried next pass"
	warnFuture       = "versions dated in the future not replicated"
	warnOutsideRing  = "partitions outside the ring not replicated"
	warnUnitVersions = "versions"
)

// replTally is what a pass saw of one replWarning.
type replTally struct {
	partitions int    // partitions (exchanges with a peer device) that had it
	count      int    // units of replWarning.unit
	example    string // where it first happened: a peer target, or device/partition
	err        error  // the first error
}

// passWarnings gathers one pass's warnings. It is safe for concurrent use by the pass's
// workers.
type passWarnings struct {
	mu sync.Mutex
	m  map[replWarning]*replTally
}

// add records that one partition had trouble k: n units of k.unit (ignored without one),
// the first at example, with err.
func (w *passWarnings) add(k replWarning, n int, example string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[replWarning]*replTally{}
	}
	t := w.m[k]
	if t == nil {
		t = &replTally{example: example, err: err}
		w.m[k] = t
	}
	t.partitions++
	t.count += n
}

// peerFailed records a failed exchange with a peer device about one partition.
func (w *passWarnings) peerFailed(target string, host string, err error) {
	w.add(replWarning{msg: warnPeerFailed, attr: "peer", subject: host}, 0, target, err)
}

// localFailed records a partition of a local device that could not be replicated.
func (w *passWarnings) localFailed(dev, example string, err error) {
	w.add(replWarning{msg: warnLocalFailed, attr: "device", subject: dev}, 0, example, err)
}

// flush logs one line per kind and subject the pass gathered, unless lim held back a line
// about it less than its interval ago; the line says how many (partitions, or units) went
// unlogged since the last one. Lines come out in a stable order.
func (w *passWarnings) flush(log *slog.Logger, lim *logLimiter) {
	w.mu.Lock()
	defer w.mu.Unlock()
	keys := slices.SortedFunc(maps.Keys(w.m), func(a, b replWarning) int {
		return cmp.Or(cmp.Compare(a.msg, b.msg), cmp.Compare(a.attr, b.attr), cmp.Compare(a.subject, b.subject))
	})
	for _, k := range keys {
		t := w.m[k]
		n := t.partitions
		if k.unit != "" {
			n = t.count
		}
		unlogged, ok := lim.allow("replication\x00"+k.msg+"\x00"+k.attr+"\x00"+k.subject, n)
		if !ok {
			continue
		}
		attrs := []any{k.attr, k.subject, "partitions", t.partitions}
		if k.unit != "" {
			attrs = append(attrs, k.unit, t.count)
		}
		attrs = append(attrs, "example", t.example, "unlogged_since_last_line", unlogged)
		if t.err != nil {
			attrs = append(attrs, "err", t.err)
		}
		log.Warn(k.msg, attrs...)
	}
	clear(w.m)
}
