package s3api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Round trips against the AWS SDK's own signer: requests signed by aws-sdk-go-v2 go over a
// real HTTP connection on loopback to a handler that verifies them, so Host, Content-Length
// and path escaping reach the verifier as a server sees them.

const (
	sdkAccessKey = "STRATUSTESTKEY000001"
	sdkSecret    = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXg="
	sdkRegion    = "us-east-1"
)

var sdkCreds = aws.Credentials{AccessKeyID: sdkAccessKey, SecretAccessKey: sdkSecret}

// echoServer verifies each request and answers 200 with the payload it read, or S3's
// error body.
func echoServer(t *testing.T, now func() time.Time) *httptest.Server {
	t.Helper()
	v := NewVerifier(AuthConfig{Region: sdkRegion, Now: now},
		StaticCredentials{sdkAccessKey: {Secret: sdkSecret, Owner: "owner-1"}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := v.Verify(r.Context(), r)
		if err != nil {
			WriteError(w, r, "req-1", err)
			return
		}
		body, err := io.ReadAll(a.Body)
		if err != nil {
			WriteError(w, r, "req-1", err)
			return
		}
		if a.ContentLength >= 0 && int64(len(body)) != a.ContentLength {
			t.Errorf("read %d bytes, Auth.ContentLength %d", len(body), a.ContentLength)
		}
		for k, v := range a.Trailer {
			w.Header().Set("Echo-"+k, v[0])
		}
		w.Header().Set("Echo-Owner", a.Owner)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// result is what the echo server answered: 200 with the payload, or an S3 error code.
type result struct {
	status  int
	code    string
	message string
	body    []byte
	header  http.Header
}

func do(t *testing.T, r *http.Request) result {
	t.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	res := result{status: resp.StatusCode, body: body, header: resp.Header}
	if resp.StatusCode != http.StatusOK {
		var e ErrorResponse
		if r.Method != http.MethodHead {
			if err := xml.Unmarshal(body, &e); err != nil {
				t.Fatalf("error body %q: %v", body, err)
			}
		}
		res.code, res.message = e.Code, e.Message
	}
	return res
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// sdkSign signs r as the SDK's S3 client does (the path is sent escaped once and signed as
// sent).
func sdkSign(t *testing.T, r *http.Request, payloadHash string, when time.Time, creds aws.Credentials) {
	t.Helper()
	r.Header.Set("X-Amz-Content-Sha256", payloadHash)
	err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).
		SignHTTP(context.Background(), creds, r, payloadHash, "s3", sdkRegion, when)
	if err != nil {
		t.Fatal(err)
	}
}

// objectURL is srv's URL for bucket/key with the key escaped as S3 clients escape it.
func objectURL(srv *httptest.Server, key, query string) string {
	u := srv.URL + "/bucket/" + uriEncode(key, false)
	if query != "" {
		u += "?" + query
	}
	return u
}

func newRequest(t *testing.T, method, u string, body []byte) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	r, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSDKHeaderSignature(t *testing.T) {
	now := time.Now().UTC()
	srv := echoServer(t, func() time.Time { return now })
	body := []byte("hello, stratus")
	keys := []string{
		"plain.txt",
		"dir/sub dir/file with spaces.txt",
		"odd/!$&'()*+,;=:@[]~-_.key",
		"unicode/ünïcødé/☃.bin",
		"percent/100%/a%2Fb",
	}
	for _, key := range keys {
		t.Run("key="+key, func(t *testing.T) {
			r := newRequest(t, "PUT", objectURL(srv, key, "x-id=PutObject&tagging=a%3Db"), body)
			r.Header.Set("X-Amz-Meta-Color", "  blue   and  green ")
			r.Header.Set("Content-Type", "text/plain")
			sdkSign(t, r, hexSHA256(body), now, sdkCreds)
			if res := do(t, r); res.status != 200 || !bytes.Equal(res.body, body) || res.header.Get("Echo-Owner") != "owner-1" {
				t.Fatalf("signed PUT: %d %s %s", res.status, res.code, res.message)
			}
		})
	}

	t.Run("path escaped otherwise by the client", func(t *testing.T) {
		// Signed as sent: '+', '!' and '*' unescaped, which SigV4's own encoding escapes.
		r := newRequest(t, "PUT", srv.URL+"/bucket/a+b!c*d%20e", body)
		sdkSign(t, r, hexSHA256(body), now, sdkCreds)
		if res := do(t, r); res.status != 200 {
			t.Fatalf("signed PUT: %d %s %s", res.status, res.code, res.message)
		}
	})

	for _, tc := range []struct {
		name   string
		mutate func(r *http.Request)
		when   time.Time
		creds  aws.Credentials
		code   string
	}{
		{name: "method", code: "SignatureDoesNotMatch", mutate: func(r *http.Request) { r.Method = "POST" }},
		{name: "path", code: "SignatureDoesNotMatch", mutate: func(r *http.Request) { r.URL.Path += "x"; r.URL.RawPath = "" }},
		{name: "query value", code: "SignatureDoesNotMatch", mutate: func(r *http.Request) { r.URL.RawQuery = "tagging=a%3Dc" }},
		{name: "query added", code: "SignatureDoesNotMatch", mutate: func(r *http.Request) { r.URL.RawQuery += "&acl" }},
		{name: "signed header", code: "SignatureDoesNotMatch", mutate: func(r *http.Request) { r.Header.Set("Content-Type", "text/html") }},
		{name: "unsigned x-amz header added", code: "AccessDenied", mutate: func(r *http.Request) { r.Header.Set("X-Amz-Copy-Source", "/other/secret") }},
		{name: "body", code: "XAmzContentSHA256Mismatch", mutate: func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader("hello, stratuS"))
		}},
		{name: "secret", code: "SignatureDoesNotMatch", creds: aws.Credentials{AccessKeyID: sdkAccessKey, SecretAccessKey: "wrong"}},
		{name: "unknown key", code: "InvalidAccessKeyId", creds: aws.Credentials{AccessKeyID: "NOSUCHKEY", SecretAccessKey: sdkSecret}},
		{name: "date 20 minutes old", code: "RequestTimeTooSkewed", when: now.Add(-20 * time.Minute)},
		{name: "date 20 minutes ahead", code: "RequestTimeTooSkewed", when: now.Add(20 * time.Minute)},
		{name: "x-amz-date changed", code: "SignatureDoesNotMatch", mutate: func(r *http.Request) {
			r.Header.Set("X-Amz-Date", now.Add(time.Second).Format(amzDateFormat))
		}},
		{name: "region", code: "AuthorizationHeaderMalformed", mutate: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/us-east-1/", "/eu-west-1/", 1))
		}},
		{name: "forged sigv2", code: "SignatureDoesNotMatch", mutate: func(r *http.Request) { r.Header.Set("Authorization", "AWS "+sdkAccessKey+":c2lnbmF0dXJl") }},
		{name: "anonymous", code: "AccessDenied", mutate: func(r *http.Request) { r.Header.Del("Authorization") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRequest(t, "PUT", objectURL(srv, "a/b.txt", "tagging=a%3Db"), body)
			r.Header.Set("Content-Type", "text/plain")
			when, creds := tc.when, tc.creds
			if when.IsZero() {
				when = now
			}
			if creds.AccessKeyID == "" {
				creds = sdkCreds
			}
			sdkSign(t, r, hexSHA256(body), when, creds)
			if tc.mutate != nil {
				tc.mutate(r)
			}
			if res := do(t, r); res.code != tc.code {
				t.Fatalf("got %d %s (%s), want %s", res.status, res.code, res.message, tc.code)
			}
		})
	}
}

