package s3api

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// The subresources that pick an Object Lock or access-control operation are part of a
// SigV2 signature: a presigned URL for one operation (say DELETE of the bucket) must not
// serve another (DELETE ?publicAccessBlock) with the same signature.
func TestSigV2SignsNewSubresources(t *testing.T) {
	now := time.Unix(1175024262, 0).Add(-time.Second)
	creds := StaticCredentials{v2DocKey: {Secret: v2DocSecret, Owner: "o"}}
	v := NewVerifier(AuthConfig{Now: func() time.Time { return now }}, creds)
	for _, target := range []string{"/johnsmith", "/johnsmith/photos/puppy.jpg"} {
		r := httptest.NewRequest("DELETE", "http://s3.amazonaws.com"+target, nil)
		sig := v2Signature(v2DocSecret, v2StringToSign(r, "1175024262", target))
		presigned := "AWSAccessKeyId=" + v2DocKey + "&Expires=1175024262&Signature=" + urlQueryEscape(sig)
		r.URL.RawQuery = presigned
		if _, err := v.Verify(context.Background(), r); err != nil {
			t.Fatalf("%s as presigned: %v", target, err)
		}
		for _, sub := range []string{"publicAccessBlock", "ownershipControls", "object-lock", "retention", "legal-hold"} {
			r := httptest.NewRequest("DELETE", "http://s3.amazonaws.com"+target, nil)
			r.URL.RawQuery = sub + "&" + presigned
			if _, err := v.Verify(context.Background(), r); !errors.Is(err, ErrSignatureDoesNotMatch) {
				t.Errorf("%s?%s under the signature of %s: %v, want ErrSignatureDoesNotMatch", target, sub, target, err)
			}
		}
	}
}

func urlQueryEscape(sig []byte) string {
	return url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
}
