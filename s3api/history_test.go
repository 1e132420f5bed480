package s3api_test

import (
	"fmt"
	"testing"
	"time"
)

// A history of operations on keys, as clients saw them, and a checker of the rules every
// linearizable history of a register obeys. The checker tests necessary conditions, not a
// full linearization search: what it reports is a real violation, and it is quadratic per
// key, so a few seconds of load check in milliseconds. Written values must be unique.

type opKind byte

const (
	opPut opKind = 'P'
	opGet opKind = 'G'
	opDel opKind = 'D'
)

// histOp is one completed operation: for a put the value written, for a get the value read
// ("" for a missing key).
type histOp struct {
	kind       opKind
	key        string
	value      string
	start, end time.Duration
}

func (o histOp) String() string {
	return fmt.Sprintf("%c %s %q [%v, %v]", o.kind, o.key, o.value, o.start, o.end)
}

// checkHistory returns the violations found, at most max of them.
func checkHistory(ops []histOp, max int) []string {
	byKey := map[string][]histOp{}
	for _, o := range ops {
		byKey[o.key] = append(byKey[o.key], o)
	}
	var bad []string
	report := func(format string, args ...any) bool {
		bad = append(bad, fmt.Sprintf(format, args...))
		return len(bad) >= max
	}
	for _, ops := range byKey {
		writes := map[string]histOp{}
		var mutations, reads []histOp
		for _, o := range ops {
			switch o.kind {
			case opPut:
				writes[o.value] = o
				mutations = append(mutations, o)
			case opDel:
				mutations = append(mutations, o)
			case opGet:
				reads = append(reads, o)
			}
		}
		for _, r := range reads {
			if r.value == "" {
				// A miss needs every write that finished before it to be followed by a
				// delete that could come between.
				for _, w := range mutations {
					if w.kind != opPut || w.end >= r.start {
						continue
					}
					ok := false
					for _, d := range mutations {
						if d.kind == opDel && d.end > w.start && d.start < r.end {
							ok = true
							break
						}
					}
					if !ok && report("%v misses the key, but %v finished before it and no delete could follow", r, w) {
						return bad
					}
				}
				continue
			}
			w, ok := writes[r.value]
			if !ok {
				if report("%v read a value nobody wrote", r) {
					return bad
				}
				continue
			}
			if w.start > r.end && report("%v read %v, which started after it ended", r, w) {
				return bad
			}
			// Stale: a mutation that certainly came after w, and certainly before r.
			for _, x := range mutations {
				if x.start > w.end && x.end < r.start && x.value != w.value {
					if report("%v read %v, but %v came after it and before the read", r, w, x) {
						return bad
					}
					break
				}
			}
		}
		// Reads never go back: if r1 saw w2 and w1 had finished before r1 began, a later
		// r2 cannot see w1.
		for _, r1 := range reads {
			if r1.value == "" {
				continue
			}
			for _, r2 := range reads {
				if r2.start <= r1.end || r2.value == "" || r2.value == r1.value {
					continue
				}
				if w1 := writes[r2.value]; w1.end < r1.start && w1.value != "" {
					if report("%v then %v: went back to a value overwritten before the first read", r1, r2) {
						return bad
					}
				}
			}
		}
	}
	return bad
}

// TestCheckHistory: the checker passes linearizable histories and catches each kind of
// violation it looks for.
func TestCheckHistory(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	put := func(v string, a, b int) histOp { return histOp{opPut, "k", v, ms(a), ms(b)} }
	get := func(v string, a, b int) histOp { return histOp{opGet, "k", v, ms(a), ms(b)} }
	del := func(a, b int) histOp { return histOp{opDel, "k", "", ms(a), ms(b)} }
	for _, tc := range []struct {
		name string
		ops  []histOp
		bad  bool
	}{
		{"sequential", []histOp{put("a", 0, 1), get("a", 2, 3), put("b", 4, 5), get("b", 6, 7), del(8, 9), get("", 10, 11)}, false},
		{"concurrent writes, either order", []histOp{put("a", 0, 10), put("b", 1, 5), get("b", 6, 7), get("b", 11, 12)}, false},
		{"read during the write", []histOp{put("a", 0, 10), get("a", 1, 2)}, false},
		{"stale read", []histOp{put("a", 0, 1), put("b", 2, 3), get("a", 4, 5)}, true},
		{"read of a value nobody wrote", []histOp{get("z", 0, 1)}, true},
		{"read from the future", []histOp{get("a", 0, 1), put("a", 2, 3)}, true},
		{"lost write", []histOp{put("a", 0, 1), get("", 2, 3)}, true},
		{"delete then miss", []histOp{put("a", 0, 1), del(2, 3), get("", 4, 5)}, false},
		{"reads go back", []histOp{put("a", 0, 1), put("b", 2, 10), get("b", 3, 4), get("a", 5, 6)}, true},
	} {
		if got := checkHistory(tc.ops, 5); (len(got) > 0) != tc.bad {
			t.Errorf("%s: violations %q, want bad=%v", tc.name, got, tc.bad)
		}
	}
}
