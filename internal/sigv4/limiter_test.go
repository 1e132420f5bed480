package sigv4

import (
	"fmt"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var (
	addrA = netip.MustParseAddr("192.0.2.1")
	addrB = netip.MustParseAddr("192.0.2.2")
	addrC = netip.MustParseAddr("192.0.2.3")
)

// fakeClock is a time that moves only when told.
type fakeClock struct{ now time.Time }

func newFakeClock() *fakeClock               { return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }
func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

// refusedBy returns the scope that refused key from addr, or "" if it is admitted.
func refusedBy(t *testing.T, l *FailureLimiter, key string, addr netip.Addr, now time.Time) string {
	t.Helper()
	scope, wait := l.Admit(key, addr, now)
	if (wait > 0) != (scope != "") {
		t.Fatalf("Admit = %q, %v", scope, wait)
	}
	return scope
}

func TestFailureLimiterWindow(t *testing.T) {
	clock := newFakeClock()
	l := NewFailureLimiter(20, time.Minute, 100)
	for i := range 20 {
		if s := refusedBy(t, l, "K", addrA, clock.Now()); s != "" {
			t.Fatalf("failure %d refused by %s before the limit", i+1, s)
		}
		l.Failed("K", addrA, clock.Now())
	}
	for _, tc := range []struct {
		name  string
		key   string
		addr  netip.Addr
		scope string
	}{
		{"same key and address", "K", addrA, ScopeAddress},
		{"same key, other address", "K", addrB, ScopeKey},
		{"other key, same address", "K2", addrA, ScopeAddress},
		{"other key and address", "K2", addrB, ""},
		{"same key, unknown address", "K", netip.Addr{}, ScopeKey},
	} {
		if s := refusedBy(t, l, tc.key, tc.addr, clock.Now()); s != tc.scope {
			t.Errorf("%s: refused by %q, want %q", tc.name, s, tc.scope)
		}
	}
	if _, wait := l.Admit("K", addrA, clock.Now()); wait != 3*time.Second {
		t.Errorf("retry after %v, want 3s (a minute over 20 attempts)", wait)
	}

	// One attempt is earned back every 3 s.
	clock.Advance(3*time.Second - time.Millisecond)
	if s := refusedBy(t, l, "K", addrA, clock.Now()); s == "" {
		t.Fatal("admitted before an attempt was earned")
	}
	clock.Advance(time.Millisecond)
	if s := refusedBy(t, l, "K", addrA, clock.Now()); s != "" {
		t.Fatalf("refused by %s after an attempt was earned", s)
	}
	l.Failed("K", addrA, clock.Now())
	if s := refusedBy(t, l, "K", addrA, clock.Now()); s == "" {
		t.Fatal("admitted after spending the earned attempt")
	}

	// After a window, the whole allowance is back.
	clock.Advance(time.Minute)
	for i := range 20 {
		if s := refusedBy(t, l, "K", addrA, clock.Now()); s != "" {
			t.Fatalf("after a window, failure %d refused by %s", i+1, s)
		}
		l.Failed("K", addrA, clock.Now())
	}
}

// TestFailureLimiterProven checks that a stranger's failures with a key do not lock out an
// address that authenticated with it, until that address fails itself.
func TestFailureLimiterProven(t *testing.T) {
	clock := newFakeClock()
	l := NewFailureLimiter(20, time.Minute, 100)
	l.Succeeded("K", addrA, clock.Now())
	for i := range 40 {
		// From many addresses, so that only the key's limit applies.
		l.Failed("K", netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), clock.Now())
	}
	if s := refusedBy(t, l, "K", addrC, clock.Now()); s != ScopeKey {
		t.Fatalf("an address that never authenticated: refused by %q, want key", s)
	}
	if s := refusedBy(t, l, "K", addrA, clock.Now()); s != "" {
		t.Fatalf("the key's owner is refused by %s", s)
	}
	// The exemption is for that key only.
	for range 20 {
		l.Failed("OTHER", addrA, clock.Now())
	}
	if s := refusedBy(t, l, "K", addrA, clock.Now()); s != "" {
		t.Fatalf("the key's owner, failing with another key, is refused by %s with its own", s)
	}
	if s := refusedBy(t, l, "OTHER", addrA, clock.Now()); s != ScopeAddress {
		t.Fatalf("another key from the proven address: refused by %q, want address", s)
	}
	// A failure with the key itself revokes the exemption.
	l.Failed("K", addrA, clock.Now())
	if s := refusedBy(t, l, "K", addrA, clock.Now()); s == "" {
		t.Fatal("still exempt after failing with the key")
	}
	// And the exemption expires.
	l.Succeeded("K", addrB, clock.Now())
	clock.Advance(ProvenFor + time.Second)
	for range 20 {
		l.Failed("K", addrC, clock.Now())
	}
	if s := refusedBy(t, l, "K", addrB, clock.Now()); s == "" {
		t.Fatal("an exemption outlived ProvenFor")
	}
}