func TestSDKUnsignedPayload(t *testing.T) {
	now := time.Now().UTC()
	srv := echoServer(t, func() time.Time { return now })
	body := bytes.Repeat([]byte("0123456789"), 10000)
	r := newRequest(t, "PUT", objectURL(srv, "big.bin", ""), body)
	sdkSign(t, r, PayloadUnsigned, now, sdkCreds)
	if res := do(t, r); res.status != 200 || !bytes.Equal(res.body, body) {
		t.Fatalf("UNSIGNED-PAYLOAD PUT: %d %s", res.status, res.code)
	}
}

func TestSDKPresigned(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	srv := echoServer(t, func() time.Time { return now })
	presign := func(t *testing.T, method, u string, expires time.Duration, when time.Time, hdr http.Header) string {
		t.Helper()
		r := newRequest(t, method, u, nil)
		q := r.URL.Query()
		q.Set("X-Amz-Expires", strconv.Itoa(int(expires/time.Second)))
		r.URL.RawQuery = q.Encode()
		for k, v := range hdr {
			r.Header[k] = v
		}
		payloadHash := PayloadUnsigned
		if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" {
			payloadHash = h
		}
		signed, _, err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).
			PresignHTTP(context.Background(), sdkCreds, r, payloadHash, "s3", sdkRegion, when)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	key := "photos/2026/a b+c.jpg"
	get := presign(t, "GET", objectURL(srv, key, "response-content-type=image%2Fjpeg"), time.Hour, now, nil)

	t.Run("GET", func(t *testing.T) {
		if res := do(t, newRequest(t, "GET", get, nil)); res.status != 200 {
			t.Fatalf("presigned GET: %d %s %s", res.status, res.code, res.message)
		}
	})
	t.Run("PUT with a signed header", func(t *testing.T) {
		put := presign(t, "PUT", objectURL(srv, key, ""), time.Hour, now, http.Header{"Content-Type": {"image/jpeg"}})
		r := newRequest(t, "PUT", put, []byte("jpeg bytes"))
		r.Header.Set("Content-Type", "image/jpeg")
		if res := do(t, r); res.status != 200 || string(res.body) != "jpeg bytes" {
			t.Fatalf("presigned PUT: %d %s %s", res.status, res.code, res.message)
		}
		r = newRequest(t, "PUT", put, []byte("jpeg bytes"))
		r.Header.Set("Content-Type", "text/html")
		if res := do(t, r); res.code != "SignatureDoesNotMatch" {
			t.Fatalf("presigned PUT with another content type: %d %s", res.status, res.code)
		}
	})
	t.Run("unsigned x-amz header added", func(t *testing.T) {
		r := newRequest(t, "GET", get, nil)
		r.Header.Set("X-Amz-Copy-Source", "/other/secret")
		if res := do(t, r); res.code != "AccessDenied" {
			t.Fatalf("got %d %s", res.status, res.code)
		}
	})
	t.Run("PUT with a signed payload hash", func(t *testing.T) {
		body := []byte("hashed presigned body")
		put := presign(t, "PUT", objectURL(srv, key, ""), time.Hour, now, http.Header{"X-Amz-Content-Sha256": {hexSHA256(body)}})
		r := newRequest(t, "PUT", put, body)
		r.Header.Set("X-Amz-Content-Sha256", hexSHA256(body))
		if res := do(t, r); res.status != 200 {
			t.Fatalf("presigned hashed PUT: %d %s %s", res.status, res.code, res.message)
		}
		r = newRequest(t, "PUT", put, []byte("hashed presigned bodY"))
		r.Header.Set("X-Amz-Content-Sha256", hexSHA256(body))
		if res := do(t, r); res.code != "XAmzContentSHA256Mismatch" {
			t.Fatalf("presigned hashed PUT, other body: %d %s", res.status, res.code)
		}
	})
	for _, tc := range []struct {
		name, url, method, code, message string
	}{
		{name: "method", url: get, method: "DELETE", code: "SignatureDoesNotMatch"},
		{name: "path", url: strings.Replace(get, "a%20b", "a%20c", 1), code: "SignatureDoesNotMatch"},
		{name: "query", url: strings.Replace(get, "image%2Fjpeg", "text%2Fhtml", 1), code: "SignatureDoesNotMatch"},
		{name: "expired", url: presign(t, "GET", objectURL(srv, key, ""), time.Hour, now.Add(-time.Hour-time.Second), nil),
			code: "AccessDenied", message: "Request has expired"},
		{name: "expires over 7 days", url: presign(t, "GET", objectURL(srv, key, ""), MaxPresignExpiry+time.Second, now, nil),
			code: "AuthorizationQueryParametersError"},
		{name: "7 days is allowed", url: presign(t, "GET", objectURL(srv, key, ""), MaxPresignExpiry, now.Add(-MaxPresignExpiry+time.Minute), nil)},
		{name: "signature removed", url: stripParam(get, "X-Amz-Signature"), code: "AuthorizationQueryParametersError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.method
			if m == "" {
				m = "GET"
			}
			res := do(t, newRequest(t, m, tc.url, nil))
			if res.code != tc.code || (tc.message != "" && res.message != tc.message) {
				t.Fatalf("got %d %s %q, want %s %q", res.status, res.code, res.message, tc.code, tc.message)
			}
		})
	}
}

