package s3api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxClockSkew is how far a request's date may be from the server's clock, as in S3.
const DefaultMaxClockSkew = 15 * time.Minute

// AuthConfig configures a Verifier.
type AuthConfig struct {
	// Region is the region clients must sign for. Empty accepts any region name, which
	// suits a single-site install where clients pick "us-east-1" or their own default.
	Region string
	// MaxClockSkew bounds the distance between a header-signed request's date and the
	// server's clock, and how far in the future a presigned URL may be dated. Zero means
	// DefaultMaxClockSkew. Larger values widen the window in which a captured request can
	// be replayed.
	MaxClockSkew time.Duration
	// Now returns the current time; nil means time.Now. Tests pass a fixed clock.
	Now func() time.Time

	// FailureLimit is how many failed authentications (a wrong signature of a request, a
	// chunk or a trailer, or an unknown or disabled access key) an access key, and
	// separately a client address, may have in quick succession. Past it, their requests
	// are refused with SlowDown (503, with Retry-After) before any secret is looked up or
	// signature computed, until they have earned an attempt back: one every
	// FailureWindow/FailureLimit. Successes count for nothing, and an address that
	// authenticated with a key in the last hour is not refused while it uses that key (so
	// a stranger cannot lock a key's owner out), until it fails with it. Zero means
	// DefaultFailureLimit (20); negative turns the limit off. Lower slows guessing and
	// floods of bogus keys more, and locks out a misconfigured client sooner.
	FailureLimit int
	// FailureWindow is the time over which FailureLimit failures are allowed. Zero means
	// DefaultFailureWindow (1 minute). Longer keeps a client that exhausted its attempts
	// out for longer.
	FailureWindow time.Duration
	// DisableSigV2 refuses Signature Version 2 (header and presigned URLs) with
	// InvalidRequest. SigV2 signs no payload hash and uses HMAC-SHA1; turn it off where no
	// old client needs it.
	DisableSigV2 bool
	// MaxTracked bounds the access keys, the client addresses and the (key, address)
	// pairs that authenticated, each, whose state the limit keeps (about 100 bytes an
	// entry); a full table drops the entry that carries least. Zero means
	// DefaultMaxTracked (10000).
	MaxTracked int
	// TrustedProxies are the addresses of reverse proxies in front of this server: a
	// request from one of them is counted against the client its X-Forwarded-For names
	// (the rightmost address that is not itself a trusted proxy). Empty, the default:
	// X-Forwarded-For is ignored and a request counts against its connection's peer. Only
	// list proxies that append to the header, or clients choose the address they are
	// counted under. IPv6 clients are counted by /64.
	TrustedProxies []netip.Prefix
}

// Verifier checks SigV4 signatures of S3 requests. It is safe for concurrent use.
type Verifier struct {
	cfg     AuthConfig
	creds   Credentials
	limiter *failureLimiter // nil when the failure limit is off
	m       *authMetrics
}

