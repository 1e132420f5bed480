package s3api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The examples of Amazon S3's SigV4 documentation ("Examples: Signature Calculations",
// "Authenticating Requests: Using Query Parameters", "Transferring Payload in Multiple
// Chunks", "Including Trailing Headers"). They all use this key, this clock and us-east-1.
const (
	docAccessKey = "AKIAIOSFODNN7EXAMPLE"
	docSecret    = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	docScope     = "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"
)

var docTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

func docVerifier(now time.Time) *Verifier {
	return NewVerifier(AuthConfig{Region: "us-east-1", Now: func() time.Time { return now }},
		StaticCredentials{docAccessKey: {Secret: docSecret, Owner: "example"}})
}

func docAuthorization(signedHeaders, signature string) string {
	return "AWS4-HMAC-SHA256 Credential=" + docScope + ",SignedHeaders=" + signedHeaders + ",Signature=" + signature
}

func TestDocumentedHeaderSignatures(t *testing.T) {
	for _, tc := range []struct {
		name, method, url, body string
		headers                 map[string]string
		signedHeaders, sig      string
	}{
		{
			name: "GET object with range", method: "GET", url: "http://examplebucket.s3.amazonaws.com/test.txt",
			headers: map[string]string{
				"Range":                "bytes=0-9",
				"X-Amz-Content-Sha256": EmptySHA256,
				"X-Amz-Date":           "20130524T000000Z",
			},
			signedHeaders: "host;range;x-amz-content-sha256;x-amz-date",
			sig:           "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
		},
		{
			name: "PUT object, path needs encoding", method: "PUT", url: "http://examplebucket.s3.amazonaws.com/test$file.text",
			body: "Welcome to Amazon S3.",
			headers: map[string]string{
				"Date":                 "Fri, 24 May 2013 00:00:00 GMT",
				"X-Amz-Date":           "20130524T000000Z",
				"X-Amz-Storage-Class":  "REDUCED_REDUNDANCY",
				"X-Amz-Content-Sha256": "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
			},
			signedHeaders: "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
			sig:           "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
		},
		{
			name: "GET bucket lifecycle, valueless query", method: "GET", url: "http://examplebucket.s3.amazonaws.com/?lifecycle",
			headers: map[string]string{
				"X-Amz-Content-Sha256": EmptySHA256,
				"X-Amz-Date":           "20130524T000000Z",
			},
			signedHeaders: "host;x-amz-content-sha256;x-amz-date",
			sig:           "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
		},
		{
			name: "GET bucket listing, sorted query", method: "GET", url: "http://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J",
			headers: map[string]string{
				"X-Amz-Content-Sha256": EmptySHA256,
				"X-Amz-Date":           "20130524T000000Z",
			},
			signedHeaders: "host;x-amz-content-sha256;x-amz-date",
			sig:           "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			newReq := func() *http.Request {
				r := httptest.NewRequest(tc.method, tc.url, strings.NewReader(tc.body))
				for k, v := range tc.headers {
					r.Header.Set(k, v)
				}
				r.Header.Set("Authorization", docAuthorization(tc.signedHeaders, tc.sig))
				return r
			}
			a, err := docVerifier(docTime).Verify(context.Background(), newReq())
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if a.AccessKey != docAccessKey || a.Owner != "example" || a.Region != "us-east-1" || !a.Date.Equal(docTime) {
				t.Errorf("Auth = %+v", a)
			}
			got, err := io.ReadAll(a.Body)
			if err != nil || string(got) != tc.body {
				t.Errorf("body = %q, %v; want %q", got, err, tc.body)
			}

			// One changed bit of anything signed must fail.
			r := newReq()
			r.Header.Set("Authorization", docAuthorization(tc.signedHeaders, flipHex(tc.sig)))
			if _, err := docVerifier(docTime).Verify(context.Background(), r); !errors.Is(err, ErrSignatureDoesNotMatch) {
				t.Errorf("flipped signature: err = %v", err)
			}
			r = newReq()
			r.Method = "DELETE"
			if _, err := docVerifier(docTime).Verify(context.Background(), r); !errors.Is(err, ErrSignatureDoesNotMatch) {
				t.Errorf("changed method: err = %v", err)
			}
			r = newReq()
			r.Host = "otherbucket.s3.amazonaws.com"
			if _, err := docVerifier(docTime).Verify(context.Background(), r); !errors.Is(err, ErrSignatureDoesNotMatch) {
				t.Errorf("changed host: err = %v", err)
			}
		})
	}
}

func TestDocumentedPresignedURL(t *testing.T) {
	const u = "http://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256" +
		"&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
		"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host" +
		"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
	for _, tc := range []struct {
		name string
		url  string
		now  time.Time
		want error
	}{
		{"valid at signing", u, docTime, nil},
		{"valid a second before expiry", u, docTime.Add(24*time.Hour - time.Second), nil},
		{"expired", u, docTime.Add(24*time.Hour + time.Second), ErrRequestExpired},
		{"dated in the future", u, docTime.Add(-time.Hour), ErrRequestNotYetValid},
		{"tampered expiry", strings.Replace(u, "Expires=86400", "Expires=86401", 1), docTime, ErrSignatureDoesNotMatch},
		{"added parameter", u + "&response-content-type=text%2Fhtml", docTime, ErrSignatureDoesNotMatch},
		{"other key", strings.Replace(u, "test.txt", "test.txu", 1), docTime, ErrSignatureDoesNotMatch},
		{"expiry above 7 days", strings.Replace(u, "Expires=86400", "Expires=604801", 1), docTime, ErrAuthorizationQueryMalformed},
		{"missing date", strings.Replace(u, "&X-Amz-Date=20130524T000000Z", "", 1), docTime, ErrAuthorizationQueryMalformed},
		{"algorithm", strings.Replace(u, "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1", 1), docTime, ErrAuthorizationQueryMalformed},
		{"wrong service", strings.Replace(u, "%2Fs3%2F", "%2Fec2%2F", 1), docTime, ErrAuthorizationQueryMalformed},
		{"scope date not the request date", strings.Replace(u, "%2F20130524%2F", "%2F20130525%2F", 1), docTime, ErrAuthorizationQueryMalformed},
		{"unknown key", strings.Replace(u, "AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLF", 1), docTime, ErrInvalidAccessKeyID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tc.url, nil)
			a, err := docVerifier(tc.now).Verify(context.Background(), r)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Verify: err = %v, want %v", err, tc.want)
			}
			if err == nil && (!a.Presigned || !a.Expires.Equal(docTime.Add(24*time.Hour)) || a.ContentSHA256 != PayloadUnsigned) {
				t.Errorf("Auth = %+v", a)
			}
		})
	}
}

