package ec2api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"stratus/internal/sigv4"
)

// ServiceEC2 is the service name EC2 requests are signed for.
const ServiceEC2 = "ec2"

// DefaultMaxClockSkew is how far a request's date may be from the server's clock.
const DefaultMaxClockSkew = 15 * time.Minute

// caller is who signed a request.
type caller struct {
	AccessKey string
	Account   string
}

// authenticate checks r's SigV4 Authorization header over body (the whole request body,
// already read): the scope must name service ec2 and this server's region, the date must
// be within the allowed skew, host and every x-amz-* header must be signed, and the
// signature must be the one the key's secret makes of the request and of body's SHA-256.
// Query-string (presigned) signatures are not accepted: EC2 clients do not send them.
func (s *Server) authenticate(ctx context.Context, r *http.Request, body []byte) (caller, error) {
	authz := r.Header.Get("Authorization")
	if authz == "" {
		if r.URL.Query().Has("X-Amz-Signature") {
			return caller{}, errorf(ErrAuthFailure, "Query-string authentication is not supported; sign the Authorization header.")
		}
		return caller{}, errorf(ErrMissingAuthenticationToken, "Request is missing Authentication Token")
	}
	h, err := sigv4.ParseAuthorization(authz)
	var m *sigv4.MalformedError
	switch {
	case errors.Is(err, sigv4.ErrNotSigV4):
		return caller{}, errorf(ErrIncompleteSignature, "Only the AWS4-HMAC-SHA256 signature algorithm is supported.")
	case errors.As(err, &m):
		return caller{}, errorf(ErrIncompleteSignature, "%s", m.Message)
	case err != nil:
		return caller{}, err
	}
	c := h.Credential
	addr := sigv4.ClientAddr(r, s.cfg.TrustedProxies)
	if scope, wait := s.limiter.Admit(c.AccessKey, addr, s.cfg.Now()); scope != "" {
		return caller{}, &Error{Kind: ErrRequestLimitExceeded, RetryAfter: wait,
			Message: "Request limit exceeded: too many failed authentications from this " + scopeWord(scope) + "."}
	}
	amzDate, date, err := requestDate(r)
	if err != nil {
		return caller{}, err
	}
	if skew := s.cfg.Now().Sub(date).Abs(); skew > s.cfg.MaxClockSkew {
		return caller{}, errorf(ErrRequestExpired, "Request has expired: its date %s is %v from the server's time %s.",
			date.UTC().Format(sigv4.AmzDateFormat), skew.Round(time.Second), s.cfg.Now().UTC().Format(sigv4.AmzDateFormat))
	}
	switch {
	case c.Date != date.UTC().Format(sigv4.ScopeDateFormat):
		return caller{}, errorf(ErrAuthFailure, "Credential should be scoped to the request's date %s, not '%s'.", date.UTC().Format(sigv4.ScopeDateFormat), c.Date)
	case c.Service != ServiceEC2:
		return caller{}, errorf(ErrAuthFailure, "Credential should be scoped to correct service: 'ec2', not '%s'.", c.Service)
	case c.Region != s.cfg.Region:
		return caller{}, errorf(ErrAuthFailure, "Credential should be scoped to a valid region, '%s', not '%s'.", s.cfg.Region, c.Region)
	}
	if err := checkSignedHeaders(r, h.SignedHeaders); err != nil {
		return caller{}, err
	}
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	if v := r.Header.Get("X-Amz-Content-Sha256"); v != "" && !strings.EqualFold(v, payload) {
		return caller{}, errorf(ErrSignatureDoesNotMatch, "The request body's SHA-256 is not x-amz-content-sha256; every EC2 request body must be signed.")
	}
	secret, account, err := s.keys.lookup(ctx, c.AccessKey)
	if err != nil {
		if errors.Is(err, ErrAuthFailure) {
			s.limiter.Failed(c.AccessKey, addr, s.cfg.Now())
		}
		return caller{}, err
	}
	key := sigv4.SigningKey(secret, c)
	query := sigv4.CanonicalQuery(r.URL.RawQuery, "")
	headers := sigv4.CanonicalHeaders(r, h.SignedHeaders)
	for _, uri := range canonicalURIs(r) {
		creq := sigv4.CanonicalRequest(r.Method, uri, query, headers, h.SignedHeaders, payload)
		if sigv4.SignatureEqual(sigv4.Sign(key, sigv4.StringToSign(amzDate, c, creq)), h.Signature) {
			s.limiter.Succeeded(c.AccessKey, addr, s.cfg.Now())
			return caller{AccessKey: c.AccessKey, Account: account}, nil
		}
	}
	s.limiter.Failed(c.AccessKey, addr, s.cfg.Now())
	return caller{}, errorf(ErrSignatureDoesNotMatch, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
}

// canonicalURIs are the canonical paths to try, best first. Services other than S3 sign
// the path encoded twice (the SigV4 encoding of the escaped path); EC2 clients post to "/",
// where every form is the same, but a path behind a proxy prefix may differ.
func canonicalURIs(r *http.Request) []string {
	raw := r.URL.EscapedPath()
	if raw == "" {
		raw = "/"
	}
	twice := sigv4.URIEncode(raw, false)
	if twice == raw {
		return []string{raw}
	}
	return []string{twice, raw}
}

// requestDate returns X-Amz-Date, or the Date header if it is absent, as sent and parsed.
func requestDate(r *http.Request) (string, time.Time, error) {
	if v := r.Header.Get("X-Amz-Date"); v != "" {
		t, ok := sigv4.ParseAmzDate(v)
		if !ok {
			return "", time.Time{}, errorf(ErrIncompleteSignature, "X-Amz-Date '%s' is not of the form 20060102T150405Z.", v)
		}
		return v, t, nil
	}
	if v := r.Header.Get("Date"); v != "" {
		t, err := http.ParseTime(v)
		if err != nil {
			return "", time.Time{}, errorf(ErrIncompleteSignature, "The Date header '%s' is not an HTTP date.", v)
		}
		return t.UTC().Format(sigv4.AmzDateFormat), t, nil
	}
	return "", time.Time{}, errorf(ErrIncompleteSignature, "Signed requests need an X-Amz-Date or Date header.")
}

// checkSignedHeaders requires host and every x-amz-* header of r to be signed.
func checkSignedHeaders(r *http.Request, signed []string) error {
	set := make(map[string]bool, len(signed))
	for _, n := range signed {
		set[n] = true
	}
	if !set["host"] {
		return errorf(ErrIncompleteSignature, "The host header must be signed.")
	}
	for name := range r.Header {
		if l := strings.ToLower(name); strings.HasPrefix(l, "x-amz-") && !set[l] {
			return errorf(ErrIncompleteSignature, "The header %s is present but not signed.", l)
		}
	}
	return nil
}

// scopeWord names what a limiter refusal was for.
func scopeWord(scope string) string {
	if scope == sigv4.ScopeKey {
		return "access key"
	}
	return "address"
}
