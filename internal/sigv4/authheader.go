package sigv4

import (
	"errors"
	"strings"
)

// ErrNotSigV4 is returned by ParseAuthorization for an Authorization header of another
// scheme (AWS signature version 2, Basic, an unknown algorithm).
var ErrNotSigV4 = errors.New("sigv4: not a SigV4 authorization header")

// MalformedError is returned by ParseAuthorization for a SigV4 header it cannot parse.
// Message is written for the client, in the words S3 and EC2 use.
type MalformedError struct{ Message string }

func (e *MalformedError) Error() string { return "sigv4: " + e.Message }

func malformed(msg string) error { return &MalformedError{Message: msg} }

// AuthHeader is a parsed SigV4 Authorization header.
type AuthHeader struct {
	Credential    Credential
	SignedHeaders []string // lower-case names, in the client's order
	Signature     string   // 64 lower-case hex digits
}

// String renders h as clients send it.
func (h AuthHeader) String() string {
	return Algorithm + " Credential=" + h.Credential.String() +
		", SignedHeaders=" + strings.Join(h.SignedHeaders, ";") +
		", Signature=" + h.Signature
}

// MaxAuthHeaderBytes bounds the header ParseAuthorization reads; real ones are a few
// hundred bytes.
const MaxAuthHeaderBytes = 8 << 10

// ParseAuthorization parses
//
//	AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=<hex>
//
// The three components may come in any order, separated by ',' with optional spaces; each
// must appear once. Errors are a *MalformedError, or ErrNotSigV4 for a header that is not
// SigV4.
func ParseAuthorization(s string) (AuthHeader, error) {
	if len(s) > MaxAuthHeaderBytes {
		return AuthHeader{}, malformed("The authorization header is too long.")
	}
	alg, rest, _ := strings.Cut(strings.TrimSpace(s), " ")
	if alg != Algorithm {
		return AuthHeader{}, ErrNotSigV4
	}
	var h AuthHeader
	var seenCred, seenHeaders, seenSig bool
	for part := range strings.SplitSeq(rest, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return AuthHeader{}, malformed("The authorization header is malformed; the component is not of the form key=value.")
		}
		switch k {
		case "Credential":
			c, ok := ParseCredential(v)
			if seenCred || !ok {
				return AuthHeader{}, malformed("The authorization header is malformed; the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".")
			}
			h.Credential, seenCred = c, true
		case "SignedHeaders":
			names, ok := ParseSignedHeaders(v)
			if seenHeaders || !ok {
				return AuthHeader{}, malformed("The authorization header is malformed; SignedHeaders is not a ';'-separated list of lower-case header names.")
			}
			h.SignedHeaders, seenHeaders = names, true
		case "Signature":
			if seenSig || !IsLowerHex(v, 64) {
				return AuthHeader{}, malformed("The authorization header is malformed; Signature is not 64 lower-case hex digits.")
			}
			h.Signature, seenSig = v, true
		default:
			return AuthHeader{}, malformed("The authorization header is malformed; unknown component.")
		}
	}
	if !seenCred || !seenHeaders || !seenSig {
		return AuthHeader{}, malformed("The authorization header is malformed; it must hold Credential, SignedHeaders and Signature.")
	}
	return h, nil
}

// ParseSignedHeaders splits a SignedHeaders value: non-empty, lower-case header tokens,
// no duplicates.
func ParseSignedHeaders(v string) ([]string, bool) {
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
