package ring

import (
	"sync"
	"testing"
)

// TestSetAdoptsOnlyNewer: a name's ring is replaced by a newer version only, whatever order
// rings arrive in and however many goroutines adopt at once; other names are untouched.
func TestSetAdoptsOnlyNewer(t *testing.T) {
	var s Set
	if s.Get("ec") != nil || len(s.All()) != 0 {
		t.Fatal("an empty set holds rings")
	}
	rings := make([]*Ring, 20)
	for v := range rings {
		rings[v] = newRing(uint64(v+1), 0, HashKey{}, nil, nil)
	}
	if !s.Adopt("other", rings[4]) {
		t.Fatal("first ring of a name not adopted")
	}
	var wg sync.WaitGroup
	for _, i := range []int{7, 3, 19, 0, 12, 19, 5} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Adopt("ec", rings[i])
		}()
	}
	wg.Wait()
	if got := s.Get("ec").Version(); got != 20 {
		t.Fatalf("ring version %d held; want the newest, 20", got)
	}
	if s.Adopt("ec", rings[10]) || s.Adopt("ec", rings[19]) {
		t.Fatal("an older or equal version replaced the ring held")
	}
	if all := s.All(); len(all) != 2 || all["other"].Version() != 5 {
		t.Fatalf("rings held: %v", all)
	}
}
