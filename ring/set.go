package ring

import (
	"maps"
	"sync/atomic"
)

// Set holds rings by name (storage policies' rings, as published in meta) for readers on
// any goroutine. A name's ring is only ever replaced by a newer version, so a ring that
// arrives late, from a watch that lagged or a second source, never rolls one back.
type Set struct {
	m atomic.Pointer[map[string]*Ring] // copied on write, never changed once stored
}

// Adopt makes r the ring named name if it is newer than the one held under that name,
// and reports whether it did.
func (s *Set) Adopt(name string, r *Ring) bool {
	for {
		cur := s.m.Load()
		if cur != nil {
			if old := (*cur)[name]; old != nil && old.Version() >= r.Version() {
				return false
			}
		}
		next := map[string]*Ring{}
		if cur != nil {
			next = maps.Clone(*cur)
		}
		next[name] = r
		if s.m.CompareAndSwap(cur, &next) {
			return true
		}
	}
}

// Get returns the ring named name, or nil.
func (s *Set) Get(name string) *Ring {
	if m := s.m.Load(); m != nil {
		return (*m)[name]
	}
	return nil
}

// All returns the rings held, by name. The map is shared: callers must not change it.
func (s *Set) All() map[string]*Ring {
	if m := s.m.Load(); m != nil {
		return *m
	}
	return nil
}
