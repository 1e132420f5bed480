package s3api

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The example of the S3 documentation's "Signing and authenticating REST requests"
// (Signature Version 2), path style.
const (
	v2DocKey    = "AKIAIOSFODNN7EXAMPLE"
	v2DocSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

func TestSigV2(t *testing.T) {
	docTime := time.Date(2007, 3, 27, 19, 36, 42, 0, time.UTC)
	creds := StaticCredentials{v2DocKey: {Secret: v2DocSecret, Owner: "o"}}
	verifier := func(cfg AuthConfig, now time.Time) *Verifier {
		cfg.Now = func() time.Time { return now }
		return NewVerifier(cfg, creds)
	}
	docRequest := func() *http.Request {
		r := httptest.NewRequest("GET", "http://s3.amazonaws.com/johnsmith/photos/puppy.jpg", nil)
		r.Header.Set("Date", "Tue, 27 Mar 2007 19:36:42 +0000")
		r.Header.Set("Authorization", "AWS "+v2DocKey+":bWq2s1WEIj+Ydj0vQ697zp+IXMU=")
		return r
	}
	if got := v2StringToSign(docRequest(), "Tue, 27 Mar 2007 19:36:42 +0000", "/johnsmith/photos/puppy.jpg"); got != "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg" {
		t.Fatalf("string to sign %q", got)
	}
	a, err := verifier(AuthConfig{}, docTime).Verify(context.Background(), docRequest())
	if err != nil || a.AccessKey != v2DocKey || a.Owner != "o" || a.ContentSHA256 != PayloadUnsigned {
		t.Fatalf("the documentation's request: %+v %v", a, err)
	}

	// A presigned URL of the same resource, made as clients make them.
	r := httptest.NewRequest("GET", "http://s3.amazonaws.com/johnsmith/photos/puppy.jpg", nil)
	sig := v2Signature(v2DocSecret, v2StringToSign(r, "1175024262", "/johnsmith/photos/puppy.jpg"))
	presign := func() *http.Request {
		r := httptest.NewRequest("GET", "http://s3.amazonaws.com/johnsmith/photos/puppy.jpg", nil)
		q := r.URL.Query()
		q.Set("AWSAccessKeyId", v2DocKey)
		q.Set("Expires", "1175024262")
		q.Set("Signature", base64.StdEncoding.EncodeToString(sig))
		r.URL.RawQuery = q.Encode()
		return r
	}
	if _, err := verifier(AuthConfig{}, time.Unix(1175024262, 0).Add(-time.Second)).Verify(context.Background(), presign()); err != nil {
		t.Fatalf("presigned before its expiry: %v", err)
	}
	if _, err := verifier(AuthConfig{}, time.Unix(1175024262, 0)).Verify(context.Background(), presign()); !errors.Is(err, ErrRequestExpired) {
		t.Fatalf("presigned at its expiry: %v, want ErrRequestExpired", err)
	}

	for name, mutate := range map[string]func(*http.Request){
		"method":      func(r *http.Request) { r.Method = "DELETE" },
		"path":        func(r *http.Request) { r.URL.Path += "x"; r.URL.RawPath = "" },
		"subresource": func(r *http.Request) { r.URL.RawQuery = "acl" },
		"amz header":  func(r *http.Request) { r.Header.Set("X-Amz-Copy-Source", "/other/k") },
		"not base64":  func(r *http.Request) { r.Header.Set("Authorization", "AWS "+v2DocKey+":!!") },
	} {
		r := docRequest()
		mutate(r)
		if _, err := verifier(AuthConfig{}, docTime).Verify(context.Background(), r); !errors.Is(err, ErrSignatureDoesNotMatch) {
			t.Errorf("%s changed: %v, want ErrSignatureDoesNotMatch", name, err)
		}
	}
	if _, err := verifier(AuthConfig{}, docTime.Add(16*time.Minute)).Verify(context.Background(), docRequest()); !errors.Is(err, ErrRequestTimeTooSkewed) {
		t.Errorf("16 minutes late: %v, want ErrRequestTimeTooSkewed", err)
	}
	off := AuthConfig{DisableSigV2: true}
	if _, err := verifier(off, docTime).Verify(context.Background(), docRequest()); !errors.Is(err, ErrUnsupportedSignature) {
		t.Errorf("header with SigV2 off: %v, want ErrUnsupportedSignature", err)
	}
	if _, err := verifier(off, time.Unix(1175024262, 0).Add(-time.Second)).Verify(context.Background(), presign()); !errors.Is(err, ErrUnsupportedSignature) {
		t.Errorf("query with SigV2 off: %v, want ErrUnsupportedSignature", err)
	}
}
