package s3api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	addrA = netip.MustParseAddr("192.0.2.1")
	addrB = netip.MustParseAddr("192.0.2.2")
	addrC = netip.MustParseAddr("192.0.2.3")
)

// counted returns the value of the counter name{label=value} in reg, which registered it.
func counted(t *testing.T, reg prometheus.Gatherer, name, value string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no series %s{%s}", name, value)
	return 0
}

const (
	failuresMetric  = "stratus_s3api_auth_failures_total"
	throttledMetric = "stratus_s3api_auth_throttled_total"
)

// refusedBy returns the scope that refused key from addr, or "" if it is admitted.
func refusedBy(t *testing.T, l *failureLimiter, key string, addr netip.Addr, now time.Time) string {
	t.Helper()
	e, scope := l.admit(key, addr, now)
	if (e == nil) != (scope == "") {
		t.Fatalf("admit = %v, %q", e, scope)
	}
	return scope
}

func TestFailureLimiterWindow(t *testing.T) {
	clock := newFakeClock()
	l := newFailureLimiter(20, time.Minute, 100)
	for i := range 20 {
		if s := refusedBy(t, l, "K", addrA, clock.Now()); s != "" {
			t.Fatalf("failure %d refused by %s before the limit", i+1, s)
		}
		l.failed("K", addrA, clock.Now())
	}
	for _, tc := range []struct {
		name  string
		key   string
		addr  netip.Addr
		scope string
	}{
		{"same key and address", "K", addrA, scopeAddress},
		{"same key, other address", "K", addrB, scopeKey},
		{"other key, same address", "K2", addrA, scopeAddress},
		{"other key and address", "K2", addrB, ""},
		{"same key, unknown address", "K", netip.Addr{}, scopeKey},
	} {
		if s := refusedBy(t, l, tc.key, tc.addr, clock.Now()); s != tc.scope {
			t.Errorf("%s: refused by %q, want %q", tc.name, s, tc.scope)
		}
	}
	e, _ := l.admit("K", addrA, clock.Now())
	if e.RetryAfter != 3*time.Second {
		t.Errorf("RetryAfter = %v, want 3s (a minute over 20 attempts)", e.RetryAfter)
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
	l.failed("K", addrA, clock.Now())
	if s := refusedBy(t, l, "K", addrA, clock.Now()); s == "" {
		t.Fatal("admitted after spending the earned attempt")
	}

	// After a window, the whole allowance is back.
	clock.Advance(time.Minute)
	for i := range 20 {
		if s := refusedBy(t, l, "K", addrA, clock.Now()); s != "" {
			t.Fatalf("after a window, failure %d refused by %s", i+1, s)
		}
		l.failed("K", addrA, clock.Now())
	}
}

// TestFailureLimiterProven checks that a stranger's failures with a key do not lock out an
// address that authenticated with it, until that address fails itself.
func TestFailureLimiterProven(t *testing.T) {
	clock := newFakeClock()
	l := newFailureLimiter(20, time.Minute, 100)
	l.succeeded("K", addrA, clock.Now())
	for i := range 40 {
		// From many addresses, so that only the key's limit applies.
		l.failed("K", netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), clock.Now())
	}
	if s := refusedBy(t, l, "K", addrC, clock.Now()); s != scopeKey {
		t.Fatalf("an address that never authenticated: refused by %q, want key", s)
	}
	if s := refusedBy(t, l, "K", addrA, clock.Now()); s != "" {
		t.Fatalf("the key's owner is refused by %s", s)
	}
	// The exemption is for that key only.
	for range 20 {
		l.failed("OTHER", addrA, clock.Now())
	}
	if s := refusedBy(t, l, "K", addrA, clock.Now()); s != "" {
		t.Fatalf("the key's owner, failing with another key, is refused by %s with its own", s)
	}
	if s := refusedBy(t, l, "OTHER", addrA, clock.Now()); s != scopeAddress {
		t.Fatalf("another key from the proven address: refused by %q, want address", s)
	}
	// A failure with the key itself revokes the exemption.
	l.failed("K", addrA, clock.Now())
	if s := refusedBy(t, l, "K", addrA, clock.Now()); s == "" {
		t.Fatal("still exempt after failing with the key")
	}
	// And the exemption expires.
	l.succeeded("K", addrB, clock.Now())
	clock.Advance(provenFor + time.Second)
	for range 20 {
		l.failed("K", addrC, clock.Now())
	}
	if s := refusedBy(t, l, "K", addrB, clock.Now()); s == "" {
		t.Fatal("an exemption outlived provenFor")
	}
}

