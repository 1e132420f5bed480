package sigv4

import (
	"errors"
	"net/http"
	"testing"
)

// TestDocumentedExample signs the GET Object example of the S3 SigV4 documentation
// ("Example: GET Object", examplebucket, test.txt, bytes 0-9) and expects its signature.
func TestDocumentedExample(t *testing.T) {
	r, _ := http.NewRequest("GET", "http://examplebucket.s3.amazonaws.com/test.txt", nil)
	r.Header.Set("Range", "bytes=0-9")
	r.Header.Set("X-Amz-Content-Sha256", EmptySHA256)
	r.Header.Set("X-Amz-Date", "20130524T000000Z")
	signed := []string{"host", "range", "x-amz-content-sha256", "x-amz-date"}
	c := Credential{AccessKey: "AKIAIOSFODNN7EXAMPLE", Date: "20130524", Region: "us-east-1", Service: "s3"}
	creq := CanonicalRequest("GET", "/test.txt", CanonicalQuery(r.URL.RawQuery, ""), CanonicalHeaders(r, signed), signed, EmptySHA256)
	got := Sign(SigningKey("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", c), StringToSign("20130524T000000Z", c, creq))
	const want = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
	if !SignatureEqual(got, want) {
		t.Fatalf("signature = %s, want %s", got, want)
	}
}

func TestParseAuthorization(t *testing.T) {
	const sig = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
	h, err := ParseAuthorization("AWS4-HMAC-SHA256 Credential=AK/20240101/eu-west-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + sig)
	if err != nil {
		t.Fatal(err)
	}
	if h.Credential.Service != "ec2" || h.Credential.Region != "eu-west-1" || len(h.SignedHeaders) != 2 || h.Signature != sig {
		t.Fatalf("parsed %+v", h)
	}
	var m *MalformedError
	for _, bad := range []string{
		"AWS4-HMAC-SHA256 Credential=AK/2024/eu-west-1/ec2/aws4_request, SignedHeaders=host, Signature=" + sig,
		"AWS4-HMAC-SHA256 Credential=AK/20240101/eu-west-1/ec2/aws4_request, SignedHeaders=Host, Signature=" + sig,
		"AWS4-HMAC-SHA256 Credential=AK/20240101/eu-west-1/ec2/aws4_request, SignedHeaders=host",
	} {
		if _, err := ParseAuthorization(bad); !errors.As(err, &m) {
			t.Errorf("ParseAuthorization(%q) = %v, want a MalformedError", bad, err)
		}
	}
	if _, err := ParseAuthorization("AWS AK:sig"); !errors.Is(err, ErrNotSigV4) {
		t.Errorf("SigV2 header: %v, want ErrNotSigV4", err)
	}
}
