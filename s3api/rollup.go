package s3api

import (
	"strings"
	"unicode/utf8"
)

// The listings the catalog does not roll up itself (multipart uploads, object versions)
// fold keys into common prefixes here.

// maxKeyRune sorts after every character of a valid UTF-8 key, so "prefix"+maxKeyRune
// sorts after every key that starts with prefix.
const maxKeyRune = string(utf8.MaxRune)

// commonPrefix is the common prefix key rolls up into: prefix and what follows it up to
// and including the first delimiter; empty if there is no delimiter there.
func commonPrefix(key, prefix, delimiter string) string {
	if delimiter == "" || !strings.HasPrefix(key, prefix) {
		return ""
	}
	if i := strings.Index(key[len(prefix):], delimiter); i >= 0 {
		return key[:len(prefix)+i+len(delimiter)]
	}
	return ""
}
