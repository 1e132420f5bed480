package s3api

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// AWS Signature Version 2, for old clients (s3cmd's default, boto3 with
// signature_version="s3"): an HMAC-SHA1 of the method, Content-MD5, Content-Type, the
// date, the x-amz-* headers and the resource, in the Authorization header ("AWS
// key:signature") or in the query (AWSAccessKeyId, Expires, Signature). It signs no
// payload hash: the body is passed through as with UNSIGNED-PAYLOAD (PutObject still
// checks a Content-MD5). Only path-style requests can be verified: the resource signed is
// the path as sent. AuthConfig.DisableSigV2 refuses it all with InvalidRequest.

// v2SubResources are the query parameters that are part of the signed resource: every one
// that picks an operation of its own, so that a signature (a presigned URL above all) for
// one operation never serves another. botocore signs "object-lock" and the bucket settings
// among them; it does not sign "retention", "legal-hold", "ownershipControls" or
// "publicAccessBlock", so those operations need SigV4 from it.
var v2SubResources = []string{
	"accelerate", "acl", "analytics", "cors", "delete", "inventory", "legal-hold", "lifecycle",
	"location", "logging", "metrics", "notification", "object-lock", "ownershipControls",
	"partNumber", "policy", "publicAccessBlock", "replication", "requestPayment",
	"response-cache-control", "response-content-disposition", "response-content-encoding",
	"response-content-language", "response-content-type", "response-expires", "restore",
	"retention", "select", "select-type", "tagging", "torrent", "uploadId", "uploads",
	"versionId", "versioning", "versions", "website",
}

// v2Paths are the resources a SigV2 signature of r may name: the path as sent; for a
// bucket alone also with the trailing slash S3 adds to it; and the path with the first
// query parameter, which botocore signs as part of the path when its API model puts it in
// the operation's URI ("?uploads", "?list-type=2", "?delete"), before the subresources.
// Every form is made of what the request carries, so none lets anything go unsigned.
func v2Paths(r *http.Request) []string {
	p := r.URL.EscapedPath()
	paths := []string{p}
	if strings.Count(p, "/") == 1 && len(p) > 1 {
		paths = append(paths, p+"/")
	}
	if first, _, _ := strings.Cut(r.URL.RawQuery, "&"); first != "" {
		paths = append(paths, p+"?"+first)
	}
	return paths
}

// v2StringToSign is what a SigV2 signature covers; date is the Date header, "" when
// x-amz-date is sent, or a presigned URL's Expires; path is one of v2Paths.
func v2StringToSign(r *http.Request, date, path string) string {
	var b strings.Builder
	b.WriteString(r.Method + "\n")
	b.WriteString(r.Header.Get("Content-Md5") + "\n")
	b.WriteString(r.Header.Get("Content-Type") + "\n")
	b.WriteString(date + "\n")
	var amz []string
	for k := range r.Header {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-amz-") {
			amz = append(amz, lk)
		}
	}
	slices.Sort(amz)
	for _, k := range amz {
		vs := r.Header.Values(k)
		trimmed := make([]string, len(vs))
		for i, v := range vs {
			trimmed[i] = strings.TrimSpace(v)
		}
		b.WriteString(k + ":" + strings.Join(trimmed, ",") + "\n")
	}
	b.WriteString(path)
	var sub []string
	for _, kv := range strings.Split(r.URL.RawQuery, "&") {
		k, v, hasValue := strings.Cut(kv, "=")
		if !slices.Contains(v2SubResources, k) {
			continue
		}
		if hasValue {
			if u, err := url.QueryUnescape(v); err == nil {
				v = u
			}
			k += "=" + v
		}
		sub = append(sub, k)
	}
	if len(sub) > 0 {
		slices.Sort(sub)
		b.WriteString("?" + strings.Join(sub, "&"))
	}
	return b.String()
}

// v2Signature is the base64 HMAC-SHA1 of s under secret.
func v2Signature(secret, s string) []byte {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(s))
	return m.Sum(nil)
}

