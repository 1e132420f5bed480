package s3api

import "strings"

// s3URLEncode renders a key, prefix, delimiter or marker as S3 does for encoding-type=url:
// form encoding (a space becomes "+") except that "/" and "*" stay as they are and every
// other byte outside A-Z a-z 0-9 - _ . is percent-encoded ("~" included). Clients decode it
// with a form decoder (botocore's unquote_plus, Go's url.QueryUnescape), which maps it back
// exactly.
func s3URLEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '/', c == '*':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}
