package s3api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testSign signs r with the test key as a client would, from the documentation's recipe.
// It is the verifier's own canonicalisation, so it only serves tests of the checks around
// the signature; the signature itself is tested against the SDK and published vectors.
func testSign(r *http.Request, secret string, when time.Time, signed []string) {
	c := credential{AccessKey: "AK", Date: when.UTC().Format(scopeDateFormat), Region: "us-east-1", Service: "s3"}
	amzDate := when.UTC().Format(amzDateFormat)
	if r.Header.Get("Date") == "" || r.Header.Get("X-Amz-Date") != "" {
		r.Header.Set("X-Amz-Date", amzDate)
	}
	creq := canonicalRequest(r.Method, canonicalURIs(r)[0], canonicalQuery(r.URL.RawQuery, ""),
		canonicalHeaders(r, signed), signed, r.Header.Get("X-Amz-Content-Sha256"))
	sig := sign(signingKey(secret, c), stringToSign(amzDate, c, creq))
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+c.String()+", SignedHeaders="+strings.Join(signed, ";")+", Signature="+sig)
}

type credsFunc func(ctx context.Context, key string) (string, string, error)

func (f credsFunc) Lookup(ctx context.Context, key string) (string, string, error) {
	return f(ctx, key)
}

func TestVerifyChecks(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	good := StaticCredentials{"AK": {Secret: "s", Owner: "o"}}
	for _, tc := range []struct {
		name   string
		creds  Credentials
		build  func() *http.Request
		want   error
		status int // checked when not zero, through Lookup
	}{
		{name: "signed with Date only", build: func() *http.Request {
			r := httptest.NewRequest("GET", "http://h/b/k", nil)
			r.Header.Set("Date", now.Format(http.TimeFormat))
			r.Header.Set("X-Amz-Content-Sha256", EmptySHA256)
			testSign(r, "s", now, []string{"date", "host", "x-amz-content-sha256"})
			return r
		}},
		{name: "skew of exactly the limit", build: func() *http.Request {
			r := httptest.NewRequest("GET", "http://h/b/k", nil)
			r.Header.Set("X-Amz-Content-Sha256", EmptySHA256)
			testSign(r, "s", now.Add(-DefaultMaxClockSkew), []string{"host", "x-amz-content-sha256", "x-amz-date"})
			return r
		}},
		{name: "upper-case hex payload hash", build: func() *http.Request {
			r := httptest.NewRequest("GET", "http://h/b/k", nil)
			r.Header.Set("X-Amz-Content-Sha256", strings.ToUpper(EmptySHA256))
			testSign(r, "s", now, []string{"host", "x-amz-content-sha256", "x-amz-date"})
			return r
		}},
		{name: "no x-amz-content-sha256", want: ErrInvalidRequest, build: func() *http.Request {
			r := httptest.NewRequest("GET", "http://h/b/k", nil)
			testSign(r, "s", now, []string{"host", "x-amz-date"})
			return r
		}},
		{name: "bad x-amz-content-sha256", want: ErrInvalidContentSHA256, build: func() *http.Request {
			r := httptest.NewRequest("GET", "http://h/b/k", nil)
			r.Header.Set("X-Amz-Content-Sha256", "STREAMING-UNSIGNED-PAYLOAD")
			testSign(r, "s", now, []string{"host", "x-amz-content-sha256", "x-amz-date"})
			return r
		}},
		{name: "host not signed", want: ErrAuthorizationHeaderMalformed, build: func() *http.Request {
			r := httptest.NewRequest("GET", "http://h/b/k", nil)
			r.Header.Set("X-Amz-Content-Sha256", EmptySHA256)
			testSign(r, "s", now, []string{"x-amz-content-sha256", "x-amz-date"})
			return r
		}},
		{name: "x-amz-date not parseable", want: ErrMissingDate, status: 403, build: func() *http.Request {
			r := httptest.NewRequest("GET", "http://h/b/k", nil)
			r.Header.Set("X-Amz-Content-Sha256", EmptySHA256)
			testSign(r, "s", now, []string{"host", "x-amz-content-sha256", "x-amz-date"})
			r.Header.Set("X-Amz-Date", "2026-03-01T12:00:00Z")
			return r
		}},
		{name: "header and query auth together", want: ErrInvalidArgument, build: func() *http.Request {
			r := httptest.NewRequest("GET", "http://h/b/k?X-Amz-Signature=00", nil)
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 x")
			return r
		}},
		{name: "sigv2 presigned, expired", want: ErrRequestExpired, build: func() *http.Request {
			return httptest.NewRequest("GET", "http://h/b/k?AWSAccessKeyId=AK&Expires=1&Signature=x", nil)
		}},
		{name: "anonymous", want: ErrAnonymous, status: 403, build: func() *http.Request {
			return httptest.NewRequest("GET", "http://h/b/k", nil)
		}},
		{name: "streaming without decoded length", want: ErrMissingContentLength, status: 411, build: func() *http.Request {
			r := httptest.NewRequest("PUT", "http://h/b/k", strings.NewReader("0\r\n\r\n"))
			r.Header.Set("X-Amz-Content-Sha256", PayloadStreamingUnsignedTrailer)
			testSign(r, "s", now, []string{"host", "x-amz-content-sha256", "x-amz-date"})
			return r
		}},
		{name: "unknown trailer", want: ErrInvalidChecksum, build: func() *http.Request {
			r := httptest.NewRequest("PUT", "http://h/b/k", strings.NewReader("0\r\n\r\n"))
			r.Header.Set("X-Amz-Content-Sha256", PayloadStreamingUnsignedTrailer)
			r.Header.Set("X-Amz-Decoded-Content-Length", "0")
			r.Header.Set("X-Amz-Trailer", "x-amz-checksum-md4")
			testSign(r, "s", now, []string{"host", "x-amz-content-sha256", "x-amz-date", "x-amz-decoded-content-length", "x-amz-trailer"})
			return r
		}},
		{name: "streaming presigned", want: ErrInvalidRequest, build: func() *http.Request {
			return httptest.NewRequest("PUT", "http://h/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20260301%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260301T120000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature="+strings.Repeat("0", 64)+"&X-Amz-Content-Sha256="+PayloadStreaming, nil)
		}},
		{name: "credentials backend down", want: ErrServiceUnavailable, status: 503,
			creds: credsFunc(func(context.Context, string) (string, string, error) {
				return "", "", fmt.Errorf("meta: %w", ErrServiceUnavailable)
			}),
			build: func() *http.Request {
				r := httptest.NewRequest("GET", "http://h/b/k", nil)
				r.Header.Set("X-Amz-Content-Sha256", EmptySHA256)
				testSign(r, "s", now, []string{"host", "x-amz-content-sha256", "x-amz-date"})
				return r
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			creds := tc.creds
			if creds == nil {
				creds = good
			}
			v := NewVerifier(AuthConfig{Now: func() time.Time { return now }}, creds)
			a, err := v.Verify(context.Background(), tc.build())
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil {
				if _, err := io.ReadAll(a.Body); err != nil {
					t.Fatalf("body: %v", err)
				}
			}
			if tc.status != 0 {
				if api, _ := Lookup(err); api.HTTPStatus != tc.status {
					t.Errorf("status %d, want %d", api.HTTPStatus, tc.status)
				}
			}
		})
	}
}