// verifyV2Header checks an "AWS key:signature" Authorization header.
func (v *Verifier) verifyV2Header(ctx context.Context, r *http.Request, authz string) (*Auth, error) {
	if v.cfg.DisableSigV2 {
		return nil, ErrUnsupportedSignature
	}
	key, sig, ok := strings.Cut(strings.TrimPrefix(authz, "AWS "), ":")
	if !ok || key == "" || sig == "" {
		return nil, errorf(ErrAuthorizationHeaderMalformed, "The authorization header is malformed; it must be AWS AccessKeyId:Signature.")
	}
	date := r.Header.Get("X-Amz-Date")
	signedDate := ""
	if date == "" {
		date, signedDate = r.Header.Get("Date"), r.Header.Get("Date")
	}
	t, err := http.ParseTime(date)
	if err != nil {
		t, err = time.Parse(time.RFC1123Z, date) // "+0000", as the S3 documentation writes it
	}
	if err != nil {
		t, err = time.Parse(amzDateFormat, date) // an x-amz-date in SigV4's form
	}
	if err != nil {
		return nil, errorf(ErrAccessDenied, "AWS authentication requires a valid Date or x-amz-date header")
	}
	if skew := v.cfg.Now().Sub(t).Abs(); skew > v.cfg.MaxClockSkew {
		return nil, errorf(ErrRequestTimeTooSkewed, fmt.Sprintf("The difference between the request time and the server's time is too large (request time %s, server time %s).",
			t.UTC().Format(amzDateFormat), v.cfg.Now().UTC().Format(amzDateFormat)))
	}
	return v.checkV2(ctx, r, key, sig, signedDate, t, false, time.Time{})
}

// verifyV2Query checks a SigV2 presigned URL: AWSAccessKeyId, Expires (Unix seconds) and
// Signature.
func (v *Verifier) verifyV2Query(ctx context.Context, r *http.Request, q url.Values) (*Auth, error) {
	if v.cfg.DisableSigV2 {
		return nil, ErrUnsupportedSignature
	}
	key, sig, exp := q.Get("AWSAccessKeyId"), q.Get("Signature"), q.Get("Expires")
	if key == "" || sig == "" || exp == "" {
		return nil, errorf(ErrAccessDenied, "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters")
	}
	secs, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || secs < 0 {
		return nil, errorf(ErrAccessDenied, "Invalid date (should be seconds since epoch): "+exp)
	}
	expires := time.Unix(secs, 0)
	if !v.cfg.Now().Before(expires) {
		return nil, ErrRequestExpired
	}
	// The signed resource leaves the authentication parameters out.
	stripped := *r
	u := *r.URL
	var kept []string
	for _, kv := range strings.Split(u.RawQuery, "&") {
		k, _, _ := strings.Cut(kv, "=")
		if k != "AWSAccessKeyId" && k != "Signature" && k != "Expires" && kv != "" {
			kept = append(kept, kv)
		}
	}
	u.RawQuery = strings.Join(kept, "&")
	stripped.URL = &u
	return v.checkV2(ctx, &stripped, key, sig, exp, expires, true, expires)
}

// checkV2 looks the key up and compares sig with the signature of r over date, counting
// a mismatch as a failed authentication.
func (v *Verifier) checkV2(ctx context.Context, r *http.Request, key, sig, date string, t time.Time, presigned bool, expires time.Time) (*Auth, error) {
	addr := clientAddr(r, v.cfg.TrustedProxies)
	if err := v.admit(key, addr); err != nil {
		return nil, err
	}
	presented, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		v.failed(reasonSignature, key, addr)
		return nil, ErrSignatureDoesNotMatch
	}
	secret, owner, err := v.lookup(ctx, key, addr)
	if err != nil {
		return nil, err
	}
	matched := false
	for _, path := range v2Paths(r) {
		matched = matched || hmac.Equal(v2Signature(secret, v2StringToSign(r, date, path)), presented)
	}
	if !matched {
		v.failed(reasonSignature, key, addr)
		return nil, ErrSignatureDoesNotMatch
	}
	v.limiter.succeeded(key, addr, v.cfg.Now())
	a := &Auth{AccessKey: key, Owner: owner, Date: t, Presigned: presigned, Expires: expires,
		ContentSHA256: PayloadUnsigned, ContentLength: r.ContentLength}
	if err := a.wrapBody(r, chunkSigner{}); err != nil {
		return nil, err
	}
	return a, nil
}