// docChunkedRequest is the documentation's chunked PUT: 66560 bytes of 'a' in chunks of
// 64 KiB, 1 KiB and 0.
func docChunkedRequest(body []byte) *http.Request {
	r := httptest.NewRequest("PUT", "http://s3.amazonaws.com/examplebucket/chunkObject.txt", bytes.NewReader(body))
	r.Header.Set("X-Amz-Date", "20130524T000000Z")
	r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	r.Header.Set("X-Amz-Content-Sha256", PayloadStreaming)
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", "66560")
	r.Header.Set("Content-Length", "66824")
	r.ContentLength = 66824
	r.Header.Set("Authorization", docAuthorization(
		"content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class",
		"4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"))
	return r
}

var docChunkSignatures = []string{
	"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
	"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
	"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
}

// docChunkedBody frames 66560 bytes of 'a' with the given chunk signatures and trailer text.
func docChunkedBody(sigs []string, trailer string) []byte {
	var b bytes.Buffer
	b.WriteString("10000;chunk-signature=" + sigs[0] + "\r\n")
	b.Write(bytes.Repeat([]byte("a"), 65536))
	b.WriteString("\r\n400;chunk-signature=" + sigs[1] + "\r\n")
	b.Write(bytes.Repeat([]byte("a"), 1024))
	b.WriteString("\r\n0;chunk-signature=" + sigs[2] + "\r\n" + trailer + "\r\n")
	return b.Bytes()
}

func TestDocumentedChunkedUpload(t *testing.T) {
	body := docChunkedBody(docChunkSignatures, "")
	if len(body) != 66824 {
		t.Fatalf("documented body is %d bytes, want 66824", len(body))
	}
	a, err := docVerifier(docTime).Verify(context.Background(), docChunkedRequest(body))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if a.ContentLength != 66560 || a.ContentSHA256 != PayloadStreaming {
		t.Errorf("Auth = %+v", a)
	}
	got, err := io.ReadAll(a.Body)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, bytes.Repeat([]byte("a"), 66560)) {
		t.Errorf("decoded %d bytes, not the documented payload", len(got))
	}

	// The second chunk's signature is wrong: the first chunk still reads, then the error.
	bad := docChunkedBody([]string{docChunkSignatures[0], flipHex(docChunkSignatures[1]), docChunkSignatures[2]}, "")
	a, err = docVerifier(docTime).Verify(context.Background(), docChunkedRequest(bad))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if _, err := io.ReadAll(a.Body); !errors.Is(err, ErrSignatureDoesNotMatch) {
		t.Errorf("tampered chunk signature: err = %v", err)
	}
}

// TestDocumentedSignedTrailer decodes the trailing-header example from its seed: the same
// payload with a crc32c trailer and a trailer signature.
func TestDocumentedSignedTrailer(t *testing.T) {
	sigs := []string{
		"b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
		"1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
		"2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
	}
	const trailer = "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n"
	c, _ := parseCredential(docScope)
	cfg := chunkedConfig{
		DecodedLength: 66560,
		Signed:        true,
		Trailer:       true,
		TrailerNames:  []string{"x-amz-checksum-crc32c"},
		Signer: chunkSigner{
			key: signingKey(docSecret, c), amzDate: "20130524T000000Z", scope: c.Scope(),
			seed: "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
		},
		Out: http.Header{},
	}
	for _, tc := range []struct {
		name    string
		trailer string
		want    error
	}{
		{"documented", trailer, nil},
		{"checksum lines ending in LF", strings.Replace(trailer, "==\r\n", "==\n", 1), nil},
		{"wrong trailer signature", strings.Replace(trailer, "signature:d81f", "signature:d81e", 1), ErrSignatureDoesNotMatch},
		{"changed checksum", strings.Replace(trailer, "sOO8/Q==", "sOO8/A==", 1), ErrSignatureDoesNotMatch},
		{"no trailer signature", "x-amz-checksum-crc32c:sOO8/Q==\r\n", ErrSignatureDoesNotMatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg.Out = http.Header{}
			r := newChunkedReader(io.NopCloser(bytes.NewReader(docChunkedBody(sigs, tc.trailer))), cfg)
			got, err := io.ReadAll(r)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil {
				return
			}
			if len(got) != 66560 || cfg.Out.Get("x-amz-checksum-crc32c") != "sOO8/Q==" {
				t.Errorf("decoded %d bytes, trailer %v", len(got), cfg.Out)
			}
		})
	}
}

// flipHex changes the last hex digit of a signature.
func flipHex(s string) string {
	last := s[len(s)-1]
	if last == '0' {
		return s[:len(s)-1] + "1"
	}
	return s[:len(s)-1] + "0"
}
