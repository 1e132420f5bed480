package s3api

import (
	"net/http"
	"time"

	"stratus/internal/sigv4"
)

// SigV4 names, as they appear on the wire. The algorithm itself is in internal/sigv4,
// shared with the EC2 API; what is S3's own (the service name, payload modes, the single
// encoding of paths) stays here.
const (
	// Algorithm is the only signing algorithm Stratus accepts.
	Algorithm = sigv4.Algorithm
	// ServiceS3 is the service name in the credential scope.
	ServiceS3 = "s3"

	// amzDateFormat is the basic ISO 8601 form of X-Amz-Date.
	amzDateFormat = sigv4.AmzDateFormat
	// scopeDateFormat is the date of the credential scope.
	scopeDateFormat = sigv4.ScopeDateFormat

	// EmptySHA256 is the hex SHA-256 of an empty payload.
	EmptySHA256 = sigv4.EmptySHA256
)

// Values of x-amz-content-sha256 other than a hex SHA-256.
const (
	// PayloadUnsigned: the body is not covered by the signature.
	PayloadUnsigned = "UNSIGNED-PAYLOAD"
	// PayloadStreaming: aws-chunked body, every chunk signed.
	PayloadStreaming = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	// PayloadStreamingTrailer: aws-chunked body, every chunk and the trailer signed.
	PayloadStreamingTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	// PayloadStreamingUnsignedTrailer: aws-chunked body, nothing signed, a checksum trailer.
	PayloadStreamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

// Header names SigV4 reads.
const (
	headerAuthorization        = "Authorization"
	headerAmzDate              = "X-Amz-Date"
	headerContentSHA256        = "X-Amz-Content-Sha256"
	headerDecodedContentLength = "X-Amz-Decoded-Content-Length"
	headerTrailer              = "X-Amz-Trailer"
)

// credential is the Credential component: accessKey/date/region/service/aws4_request.
type credential = sigv4.Credential

// The algorithm's steps, under the names this package's code and tests use.
func parseCredential(s string) (credential, bool)   { return sigv4.ParseCredential(s) }
func signingKey(secret string, c credential) []byte { return sigv4.SigningKey(secret, c) }
func sign(key []byte, stringToSign string) string   { return sigv4.Sign(key, stringToSign) }
func signatureEqual(computed, presented string) bool {
	return sigv4.SignatureEqual(computed, presented)
}
func sha256Hex(s string) string                   { return sigv4.SHA256Hex(s) }
func uriEncode(s string, encodeSlash bool) string { return sigv4.URIEncode(s, encodeSlash) }
func canonicalQuery(rawQuery, skip string) string { return sigv4.CanonicalQuery(rawQuery, skip) }
func canonicalHeaders(r *http.Request, signed []string) string {
	return sigv4.CanonicalHeaders(r, signed)
}
func stringToSign(amzDate string, c credential, canonicalRequest string) string {
	return sigv4.StringToSign(amzDate, c, canonicalRequest)
}
func canonicalRequest(method, uri, query, headers string, signedHeaders []string, payloadHash string) string {
	return sigv4.CanonicalRequest(method, uri, query, headers, signedHeaders, payloadHash)
}
func isHexSHA256(s string) bool       { return sigv4.IsHexSHA256(s) }
func isLowerHex(s string, n int) bool { return sigv4.IsLowerHex(s, n) }

// canonicalURIs returns the canonical URIs to try for r, best first. S3 signs the path
// encoded once (never twice, unlike other services): the SigV4 encoding of the decoded path.
// A client that sent the path with a different but valid escaping may have signed that
// escaping instead, so the escaped path as received is the second candidate.
func canonicalURIs(r *http.Request) []string {
	p := r.URL.Path
	if p == "" {
		p = "/"
	}
	first := uriEncode(p, false)
	raw := r.URL.EscapedPath()
	if raw == "" {
		raw = "/"
	}
	if raw == first {
		return []string{first}
	}
	return []string{first, raw}
}

// parseAmzDate parses an X-Amz-Date value.
func parseAmzDate(s string) (time.Time, bool) { return sigv4.ParseAmzDate(s) }
