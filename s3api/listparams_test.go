package s3api_test

import (
	"net/http"
	"regexp"
	"testing"
	"time"
)

var errorMessageRE = regexp.MustCompile(`<Message>([^<]*)</Message>`)

// TestListParameterErrors: ListObjects, ListObjectsV2 and ListObjectVersions refuse bad
// parameters with S3's InvalidArgument and its messages: a max-keys that is negative (worded
// per listing) or not a 32-bit integer, a bad continuation token, a version-id marker
// without a key marker or that is no version ID; good edge values are served.
func TestListParameterErrors(t *testing.T) {
	c, _, _ := withBucket(t, "params")
	const (
		notInt      = "Provided max-keys not an integer or within integer range"
		negative    = "Argument maxKeys must be an integer between 0 and 2147483647"
		negativeVer = "max-keys cannot be negative"
		badToken    = "The continuation token provided is incorrect."
	)
	for _, tc := range []struct{ query, message string }{
		{"list-type=2&max-keys=-1", negative},
		{"max-keys=-1", negative},
		{"versions&max-keys=-1", negativeVer},
		{"list-type=2&max-keys=abc", notInt},
		{"list-type=2&max-keys=2147483648", notInt},
		{"max-keys=1.5", notInt},
		{"versions&max-keys=99999999999", notInt},
		{"list-type=2&continuation-token=%21%21%21", badToken},
		{"list-type=2&continuation-token=", badToken},
		{"versions&version-id-marker=01a24488d2c70000", "A version-id marker cannot be specified without a key marker."},
		{"versions&key-marker=k&version-id-marker=zzz", "Invalid version id specified"},
		{"versions&key-marker=k&version-id-marker=zzz&delimiter=/", "Invalid version id specified"},
		{"versions&encoding-type=bogus", "Invalid Encoding Method specified in Request."},
		{"list-type=2&max-keys=2147483647", ""},
		{"versions&key-marker=k&version-id-marker=null", ""},
		{"versions&key-marker=k&version-id-marker=01a24488d2c70000", ""},
	} {
		st, body := status(t, signed(t, c, http.MethodGet, "/params?"+tc.query, "", time.Now()))
		if tc.message == "" {
			if st != http.StatusOK {
				t.Errorf("?%s: %d %s, want 200", tc.query, st, body)
			}
			continue
		}
		code, msg := errorCodeRE.FindStringSubmatch(body), errorMessageRE.FindStringSubmatch(body)
		if st != http.StatusBadRequest || code == nil || code[1] != "InvalidArgument" || msg == nil || msg[1] != tc.message {
			t.Errorf("?%s: %d %s, want 400 InvalidArgument %q", tc.query, st, body, tc.message)
		}
	}
}
