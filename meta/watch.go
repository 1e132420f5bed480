package meta

import (
	"sort"
	"strings"
	"sync"

	"stratus/meta/client"
)

// change is one applied write, remembered for watchers.
type change struct {
	table   string
	key     string
	index   uint64
	deleted bool
}

// feed is the in-memory history of recent changes and the signal that the state machine
// advanced. Watchers and linearizable reads wait on it. Its contents are not replicated: a
// node rebuilds it as it applies the log, and a snapshot restore empties it, which is why a
// watcher can be told to resync.
type feed struct {
	mu      sync.Mutex
	buf     []change // ring buffer of the last len(buf) changes in index order
	start   int      // position of the oldest change
	n       int      // number of changes held
	floor   uint64   // every change with index > floor is held
	applied uint64   // last applied Raft index
	notify  chan struct{}
}

func newFeed(capacity int) *feed {
	return &feed{buf: make([]change, capacity), notify: make(chan struct{})}
}

// add records changes applied up to index applied and wakes every waiter.
func (f *feed) add(chs []change, applied uint64) {
	f.mu.Lock()
	for _, c := range chs {
		if f.n == len(f.buf) {
			f.floor = f.buf[f.start].index
			f.start = (f.start + 1) % len(f.buf)
			f.n--
		}
		f.buf[(f.start+f.n)%len(f.buf)] = c
		f.n++
	}
	if applied > f.applied {
		f.applied = applied
	}
	close(f.notify)
	f.notify = make(chan struct{})
	f.mu.Unlock()
}

// reset forgets the history after a snapshot restore to index. Every watcher that had seen
// the old state must resync, including one exactly at the old applied index (a restored
// backup can be older than the state it replaces).
func (f *feed) reset(index uint64) {
	f.mu.Lock()
	f.start, f.n = 0, 0
	f.floor = max(index, f.applied+1)
	f.applied = index
	close(f.notify)
	f.notify = make(chan struct{})
	f.mu.Unlock()
}

// state returns the applied index and a channel closed at the next change of it.
func (f *feed) state() (uint64, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied, f.notify
}

// since returns the latest change per key of table under prefix with index above after, the
// applied index, whether the history no longer reaches back to after, and a channel closed at
// the next change.
func (f *feed) since(table, prefix string, after uint64) (events []client.Event, applied uint64, resync bool, wake <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if after < f.floor {
		// Watching again from the floor is safe: everything after it is in the history.
		return nil, max(f.applied, f.floor), true, f.notify
	}
	at := func(i int) *change { return &f.buf[(f.start+i)%len(f.buf)] }
	first := sort.Search(f.n, func(i int) bool { return at(i).index > after })
	seen := map[string]int{}
	for i := first; i < f.n; i++ {
		c := at(i)
		if c.table != table || !strings.HasPrefix(c.key, prefix) {
			continue
		}
		ev := client.Event{Key: c.key, Index: c.index, Deleted: c.deleted}
		if j, ok := seen[c.key]; ok {
			events = append(events[:j], events[j+1:]...)
			for k := range events[j:] {
				seen[events[j+k].Key] = j + k
			}
		}
		seen[c.key] = len(events)
		events = append(events, ev)
	}
	return events, f.applied, false, f.notify
}
