package s3api

import (
	"strings"
)

// authHeader is a parsed SigV4 Authorization header.
type authHeader struct {
	Credential    credential
	SignedHeaders []string // lower-case names, in the client's order
	Signature     string   // 64 lower-case hex digits
}

// String renders h as clients send it.
func (h authHeader) String() string {
	return Algorithm + " Credential=" + h.Credential.String() +
		", SignedHeaders=" + strings.Join(h.SignedHeaders, ";") +
		", Signature=" + h.Signature
}

// maxAuthHeaderBytes bounds the header we parse; real ones are a few hundred bytes.
const maxAuthHeaderBytes = 8 << 10

// parseAuthorization parses
//
//	AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=<hex>
//
// The three components may come in any order, separated by ',' with optional spaces; each
// must appear once. Errors match ErrAuthorizationHeaderMalformed, or ErrUnsupportedSignature
// for a header that is not SigV4.
func parseAuthorization(s string) (authHeader, error) {
	if len(s) > maxAuthHeaderBytes {
		return authHeader{}, errorf(ErrAuthorizationHeaderMalformed, "The authorization header is too long.")
	}
	alg, rest, _ := strings.Cut(strings.TrimSpace(s), " ")
	if alg != Algorithm {
		return authHeader{}, ErrUnsupportedSignature
	}
	var h authHeader
	var seenCred, seenHeaders, seenSig bool
	for part := range strings.SplitSeq(rest, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return authHeader{}, errorf(ErrAuthorizationHeaderMalformed, "The authorization header is malformed; the component is not of the form key=value.")
		}
		switch k {
		case "Credential":
			c, ok := parseCredential(v)
			if seenCred || !ok {
				return authHeader{}, errorf(ErrAuthorizationHeaderMalformed, "The authorization header is malformed; the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".")
			}
			h.Credential, seenCred = c, true
		case "SignedHeaders":
			names, ok := parseSignedHeaders(v)
			if seenHeaders || !ok {
				return authHeader{}, errorf(ErrAuthorizationHeaderMalformed, "The authorization header is malformed; SignedHeaders is not a ';'-separated list of lower-case header names.")
			}
			h.SignedHeaders, seenHeaders = names, true
		case "Signature":
			if seenSig || !isLowerHex(v, 64) {
				return authHeader{}, errorf(ErrAuthorizationHeaderMalformed, "The authorization header is malformed; Signature is not 64 lower-case hex digits.")
			}
			h.Signature, seenSig = v, true
		default:
			return authHeader{}, errorf(ErrAuthorizationHeaderMalformed, "The authorization header is malformed; unknown component.")
		}
	}
	if !seenCred || !seenHeaders || !seenSig {
		return authHeader{}, errorf(ErrAuthorizationHeaderMalformed, "The authorization header is malformed; it must hold Credential, SignedHeaders and Signature.")
	}
	return h, nil
}

// parseSignedHeaders splits a SignedHeaders value: non-empty, lower-case header tokens,
// no duplicates.
func parseSignedHeaders(v string) ([]string, bool) {
	if v == "" {
		return nil, false
	}
	names := strings.Split(v, ";")
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if n == "" || seen[n] || !isLowerToken(n) {
			return nil, false
		}
		seen[n] = true
	}
	return names, true
}

// isLowerToken reports whether s is an HTTP header name token without upper-case letters.
func isLowerToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return s != ""
}

// isLowerHex reports whether s is n lower-case hex digits.
func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
