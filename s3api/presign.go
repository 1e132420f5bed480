package s3api

import (
	"context"
	"net/http"
	"net/url"
	"stratus/internal/sigv4"
	"strconv"
	"strings"
	"time"
)

// MaxPresignExpiry is the longest X-Amz-Expires S3 accepts: seven days.
const MaxPresignExpiry = 7 * 24 * time.Hour

// Query parameters of a presigned URL.
const (
	queryAlgorithm     = "X-Amz-Algorithm"
	queryCredential    = "X-Amz-Credential"
	queryDate          = "X-Amz-Date"
	queryExpires       = "X-Amz-Expires"
	querySignedHeaders = "X-Amz-SignedHeaders"
	querySignature     = "X-Amz-Signature"
	queryContentSHA256 = "X-Amz-Content-Sha256"
)

// presignQuery is the parsed authentication part of a presigned URL.
type presignQuery struct {
	Credential    credential
	AmzDate       string
	Date          time.Time
	Expires       time.Duration
	SignedHeaders []string
	Signature     string
}

// parsePresignQuery reads and bounds-checks the X-Amz-* parameters. Errors match
// ErrAuthorizationQueryMalformed.
func parsePresignQuery(q url.Values) (presignQuery, error) {
	for _, name := range []string{queryAlgorithm, queryCredential, querySignature, queryDate, querySignedHeaders, queryExpires} {
		if len(q[name]) != 1 {
			return presignQuery{}, errorf(ErrAuthorizationQueryMalformed, "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters, each once.")
		}
	}
	if q.Get(queryAlgorithm) != Algorithm {
		return presignQuery{}, errorf(ErrAuthorizationQueryMalformed, "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
	}
	var p presignQuery
	var ok bool
	if p.Credential, ok = parseCredential(q.Get(queryCredential)); !ok {
		return presignQuery{}, errorf(ErrAuthorizationQueryMalformed, "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".")
	}
	p.AmzDate = q.Get(queryDate)
	if p.Date, ok = parseAmzDate(p.AmzDate); !ok {
		return presignQuery{}, errorf(ErrAuthorizationQueryMalformed, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	secs, err := strconv.ParseInt(q.Get(queryExpires), 10, 64)
	if err != nil || secs < 0 {
		return presignQuery{}, errorf(ErrAuthorizationQueryMalformed, "X-Amz-Expires should be a number")
	}
	if secs > int64(MaxPresignExpiry/time.Second) {
		return presignQuery{}, errorf(ErrAuthorizationQueryMalformed, "X-Amz-Expires must be less than a week (in seconds) that is 604800")
	}
	p.Expires = time.Duration(secs) * time.Second
	if p.SignedHeaders, ok = sigv4.ParseSignedHeaders(q.Get(querySignedHeaders)); !ok {
		return presignQuery{}, errorf(ErrAuthorizationQueryMalformed, "X-Amz-SignedHeaders is not a ';'-separated list of lower-case header names.")
	}
	p.Signature = q.Get(querySignature)
	if !isLowerHex(p.Signature, 64) {
		return presignQuery{}, errorf(ErrAuthorizationQueryMalformed, "X-Amz-Signature is not 64 lower-case hex digits.")
	}
	return p, nil
}

// verifyPresigned checks a query-string (presigned URL) signature.
func (v *Verifier) verifyPresigned(ctx context.Context, r *http.Request, q url.Values) (*Auth, error) {
	p, err := parsePresignQuery(q)
	if err != nil {
		return nil, err
	}
	addr := clientAddr(r, v.cfg.TrustedProxies)
	if err := v.admit(p.Credential.AccessKey, addr); err != nil {
		return nil, err
	}
	if err := v.checkScope(p.Credential, p.Date, ErrAuthorizationQueryMalformed, "Error parsing the X-Amz-Credential parameter; "); err != nil {
		return nil, err
	}
	now := v.cfg.Now()
	if p.Date.Sub(now) > v.cfg.MaxClockSkew {
		return nil, ErrRequestNotYetValid
	}
	expires := p.Date.Add(p.Expires)
	if now.After(expires) {
		return nil, ErrRequestExpired
	}
	// A presigned URL signs UNSIGNED-PAYLOAD unless the signer put a hash in a signed
	// header or in the query.
	payload := PayloadUnsigned
	if s := r.Header.Get(headerContentSHA256); s != "" {
		payload = s
	} else if s := q.Get(queryContentSHA256); s != "" {
		payload = s
	}
	if !validPayloadHash(payload) {
		return nil, ErrInvalidContentSHA256
	}
	if strings.HasPrefix(payload, "STREAMING-") {
		return nil, errorf(ErrInvalidRequest, "Streaming payloads cannot be presigned.")
	}
	if err := checkSignedHeaders(r, p.SignedHeaders, ErrAuthorizationQueryMalformed); err != nil {
		return nil, err
	}
	secret, owner, err := v.lookup(ctx, p.Credential.AccessKey, addr)
	if err != nil {
		return nil, err
	}
	key := signingKey(secret, p.Credential)
	if !matchSignature(r, key, p.AmzDate, p.Credential, canonicalQuery(r.URL.RawQuery, querySignature), p.SignedHeaders, payload, p.Signature) {
		v.failed(reasonSignature, p.Credential.AccessKey, addr)
		return nil, ErrSignatureDoesNotMatch
	}
	v.limiter.succeeded(p.Credential.AccessKey, addr, v.cfg.Now())
	a := &Auth{
		AccessKey:     p.Credential.AccessKey,
		Owner:         owner,
		Region:        p.Credential.Region,
		Date:          p.Date,
		Presigned:     true,
		Expires:       expires,
		ContentSHA256: payload,
		ContentLength: r.ContentLength,
	}
	if err := a.wrapBody(r, chunkSigner{}); err != nil {
		return nil, err
	}
	return a, nil
}