// TestFailureLimiterBounded floods the limiter with distinct keys and addresses: no table
// outgrows its bound, and a key under attack keeps its state through the flood.
func TestFailureLimiterBounded(t *testing.T) {
	clock := newFakeClock()
	const limit = 50
	l := newFailureLimiter(20, time.Minute, limit)
	for range 20 {
		l.failed("TARGET", addrB, clock.Now())
	}
	long := strings.Repeat("k", 64<<10)
	for i := range 20 * limit {
		key := fmt.Sprintf("RANDOM%08d", i)
		if i%3 == 0 {
			key += long
		}
		addr := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.failed(key, addr, clock.Now())
		l.succeeded(key, addr, clock.Now())
		l.mu.RLock()
		nk, na, np := len(l.keys), len(l.addrs), len(l.proven)
		for k := range l.keys {
			if len(k) > maxCacheIDBytes {
				t.Fatalf("a key of %d bytes is tracked", len(k))
			}
		}
		l.mu.RUnlock()
		if nk > limit || na > limit || np > limit {
			t.Fatalf("after %d keys: %d keys, %d addresses, %d proven pairs tracked; bound %d", i+1, nk, na, np, limit)
		}
	}
	if s := refusedBy(t, l, "TARGET", addrC, clock.Now()); s != scopeKey {
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
			if got := clientAddr(r, tc.trusted).String(); got != tc.want {
				t.Errorf("clientAddr = %s, want %s", got, tc.want)
			}
		})
	}
}

// countingCreds is StaticCredentials that counts lookups.
type countingCreds struct {
	StaticCredentials
	n atomic.Int64
}

func (c *countingCreds) Lookup(ctx context.Context, key string) (string, string, error) {
	c.n.Add(1)
	return c.StaticCredentials.Lookup(ctx, key)
}

// signedFrom is a GET of /b/k signed with key and secret, from addr.
func signedFrom(key, secret, addr string, now time.Time) *http.Request {
	r := httptest.NewRequest("GET", "http://h/b/k", nil)
	r.RemoteAddr = addr + ":1234"
	r.Header.Set("X-Amz-Content-Sha256", EmptySHA256)
	testSign(r, secret, now, []string{"host", "x-amz-content-sha256", "x-amz-date"})
	if key != "AK" {
		r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "Credential=AK/", "Credential="+key+"/", 1))
	}
	return r
}