func stripParam(raw, name string) string {
	u, _ := url.Parse(raw)
	q := u.Query()
	q.Del(name)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestSDKStreaming sends aws-chunked bodies whose seed is the signature the SDK's signer
// put in the Authorization header, framed by the test encoder.
func TestSDKStreaming(t *testing.T) {
	now := time.Now().UTC()
	srv := echoServer(t, func() time.Time { return now })
	data := randomBytes(200_000, 9)
	for _, tc := range []struct {
		name, payload string
		signed        bool
		trailers      []string
		tamperCode    string
	}{
		{name: "signed", payload: PayloadStreaming, signed: true, tamperCode: "SignatureDoesNotMatch"},
		{name: "signed trailer", payload: PayloadStreamingTrailer, signed: true, trailers: []string{"x-amz-checksum-crc32c"}, tamperCode: "SignatureDoesNotMatch"},
		{name: "unsigned trailer", payload: PayloadStreamingUnsignedTrailer, trailers: []string{"x-amz-checksum-crc32"}, tamperCode: "BadDigest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := encOptions{
				signed: tc.signed, chunkSize: 64 << 10, trailerMode: tc.payload != PayloadStreaming, trailers: tc.trailers,
				key:     testSigningKey(sdkSecret, now.Format(scopeDateFormat), sdkRegion),
				amzDate: now.Format(amzDateFormat), scope: now.Format(scopeDateFormat) + "/" + sdkRegion + "/s3/aws4_request",
				seed: strings.Repeat("0", 64),
			}
			send := func(tamper bool) result {
				r := newRequest(t, "PUT", objectURL(srv, "stream/obj", ""), nil)
				r.ContentLength = int64(len(encodeChunked(data, o)))
				r.Header.Set("Content-Encoding", "aws-chunked")
				r.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(data)))
				if len(tc.trailers) > 0 {
					r.Header.Set("X-Amz-Trailer", tc.trailers[0])
				}
				sdkSign(t, r, tc.payload, now, sdkCreds)
				authz := r.Header.Get("Authorization")
				o.seed = authz[strings.LastIndex(authz, "Signature=")+len("Signature="):]
				body := encodeChunked(data, o)
				if tamper {
					body[len(body)/2] ^= 1
				}
				r.Body = io.NopCloser(bytes.NewReader(body))
				return do(t, r)
			}
			res := send(false)
			if res.status != 200 || !bytes.Equal(res.body, data) {
				t.Fatalf("streaming PUT: %d %s %s", res.status, res.code, res.message)
			}
			for _, n := range tc.trailers {
				if res.header.Get("Echo-"+n) == "" {
					t.Errorf("trailer %s not reported", n)
				}
			}
			if res := send(true); res.code != tc.tamperCode {
				t.Fatalf("tampered streaming PUT: %d %s %s, want %s", res.status, res.code, res.message, tc.tamperCode)
			}
		})
	}
}
