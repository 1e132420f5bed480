package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SigV4 names, as they appear on the wire.
const (
	// Algorithm is the only signing algorithm Stratus accepts.
	Algorithm = "AWS4-HMAC-SHA256"
	// ScopeTerminator ends every credential scope.
	ScopeTerminator = "aws4_request"
	// AmzDateFormat is the basic ISO 8601 form of X-Amz-Date.
	AmzDateFormat = "20060102T150405Z"
	// ScopeDateFormat is the date of the credential scope.
	ScopeDateFormat = "20060102"
	// EmptySHA256 is the hex SHA-256 of an empty payload.
	EmptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// Credential is the Credential component: accessKey/date/region/service/aws4_request.
type Credential struct {
	AccessKey string
	Date      string // yyyymmdd
	Region    string
	Service   string
}

// Scope is the credential scope without the access key, as it appears in strings to sign.
func (c Credential) Scope() string {
	return c.Date + "/" + c.Region + "/" + c.Service + "/" + ScopeTerminator
}

// String renders the credential as clients send it.
func (c Credential) String() string { return c.AccessKey + "/" + c.Scope() }

// ParseCredential splits a Credential value. The access key may not contain '/', which
// AWS and Stratus keys never do.
func ParseCredential(s string) (Credential, bool) {
	parts := strings.Split(s, "/")
	if len(parts) != 5 || parts[4] != ScopeTerminator {
		return Credential{}, false
	}
	c := Credential{AccessKey: parts[0], Date: parts[1], Region: parts[2], Service: parts[3]}
	if c.AccessKey == "" || c.Region == "" || c.Service == "" || !IsDigits(c.Date, 8) {
		return Credential{}, false
	}
	return c, true
}

// IsDigits reports whether s is n decimal digits.
func IsDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// SigningKey derives the key of one day, region and service from the secret.
func SigningKey(secret string, c Credential) []byte {
	k := HMACSHA256([]byte("AWS4"+secret), c.Date)
	k = HMACSHA256(k, c.Region)
	k = HMACSHA256(k, c.Service)
	return HMACSHA256(k, ScopeTerminator)
}

// HMACSHA256 is HMAC-SHA256 of data under key.
func HMACSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// Sign returns the hex signature of stringToSign.
func Sign(key []byte, stringToSign string) string {
	return hex.EncodeToString(HMACSHA256(key, stringToSign))
}

// SignatureEqual compares a computed and a presented hex signature in constant time.
func SignatureEqual(computed, presented string) bool {
	return hmac.Equal([]byte(computed), []byte(presented))
}

// SHA256Hex is the lower-case hex SHA-256 of s.
func SHA256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// StringToSign is the string a request signature covers.
func StringToSign(amzDate string, c Credential, canonicalRequest string) string {
	return Algorithm + "\n" + amzDate + "\n" + c.Scope() + "\n" + SHA256Hex(canonicalRequest)
}

// CanonicalRequest builds SigV4's canonical request from its parts.
func CanonicalRequest(method, uri, query, headers string, signedHeaders []string, payloadHash string) string {
	return method + "\n" + uri + "\n" + query + "\n" + headers + "\n" +
		strings.Join(signedHeaders, ";") + "\n" + payloadHash
}

// URIEncode percent-encodes s as SigV4 asks: every byte but A-Z a-z 0-9 - _ . ~ becomes %XX
// (upper-case hex); '/' is kept when encodeSlash is false (paths) and encoded otherwise
// (query names and values).
func URIEncode(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// CanonicalQuery renders a raw query string canonically: each name and value decoded and
// re-encoded with URIEncode, sorted by name then value, joined with '&'. skip names a
// parameter to leave out (X-Amz-Signature for presigned URLs).
func CanonicalQuery(rawQuery, skip string) string {
	if rawQuery == "" {
		return ""
	}
	type pair struct{ k, v string }
	var pairs []pair
	for part := range strings.SplitSeq(rawQuery, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, v = QueryUnescape(k), QueryUnescape(v)
		if k == skip {
			continue
		}
		pairs = append(pairs, pair{URIEncode(k, true), URIEncode(v, true)})
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// QueryUnescape decodes a query component as net/url does ('+' is a space); a malformed
// escape is kept as sent, so the signature check rejects it rather than the parser.
func QueryUnescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	u, err := url.QueryUnescape(s)
	if err != nil {
		return s
	}
	return u
}

// CanonicalHeaders renders the signed headers of r: "name:value\n" for each, in the order
// the client listed them. Values are trimmed and inner runs of spaces collapsed; several
// values of one header are joined with ','. Host, Content-Length and Transfer-Encoding are
// taken from where net/http keeps them.
func CanonicalHeaders(r *http.Request, signed []string) string {
	var b strings.Builder
	for _, name := range signed {
		b.WriteString(name)
		b.WriteByte(':')
		switch name {
		case "host":
			b.WriteString(trimAll(r.Host))
		case "content-length":
			if v := r.Header.Values("Content-Length"); len(v) > 0 {
				writeValues(&b, v)
			} else if r.ContentLength >= 0 {
				b.WriteString(strconv.FormatInt(r.ContentLength, 10))
			}
		case "transfer-encoding":
			if v := r.Header.Values("Transfer-Encoding"); len(v) > 0 {
				writeValues(&b, v)
			} else {
				b.WriteString(strings.Join(r.TransferEncoding, ","))
			}
		default:
			writeValues(&b, r.Header.Values(name))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func writeValues(b *strings.Builder, values []string) {
	for i, v := range values {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(trimAll(v))
	}
}

// trimAll trims s and collapses each inner run of spaces to one.
func trimAll(s string) string {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	space := false
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ParseAmzDate parses an X-Amz-Date value.
func ParseAmzDate(s string) (time.Time, bool) {
	t, err := time.Parse(AmzDateFormat, s)
	return t, err == nil
}

// IsHexSHA256 reports whether s is 64 lower- or upper-case hex digits.
func IsHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// IsLowerHex reports whether s is n lower-case hex digits.
func IsLowerHex(s string, n int) bool {
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