// TestVerifyThrottlesFailures drives Verify: past the limit, bad signatures and unknown
// keys are refused with a SlowDownError before any secret is looked up, and counted.
func TestVerifyThrottlesFailures(t *testing.T) {
	clock := newFakeClock()
	newVerifier := func() (*Verifier, *countingCreds, *prometheus.Registry) {
		creds := &countingCreds{StaticCredentials: StaticCredentials{"AK": {Secret: "s", Owner: "o"}}}
		v := NewVerifier(AuthConfig{Now: clock.Now, FailureLimit: 5, FailureWindow: 10 * time.Second}, creds)
		reg := prometheus.NewPedanticRegistry()
		v.m.register(reg)
		return v, creds, reg
	}
	verify := func(v *Verifier, r *http.Request) error {
		_, err := v.Verify(context.Background(), r)
		return err
	}

	t.Run("bad signatures", func(t *testing.T) {
		v, creds, reg := newVerifier()
		for range 5 {
			if err := verify(v, signedFrom("AK", "wrong", "192.0.2.1", clock.Now())); !errors.Is(err, ErrSignatureDoesNotMatch) {
				t.Fatalf("below the limit: %v", err)
			}
		}
		before := creds.n.Load()
		err := verify(v, signedFrom("AK", "wrong", "192.0.2.1", clock.Now()))
		var slow *SlowDownError
		if !errors.As(err, &slow) || !errors.Is(err, ErrSlowDown) || slow.RetryAfter != 2*time.Second {
			t.Fatalf("past the limit: %v, want SlowDownError after 2s", err)
		}
		if creds.n.Load() != before {
			t.Error("a refused request looked up its secret")
		}
		// The right secret from the same address is refused too: the address is out of
		// attempts and never authenticated.
		if err := verify(v, signedFrom("AK", "s", "192.0.2.1", clock.Now())); !errors.Is(err, ErrSlowDown) {
			t.Errorf("good signature from the throttled address: %v", err)
		}
		if got := counted(t, reg, failuresMetric, reasonSignature); got != 5 {
			t.Errorf("signature failures = %v, want 5", got)
		}
		if got := counted(t, reg, throttledMetric, scopeAddress); got != 2 {
			t.Errorf("throttled by address = %v, want 2", got)
		}
		clock.Advance(2 * time.Second)
		if err := verify(v, signedFrom("AK", "s", "192.0.2.1", clock.Now())); err != nil {
			t.Errorf("good signature once an attempt is earned back: %v", err)
		}
	})

	t.Run("unknown keys", func(t *testing.T) {
		v, creds, reg := newVerifier()
		for i := range 5 {
			err := verify(v, signedFrom(fmt.Sprintf("BOGUS%d", i), "s", "192.0.2.1", clock.Now()))
			if !errors.Is(err, ErrInvalidAccessKeyID) {
				t.Fatalf("unknown key %d: %v", i, err)
			}
		}
		if err := verify(v, signedFrom("BOGUS9", "s", "192.0.2.1", clock.Now())); !errors.Is(err, ErrSlowDown) {
			t.Fatalf("past the limit: %v", err)
		}
		if n := creds.n.Load(); n != 5 {
			t.Errorf("%d lookups, want 5: the refused one must not reach Credentials", n)
		}
		if got := counted(t, reg, failuresMetric, reasonUnknownKey); got != 5 {
			t.Errorf("unknown-key failures = %v, want 5", got)
		}
	})

	t.Run("successes never count", func(t *testing.T) {
		v, _, _ := newVerifier()
		for i := range 100 {
			if err := verify(v, signedFrom("AK", "s", "192.0.2.1", clock.Now())); err != nil {
				t.Fatalf("success %d: %v", i, err)
			}
		}
	})

	t.Run("owner not locked out by a stranger", func(t *testing.T) {
		v, _, reg := newVerifier()
		if err := verify(v, signedFrom("AK", "s", "192.0.2.1", clock.Now())); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			verify(v, signedFrom("AK", "guess", fmt.Sprintf("198.51.100.%d", i), clock.Now()))
		}
		if err := verify(v, signedFrom("AK", "guess", "198.51.100.99", clock.Now())); !errors.Is(err, ErrSlowDown) {
			t.Errorf("a stranger past the key's limit: %v", err)
		}
		if got := counted(t, reg, throttledMetric, scopeKey); got != 1 {
			t.Errorf("throttled by key = %v, want 1", got)
		}
		if err := verify(v, signedFrom("AK", "s", "192.0.2.1", clock.Now())); err != nil {
			t.Errorf("the owner, from where it authenticated: %v", err)
		}
	})

	t.Run("presigned", func(t *testing.T) {
		v, _, _ := newVerifier()
		q := "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F" + clock.Now().Format(scopeDateFormat) +
			"%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=" + clock.Now().Format(amzDateFormat) +
			"&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=" + strings.Repeat("0", 64)
		for range 5 {
			r := httptest.NewRequest("GET", "http://h/b/k?"+q, nil)
			if err := verify(v, r); !errors.Is(err, ErrSignatureDoesNotMatch) {
				t.Fatalf("bad presigned URL: %v", err)
			}
		}
		r := httptest.NewRequest("GET", "http://h/b/k?"+q, nil)
		if err := verify(v, r); !errors.Is(err, ErrSlowDown) {
			t.Fatalf("past the limit: %v", err)
		}
	})

	t.Run("off", func(t *testing.T) {
		v := NewVerifier(AuthConfig{Now: clock.Now, FailureLimit: -1}, StaticCredentials{})
		for range 50 {
			if err := verify(v, signedFrom("AK", "s", "192.0.2.1", clock.Now())); !errors.Is(err, ErrInvalidAccessKeyID) {
				t.Fatalf("with the limit off: %v", err)
			}
		}
	})

	t.Run("metric labels", func(t *testing.T) {
		v, _, reg := newVerifier()
		for range 10 {
			verify(v, signedFrom("AKIASECRETLABEL", "s", "192.0.2.77", clock.Now()))
		}
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		allowed := map[string]bool{reasonSignature: true, reasonChunkSignature: true, reasonUnknownKey: true, scopeKey: true, scopeAddress: true}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				for _, lp := range m.GetLabel() {
					if !allowed[lp.GetValue()] {
						t.Errorf("%s has label %s=%q", f.GetName(), lp.GetName(), lp.GetValue())
					}
				}
			}
		}
	})
}