// TestVerifyAnyRegion: with no Region configured, any region's scope is accepted and
// reported.
func TestVerifyAnyRegion(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r := httptest.NewRequest("GET", "http://h/b/k", nil)
	r.Header.Set("X-Amz-Content-Sha256", EmptySHA256)
	testSign(r, "s", now, []string{"host", "x-amz-content-sha256", "x-amz-date"})
	authz := r.Header.Get("Authorization")
	if !strings.Contains(authz, "/us-east-1/") {
		t.Fatal(authz)
	}
	v := NewVerifier(AuthConfig{Now: func() time.Time { return now }}, StaticCredentials{"AK": {Secret: "s"}})
	a, err := v.Verify(context.Background(), r)
	if err != nil || a.Region != "us-east-1" {
		t.Fatalf("Verify = %+v, %v", a, err)
	}
	v = NewVerifier(AuthConfig{Region: "stratus-1", Now: func() time.Time { return now }}, StaticCredentials{"AK": {Secret: "s"}})
	if _, err := v.Verify(context.Background(), r); !errors.Is(err, ErrAuthorizationHeaderMalformed) {
		t.Fatalf("wrong region: %v", err)
	}
}

// TestHashedBodyShort: a body shorter than its Content-Length is IncompleteBody, not a
// hash mismatch.
func TestHashedBodyShort(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := NewVerifier(AuthConfig{}, StaticCredentials{"AK": {Secret: "s"}}).Verify(r.Context(), r)
		if err == nil {
			_, err = io.ReadAll(a.Body)
		}
		api, _ := Lookup(err)
		w.Header().Set("Code", api.Code)
	}))
	defer srv.Close()
	// Send headers that promise 100 bytes, then close the connection after 10.
	r := httptest.NewRequest("PUT", srv.URL+"/b/k", nil)
	r.Host = strings.TrimPrefix(srv.URL, "http://")
	r.Header.Set("X-Amz-Content-Sha256", hexSHA256(make([]byte, 100)))
	r.ContentLength = 100
	testSign(r, "s", time.Now(), []string{"content-length", "host", "x-amz-content-sha256", "x-amz-date"})
	conn, err := (&net.Dialer{}).Dial("tcp", r.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var head strings.Builder
	head.WriteString("PUT /b/k HTTP/1.1\r\nHost: " + r.Host + "\r\nContent-Length: " + strconv.Itoa(100) + "\r\n")
	for _, k := range []string{"X-Amz-Content-Sha256", "X-Amz-Date", "Authorization"} {
		head.WriteString(k + ": " + r.Header.Get(k) + "\r\n")
	}
	head.WriteString("\r\n" + strings.Repeat("\x00", 10))
	if _, err := io.WriteString(conn, head.String()); err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Code"); got != "IncompleteBody" {
		t.Fatalf("short body: code %q, want IncompleteBody", got)
	}
}
