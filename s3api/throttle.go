package s3api

import (
	"net/http"
	"net/netip"
	"time"

	"stratus/internal/sigv4"
)

// Defaults of the failed-authentication limit (see AuthConfig). The limiter itself is
// sigv4.FailureLimiter, shared with the EC2 API.
const (
	// DefaultFailureLimit is how many failed authentications an access key, and separately
	// a client address, may have in quick succession.
	DefaultFailureLimit = sigv4.DefaultFailureLimit
	// DefaultFailureWindow is the time over which DefaultFailureLimit failures are allowed.
	DefaultFailureWindow = sigv4.DefaultFailureWindow
	// DefaultMaxTracked bounds each table of the limiter.
	DefaultMaxTracked = sigv4.DefaultMaxTracked
)

// Why an authentication failed, as the metrics label it.
const (
	reasonSignature      = "signature"       // header or presigned signature
	reasonChunkSignature = "chunk_signature" // aws-chunked chunk or trailer signature
	reasonUnknownKey     = "unknown_key"     // access key unknown or disabled
)

// What a refusal was for, as the metrics label it.
const (
	scopeKey     = sigv4.ScopeKey
	scopeAddress = sigv4.ScopeAddress
)

// failureLimiter is sigv4.FailureLimiter answering in S3's terms: a refusal is a
// *SlowDownError. A nil *failureLimiter admits everything.
type failureLimiter struct{ l *sigv4.FailureLimiter }

func newFailureLimiter(limit int, window time.Duration, maxTracked int) *failureLimiter {
	return &failureLimiter{sigv4.NewFailureLimiter(limit, window, maxTracked)}
}

// admit returns nil if a request with key from addr may be verified, or, when key or addr
// has no attempt left, a *SlowDownError and the scope that refused it.
func (f *failureLimiter) admit(key string, addr netip.Addr, now time.Time) (*SlowDownError, string) {
	if f == nil {
		return nil, ""
	}
	scope, wait := f.l.Admit(key, addr, now)
	if scope == "" {
		return nil, ""
	}
	return &SlowDownError{RetryAfter: wait}, scope
}

// failed spends an attempt of key and of addr.
func (f *failureLimiter) failed(key string, addr netip.Addr, now time.Time) {
	if f != nil {
		f.l.Failed(key, addr, now)
	}
}

// succeeded records that key authenticated from addr.
func (f *failureLimiter) succeeded(key string, addr netip.Addr, now time.Time) {
	if f != nil {
		f.l.Succeeded(key, addr, now)
	}
}

// clientAddr returns the address r's failures are counted against (sigv4.ClientAddr).
func clientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	return sigv4.ClientAddr(r, trusted)
}