// TestVerifyCountsChunkSignatures checks that a bad chunk signature, found while the body
// is read, counts as a failure of the key and the address.
func TestVerifyCountsChunkSignatures(t *testing.T) {
	v := NewVerifier(AuthConfig{Region: "us-east-1", Now: func() time.Time { return docTime }, FailureLimit: 2},
		StaticCredentials{docAccessKey: {Secret: docSecret, Owner: "example"}})
	reg := prometheus.NewPedanticRegistry()
	v.m.register(reg)
	bad := docChunkedBody([]string{docChunkSignatures[0], flipHex(docChunkSignatures[1]), docChunkSignatures[2]}, "")
	for i := range 2 {
		a, err := v.Verify(context.Background(), docChunkedRequest(bad))
		if err != nil {
			t.Fatalf("upload %d: Verify: %v", i, err)
		}
		if _, err := io.Copy(io.Discard, a.Body); !errors.Is(err, ErrSignatureDoesNotMatch) {
			t.Fatalf("upload %d: read: %v", i, err)
		}
	}
	if got := counted(t, reg, failuresMetric, reasonChunkSignature); got != 2 {
		t.Errorf("chunk signature failures = %v, want 2", got)
	}
	if _, err := v.Verify(context.Background(), docChunkedRequest(bytes.Clone(bad))); !errors.Is(err, ErrSlowDown) {
		t.Errorf("after two bad chunk signatures: %v, want SlowDown", err)
	}
}

// TestServerThrottleResponse checks what a throttled client sees: 503 SlowDown with
// Retry-After, and the server's registry carrying the counters.
func TestServerThrottleResponse(t *testing.T) {
	clock := newFakeClock()
	v := NewVerifier(AuthConfig{Now: clock.Now, FailureLimit: 1, FailureWindow: 90 * time.Second}, StaticCredentials{})
	reg := prometheus.NewPedanticRegistry()
	cfg := DefaultServerConfig()
	cfg.Registerer = reg
	srv := NewServer(cfg, nil, nil, v)
	serve := func() *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, signedFrom("AK", "s", "192.0.2.1", clock.Now()))
		return w
	}
	if w := serve(); w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "InvalidAccessKeyId") {
		t.Fatalf("first: %d %s", w.Code, w.Body)
	}
	w := serve()
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "<Code>SlowDown</Code>") {
		t.Fatalf("second: %d %s", w.Code, w.Body)
	}
	if got := w.Header().Get("Retry-After"); got != "90" {
		t.Errorf("Retry-After = %q, want 90", got)
	}
	if got := counted(t, reg, throttledMetric, scopeAddress); got != 1 {
		t.Errorf("throttled by address, on the server's registry: %v, want 1", got)
	}
}