// TestFailureLimiterBounded floods the limiter with distinct keys and addresses: no table
// outgrows its bound, and a key under attack keeps its state through the flood.
func TestFailureLimiterBounded(t *testing.T) {
	clock := newFakeClock()
	const limit = 50
	l := NewFailureLimiter(20, time.Minute, limit)
	for range 20 {
		l.Failed("TARGET", addrB, clock.Now())
	}
	long := strings.Repeat("k", 64<<10)
	for i := range 20 * limit {
		key := fmt.Sprintf("RANDOM%08d", i)
		if i%3 == 0 {
			key += long
		}
		addr := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.Failed(key, addr, clock.Now())
		l.Succeeded(key, addr, clock.Now())
		l.mu.RLock()
		nk, na, np := len(l.keys), len(l.addrs), len(l.proven)
		for k := range l.keys {
			if len(k) > MaxCacheIDBytes {
				t.Fatalf("a key of %d bytes is tracked", len(k))
			}
		}
		l.mu.RUnlock()
		if nk > limit || na > limit || np > limit {
			t.Fatalf("after %d keys: %d keys, %d addresses, %d proven pairs tracked; bound %d", i+1, nk, na, np, limit)
		}
	}
	if s := refusedBy(t, l, "TARGET", addrC, clock.Now()); s != ScopeKey {
		t.Errorf("the attacked key was forgotten in the flood (refused by %q)", s)
	}
}

func TestClientAddr(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, tc := range []struct {
		name, remote, xff string
		trusted           []netip.Prefix
		want              string
	}{
		{"ipv4", "192.0.2.7:5000", "", nil, "192.0.2.7"},
		{"no port", "192.0.2.7", "", nil, "192.0.2.7"},
		{"ipv6 by /64", "[2001:db8:1:2:3:4:5:6]:443", "", nil, "2001:db8:1:2::"},
		{"ipv6 zone dropped", "[fe80::1%eth0]:443", "", nil, "fe80::"},
		{"ipv4-mapped", "[::ffff:192.0.2.7]:80", "", nil, "192.0.2.7"},
		{"unparsable", "pipe", "", nil, "invalid IP"},
		{"forwarded-for ignored by default", "10.1.1.1:80", "203.0.113.9", nil, "10.1.1.1"},
		{"forwarded-for from an untrusted peer", "192.0.2.7:80", "203.0.113.9", proxies, "192.0.2.7"},
		{"trusted proxy", "10.1.1.1:80", "203.0.113.9", proxies, "203.0.113.9"},
		{"spoofed hop left of the client", "10.1.1.1:80", "198.51.100.1, 203.0.113.9", proxies, "203.0.113.9"},
		{"chain of trusted proxies", "10.1.1.1:80", "203.0.113.9, 10.2.2.2,fd00::1", proxies, "203.0.113.9"},
		{"garbled hop", "10.1.1.1:80", "203.0.113.9, bogus, 10.2.2.2", proxies, "10.2.2.2"},
		{"only proxies", "10.1.1.1:80", "10.2.2.2", proxies, "10.2.2.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if got := ClientAddr(r, tc.trusted).String(); got != tc.want {
				t.Errorf("ClientAddr = %s, want %s", got, tc.want)
			}
		})
	}
}
