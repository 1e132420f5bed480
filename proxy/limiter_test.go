package proxy

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(3, time.Minute)
	l.now = func() time.Time { return now }
	for i := range 2 {
		l.failed("a")
		if l.limited("a") {
			t.Fatalf("limited after %d failures, limit 3", i+1)
		}
	}
	l.ok("a") // an answer resets the count
	l.failed("a")
	l.failed("a")
	if l.limited("a") {
		t.Fatal("limited although an answer came between failures")
	}
	l.failed("a")
	if !l.limited("a") || l.limited("b") {
		t.Fatal("three failures in a row should limit a, and only a")
	}
	now = now.Add(time.Minute + time.Second)
	if l.limited("a") {
		t.Fatal("still limited after the suppression time")
	}
}
