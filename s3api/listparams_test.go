package s3api_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

var errorMessageRE = regexp.MustCompile(`<Message>([^<]*)</Message>`)

// TestListParameterErrors: ListObjects, ListObjectsV2, ListObjectVersions,
// ListMultipartUploads and ListParts refuse bad parameters with S3's InvalidArgument and its
// messages: a max-keys (max-uploads, max-parts, part-number-marker) that is negative (worded
// per listing) or not a 32-bit integer, a bad continuation token, a version-id marker
// without a key marker or that is no version ID; good edge values are served.
func TestListParameterErrors(t *testing.T) {
	c, cl, ctx := withBucket(t, "params")
	up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("params"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	parts := "params/k?uploadId=" + url.QueryEscape(aws.ToString(up.UploadId)) + "&"
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
		{"uploads&max-uploads=-1", "Argument max-uploads must be an integer between 0 and 2147483647"},
		{"uploads&max-uploads=2147483648", "Provided max-uploads not an integer or within integer range"},
		{"uploads&max-uploads=2147483647", ""},
		{parts + "max-parts=-1", "Argument max-parts must be an integer between 0 and 2147483647"},
		{parts + "max-parts=x", "Provided max-parts not an integer or within integer range"},
		{parts + "part-number-marker=2147483648", "Provided part-number-marker not an integer or within integer range"},
		{parts + "max-parts=2147483647&part-number-marker=0", ""},
	} {
		path := "/params?" + tc.query
		if strings.HasPrefix(tc.query, "params/") {
			path = "/" + tc.query
		}
		st, body := status(t, signed(t, c, http.MethodGet, path, "", time.Now()))
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
	// As S3 does, the error names the argument and echoes its value.
	for query, want := range map[string]string{
		"list-type=2&max-keys=abc":                    "<ArgumentName>max-keys</ArgumentName><ArgumentValue>abc</ArgumentValue>",
		"uploads&max-uploads=-1":                      "<ArgumentName>max-uploads</ArgumentName><ArgumentValue>-1</ArgumentValue>",
		"versions&key-marker=k&version-id-marker=zzz": "<ArgumentName>version-id-marker</ArgumentName><ArgumentValue>zzz</ArgumentValue>",
		"encoding-type=%3Cb%3E":                       "<ArgumentName>encoding-type</ArgumentName><ArgumentValue>&lt;b&gt;</ArgumentValue>",
	} {
		if _, body := status(t, signed(t, c, http.MethodGet, "/params?"+query, "", time.Now())); !strings.Contains(body, want) {
			t.Errorf("?%s: %s, want %s", query, body, want)
		}
	}
}
