package objectd

import (
	"slices"
	"testing"
	"time"

	"stratus/objectd/client"
)

func TestPromises(t *testing.T) {
	now := time.Unix(1000, 0)
	p := newPromises(func() time.Time { return now })
	offers := []client.Offer{{Hash: "a", Timestamp: 10}, {Hash: "b", Timestamp: 10}}
	want := []string{"a", "b"}

	mine, pending := p.claim("d0", 1, offers, want)
	if !slices.Equal(mine, want) || len(pending) != 0 {
		t.Fatalf("first claim: mine %v pending %v", mine, pending)
	}
	// A second pusher offering the same versions is told they are on their way.
	mine, pending = p.claim("d0", 1, offers, want)
	if len(mine) != 0 || !slices.Equal(pending, want) {
		t.Fatalf("second claim: mine %v pending %v", mine, pending)
	}
	// The same object elsewhere, or a newer version of it, is not promised.
	if mine, _ := p.claim("d1", 1, offers, want); len(mine) != 2 {
		t.Fatalf("other device: mine %v", mine)
	}
	if mine, _ := p.claim("d0", 1, []client.Offer{{Hash: "a", Timestamp: 11}}, []string{"a"}); !slices.Equal(mine, []string{"a"}) {
		t.Fatalf("newer version: mine %v", mine)
	}
	// Delivery fulfils a promise; a pusher that never delivers lets it lapse.
	p.kept("d0", 1, "a", 11)
	if mine, _ := p.claim("d0", 1, offers, []string{"a"}); !slices.Equal(mine, []string{"a"}) {
		t.Fatalf("after delivery: mine %v", mine)
	}
	if _, pending := p.claim("d0", 1, offers, []string{"b"}); !slices.Equal(pending, []string{"b"}) {
		t.Fatalf("before the promise lapsed: pending %v", pending)
	}
	now = now.Add(promiseTTL + time.Second)
	if mine, _ := p.claim("d0", 1, offers, []string{"b"}); !slices.Equal(mine, []string{"b"}) {
		t.Fatalf("after the promise lapsed: mine %v", mine)
	}
	// A version refused when pushed (dated too far ahead) frees its promise at once.
	p.broken("d0", 1, "b", 9) // not the version promised
	if _, pending := p.claim("d0", 1, offers, []string{"b"}); !slices.Equal(pending, []string{"b"}) {
		t.Fatalf("after another version was refused: pending %v", pending)
	}
	p.broken("d0", 1, "b", 10)
	if mine, _ := p.claim("d0", 1, []client.Offer{{Hash: "b", Timestamp: 5}}, []string{"b"}); !slices.Equal(mine, []string{"b"}) {
		t.Fatalf("after the promised version was refused: mine %v", mine)
	}
	if n := len(p.m); n > 3 {
		t.Fatalf("%d promises kept; lapsed ones should be swept", n)
	}
}
