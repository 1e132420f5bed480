package s3api

import (
	"net"
	"strings"
	"unicode/utf8"
)

// MaxKeyBytes is S3's limit on an object key.
const MaxKeyBytes = 1024

// checkBucketName applies S3's rules for bucket names: 3-63 characters of lower-case
// letters, digits, dots and hyphens, starting and ending with a letter or digit, no "..",
// not shaped like an IP address, and none of the reserved prefixes and suffixes.
func checkBucketName(name string) error {
	bad := func(why string) error {
		return errorf(ErrInvalidBucketName, "The specified bucket is not valid: "+why+".")
	}
	if len(name) < 3 || len(name) > 63 {
		return bad("a bucket name is 3 to 63 characters long")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return bad("only lower-case letters, digits, dots and hyphens")
		}
	}
	first, last := name[0], name[len(name)-1]
	if first == '.' || first == '-' || last == '.' || last == '-' {
		return bad("it must start and end with a letter or digit")
	}
	if strings.Contains(name, "..") || strings.Contains(name, ".-") || strings.Contains(name, "-.") {
		return bad("no adjacent dots, or dots next to hyphens")
	}
	if net.ParseIP(name) != nil {
		return bad("it must not look like an IP address")
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return bad("the prefix " + p + " is reserved")
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3"} {
		if strings.HasSuffix(name, s) {
			return bad("the suffix " + s + " is reserved")
		}
	}
	return nil
}

// checkKey applies S3's rules for object keys: valid UTF-8 of at most 1024 bytes. NUL is
// refused too: no S3 client sends it on purpose, and refusing it keeps every layer below
// free of it. "../" and the like are ordinary characters of a key: keys never become
// file paths.
func checkKey(key string) error {
	switch {
	case len(key) > MaxKeyBytes:
		return errorf(ErrKeyTooLong, "Your key is too long: at most 1024 bytes.")
	case !utf8.ValidString(key):
		return errorf(ErrInvalidObjectName, "Object key is not valid UTF-8.")
	case strings.IndexByte(key, 0) >= 0:
		return errorf(ErrInvalidObjectName, "Object key must not contain NUL.")
	}
	return nil
}

// CheckBucketName reports why name is not a valid S3 bucket name, or nil: for tools that
// create buckets without going through the S3 API.
func CheckBucketName(name string) error { return checkBucketName(name) }
