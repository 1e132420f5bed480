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