// NewVerifier returns a Verifier that finds secrets through creds.
func NewVerifier(cfg AuthConfig, creds Credentials) *Verifier {
	if cfg.MaxClockSkew <= 0 {
		cfg.MaxClockSkew = DefaultMaxClockSkew
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.FailureLimit == 0 {
		cfg.FailureLimit = DefaultFailureLimit
	}
	if cfg.FailureWindow <= 0 {
		cfg.FailureWindow = DefaultFailureWindow
	}
	if cfg.MaxTracked <= 0 {
		cfg.MaxTracked = DefaultMaxTracked
	}
	v := &Verifier{cfg: cfg, creds: creds, m: newAuthMetrics()}
	if cfg.FailureLimit > 0 {
		v.limiter = newFailureLimiter(cfg.FailureLimit, cfg.FailureWindow, cfg.MaxTracked)
	}
	return v
}

// String describes v by its settings. fmt would otherwise print v's unexported fields,
// which hold Credentials (a StaticCredentials map, say) without calling their methods.
func (v *Verifier) String() string {
	return fmt.Sprintf("Verifier{Region:%q MaxClockSkew:%v FailureLimit:%d FailureWindow:%v MaxTracked:%d TrustedProxies:%v}",
		v.cfg.Region, v.cfg.MaxClockSkew, v.cfg.FailureLimit, v.cfg.FailureWindow, v.cfg.MaxTracked, v.cfg.TrustedProxies)
}

// GoString is String, for %#v.
func (v *Verifier) GoString() string { return v.String() }

// Auth is what Verify learned about an authenticated request.
type Auth struct {
	// AccessKey is the key the request was signed with; Owner is its account.
	AccessKey string
	Owner     string
	// Region is the region of the credential scope.
	Region string
	// Date is the signing time (X-Amz-Date or Date).
	Date time.Time
	// Presigned reports whether the signature came in the query string.
	Presigned bool
	// Expires is when a presigned URL stops working; zero for header-signed requests.
	Expires time.Time
	// ContentSHA256 is the payload hash the request was signed with: a hex SHA-256 or one of
	// the Payload* modes.
	ContentSHA256 string
	// Body is the payload to read instead of the request's body: decoded from aws-chunked
	// framing and checked as the payload mode asks. Bytes it returns are not known to be
	// authentic until it returns io.EOF; on any other error the caller must discard what it
	// read and answer with that error (see WriteError). When ContentLength is known, the
	// last bytes come only together with io.EOF after every check passed (a failure is
	// returned instead of them), so a caller that reads exactly ContentLength bytes, as
	// io.ReadFull does, gets the verdict too. Closing it closes the request body.
	Body io.ReadCloser
	// ContentLength is the number of bytes Body yields: x-amz-decoded-content-length for
	// aws-chunked payloads, the request's ContentLength otherwise (-1 when unknown).
	ContentLength int64
	// Trailer holds the trailing headers of an aws-chunked body (the x-amz-checksum-*
	// named by x-amz-trailer, already verified against the payload). Like
	// http.Request.Trailer, it is filled in only once Body has returned io.EOF.
	Trailer http.Header
}

// Verify authenticates r by its Authorization header or its presigned query, and returns
// who signed it and a Body that checks the payload. It does not read the body. Errors match
// the sentinels of this package: ErrAnonymous when r carries no signature, ErrUnsupported-
// Signature for schemes other than SigV4 and SigV2 (and SigV2 when AuthConfig.DisableSigV2
// is set), ErrInvalidAccessKeyID, ErrSignatureDoesNotMatch,
// ErrRequestTimeTooSkewed, ErrRequestExpired and the malformed-header errors; a
// *SlowDownError when the key or the client's address failed too often (see
// AuthConfig.FailureLimit); an error from Credentials other than ErrInvalidAccessKeyID is
// returned wrapped.
func (v *Verifier) Verify(ctx context.Context, r *http.Request) (*Auth, error) {
	authz := r.Header.Get(headerAuthorization)
	q := r.URL.Query()
	presigned := q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Credential") || q.Has("X-Amz-Signature")
	switch {
	case authz != "" && (presigned || q.Has("Signature")):
		return nil, errorf(ErrInvalidArgument, "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
	case strings.HasPrefix(authz, "AWS "):
		return v.verifyV2Header(ctx, r, authz)
	case authz != "":
		return v.verifyHeader(ctx, r, authz)
	case presigned:
		return v.verifyPresigned(ctx, r, q)
	case q.Has("Signature") || q.Has("AWSAccessKeyId"):
		return v.verifyV2Query(ctx, r, q)
	default:
		return nil, ErrAnonymous
	}
}

// verifyHeader checks an Authorization-header signature.
func (v *Verifier) verifyHeader(ctx context.Context, r *http.Request, authz string) (*Auth, error) {
	h, err := parseAuthorization(authz)
	if err != nil {
		return nil, err
	}
	addr := clientAddr(r, v.cfg.TrustedProxies)
	if err := v.admit(h.Credential.AccessKey, addr); err != nil {
		return nil, err
	}
	amzDate, date, err := requestDate(r)
	if err != nil {
		return nil, err
	}
	if err := v.checkScope(h.Credential, date, ErrAuthorizationHeaderMalformed, "The authorization header is malformed; "); err != nil {
		return nil, err
	}
	if skew := v.cfg.Now().Sub(date).Abs(); skew > v.cfg.MaxClockSkew {
		return nil, errorf(ErrRequestTimeTooSkewed, fmt.Sprintf("The difference between the request time and the server's time is too large (request time %s, server time %s).",
			date.UTC().Format(amzDateFormat), v.cfg.Now().UTC().Format(amzDateFormat)))
	}
	payload := r.Header.Get(headerContentSHA256)
	if payload == "" {
		return nil, errorf(ErrInvalidRequest, "Missing required header for this request: x-amz-content-sha256")
	}
	if !validPayloadHash(payload) {
		return nil, ErrInvalidContentSHA256
	}
	if err := checkSignedHeaders(r, h.SignedHeaders, ErrAuthorizationHeaderMalformed); err != nil {
		return nil, err
	}
	secret, owner, err := v.lookup(ctx, h.Credential.AccessKey, addr)
	if err != nil {
		return nil, err
	}
	key := signingKey(secret, h.Credential)
	if !matchSignature(r, key, amzDate, h.Credential, canonicalQuery(r.URL.RawQuery, ""), h.SignedHeaders, payload, h.Signature) {
		v.failed(reasonSignature, h.Credential.AccessKey, addr)
		return nil, ErrSignatureDoesNotMatch
	}
	v.limiter.succeeded(h.Credential.AccessKey, addr, v.cfg.Now())
	a := &Auth{
		AccessKey:     h.Credential.AccessKey,
		Owner:         owner,
		Region:        h.Credential.Region,
		Date:          date,
		ContentSHA256: payload,
		ContentLength: r.ContentLength,
	}
	signer := chunkSigner{key: key, amzDate: amzDate, scope: h.Credential.Scope(), seed: h.Signature,
		failed: func() { v.failed(reasonChunkSignature, h.Credential.AccessKey, addr) }}
	if err := a.wrapBody(r, signer); err != nil {
		return nil, err
	}
	return a, nil
}

// matchSignature reports whether presented is the signature of r under key for any of r's
// canonical URIs.
func matchSignature(r *http.Request, key []byte, amzDate string, c credential, query string, signed []string, payload, presented string) bool {
	headers := canonicalHeaders(r, signed)
	for _, uri := range canonicalURIs(r) {
		creq := canonicalRequest(r.Method, uri, query, headers, signed, payload)
		if signatureEqual(sign(key, stringToSign(amzDate, c, creq)), presented) {
			return true
		}
	}
	return false
}

// requestDate returns X-Amz-Date, or the Date header if it is absent, as sent and parsed.
func requestDate(r *http.Request) (string, time.Time, error) {
	if s := r.Header.Get(headerAmzDate); s != "" {
		t, ok := parseAmzDate(s)
		if !ok {
			return "", time.Time{}, ErrMissingDate
		}
		return s, t, nil
	}
	if s := r.Header.Get("Date"); s != "" {
		t, err := http.ParseTime(s)
		if err != nil {
			return "", time.Time{}, ErrMissingDate
		}
		return t.UTC().Format(amzDateFormat), t, nil
	}
	return "", time.Time{}, ErrMissingDate
}

// checkScope checks the credential scope against the request date and this server.
func (v *Verifier) checkScope(c credential, date time.Time, sentinel error, prefix string) error {
	if want := date.UTC().Format(scopeDateFormat); c.Date != want {
		return errorf(sentinel, prefix+"incorrect date in the credential scope; expecting "+want+".")
	}
	if c.Service != ServiceS3 {
		return errorf(sentinel, prefix+"incorrect service \""+c.Service+"\"; expecting \"s3\".")
	}
	if v.cfg.Region != "" && c.Region != v.cfg.Region {
		return errorf(sentinel, prefix+"the region '"+c.Region+"' is wrong; expecting '"+v.cfg.Region+"'")
	}
	return nil
}

// checkSignedHeaders requires host and every x-amz-* header of r to be signed: an unsigned
// x-amz-copy-source, say, would turn a signed PUT into a copy of anything the key can read.
// malformed is the sentinel for a missing host (header or query form).
func checkSignedHeaders(r *http.Request, signed []string, malformed error) error {
	set := make(map[string]bool, len(signed))
	for _, s := range signed {
		set[s] = true
	}
	if !set["host"] {
		return errorf(malformed, "The host header must be signed.")
	}
	for name := range r.Header {
		l := strings.ToLower(name)
		if strings.HasPrefix(l, "x-amz-") && !set[l] {
			return errorf(ErrUnsignedHeaders, "There were headers present in the request which were not signed: "+l)
		}
	}
	return nil
}

// lookup asks Credentials for a secret; the key itself is public, the secret never leaves.
// An unknown key counts as a failure of the key and of addr.
func (v *Verifier) lookup(ctx context.Context, accessKey string, addr netip.Addr) (secret, owner string, err error) {
	secret, owner, err = v.creds.Lookup(ctx, accessKey)
	if err != nil {
		if errors.Is(err, ErrInvalidAccessKeyID) {
			v.failed(reasonUnknownKey, accessKey, addr)
		}
		return "", "", fmt.Errorf("look up access key %s: %w", accessKey, err)
	}
	return secret, owner, nil
}

// admit refuses, with a *SlowDownError, a request whose key or address has no attempt left.
func (v *Verifier) admit(accessKey string, addr netip.Addr) error {
	refused, scope := v.limiter.admit(accessKey, addr, v.cfg.Now())
	if refused == nil {
		return nil
	}
	v.m.throttled.WithLabelValues(scope).Inc()
	return refused
}

// failed counts a failed authentication of accessKey from addr.
func (v *Verifier) failed(reason, accessKey string, addr netip.Addr) {
	v.m.failures.WithLabelValues(reason).Inc()
	v.limiter.failed(accessKey, addr, v.cfg.Now())
}

// validPayloadHash reports whether s is a value x-amz-content-sha256 may take.
func validPayloadHash(s string) bool {
	switch s {
	case PayloadUnsigned, PayloadStreaming, PayloadStreamingTrailer, PayloadStreamingUnsignedTrailer:
		return true
	}
	return isHexSHA256(s)
}

// wrapBody sets a.Body (and for aws-chunked payloads ContentLength and Trailer) for the
// payload mode a was signed with.
func (a *Auth) wrapBody(r *http.Request, signer chunkSigner) error {
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	switch a.ContentSHA256 {
	case PayloadUnsigned:
		a.Body = plainReader{body}
		return nil
	case PayloadStreaming, PayloadStreamingTrailer, PayloadStreamingUnsignedTrailer:
	default:
		a.Body = newHashReader(body, a.ContentLength, a.ContentSHA256)
		return nil
	}
	if a.Presigned {
		return errorf(ErrInvalidRequest, "Streaming payloads cannot be presigned.")
	}
	s := r.Header.Get(headerDecodedContentLength)
	if s == "" {
		return errorf(ErrMissingContentLength, "You must provide the x-amz-decoded-content-length header for an aws-chunked payload.")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return errorf(ErrInvalidArgument, "x-amz-decoded-content-length is not a non-negative integer.")
	}
	cfg := chunkedConfig{
		DecodedLength: n,
		Signed:        a.ContentSHA256 != PayloadStreamingUnsignedTrailer,
		Trailer:       a.ContentSHA256 != PayloadStreaming,
		Signer:        signer,
	}
	if cfg.Trailer {
		cfg.TrailerNames, err = parseTrailerNames(r.Header.Values(headerTrailer))
		if err != nil {
			return err
		}
	}
	a.ContentLength = n
	a.Trailer = make(http.Header)
	cfg.Out = a.Trailer
	a.Body = newChunkedReader(body, cfg)
	return nil
}
