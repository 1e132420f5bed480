package s3policy

import (
	"os/exec"
	"strings"
	"testing"
)

// benchPolicy is a policy of the usual shape: grants to another account on a prefix, a
// public read from one network, a deny on a secret prefix and a TLS-only rule.
const benchPolicy = `{"Version":"2012-10-17","Statement":[
 {"Sid":"Other","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::other:root"},"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::photos","arn:aws:s3:::photos/shared/*"]},
 {"Sid":"Office","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/public/*","Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","127.0.0.0/8"]}}},
 {"Sid":"Secret","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::photos/secret/*"},
 {"Sid":"TLS","Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::photos/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`

func BenchmarkEvaluate(b *testing.B) {
	p := mustParse(b, benchPolicy)
	ctx := MapContext{"aws:sourceip": {"127.0.0.1"}, "aws:securetransport": {"false"}}
	r := Request{Action: "s3:GetObject", Key: "public/2026/12/cat.jpg", Context: ctx}
	b.ReportAllocs()
	for b.Loop() {
		if p.Evaluate(r) != Allow {
			b.Fatal("not allowed")
		}
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse([]byte(benchPolicy), "photos"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestImportsNothingOfOurs keeps the package pure: the policy language has no business
// with HTTP, the catalog or the S3 front end that uses it.
func TestImportsNothingOfOurs(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "stratus/s3api/s3policy").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, d := range strings.Fields(string(out)) {
		if strings.HasPrefix(d, "stratus/") && d != "stratus/s3api/s3policy" {
			t.Errorf("s3policy imports %s", d)
		}
		if d == "net/http" || d == "log/slog" {
			t.Errorf("s3policy imports %s: it does no I/O and no logging", d)
		}
	}
}
