package s3api

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	meta "stratus/meta/client"
)

// verdictCase builds requests for bucketPolicyVerdict as the server would see them.
type verdictCase struct {
	account string
	method  string
	target  string // path and query
	remote  string // RemoteAddr
	tls     bool
	header  map[string]string
}

func (vc verdictCase) request() *request {
	method := vc.method
	if method == "" {
		method = "GET"
	}
	r := httptest.NewRequest(method, "http://s3.test"+vc.target, nil)
	r.RemoteAddr = vc.remote
	if r.RemoteAddr == "" {
		r.RemoteAddr = "127.0.0.1:40000"
	}
	if vc.tls {
		r.TLS = &tls.ConnectionState{Version: tls.VersionTLS13}
	}
	for k, v := range vc.header {
		r.Header.Set(k, v)
	}
	return &request{r: r, account: vc.account}
}

func policyDoc(statements ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(statements, ",") + `]}`
}

func TestBucketPolicyVerdict(t *testing.T) {
	s := NewServer(DefaultServerConfig(), nil, nil, nil)
	b := meta.Bucket{Name: "photos", Owner: "tester", AccessPolicy: policyDoc(
		`{"Sid":"OtherReadsShared","Effect":"Allow","Principal":{"AWS":"other"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/shared/*"}`,
		`{"Sid":"NobodyDeletesKeep","Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::photos/keep/*"}`,
		`{"Sid":"LoopbackReadsPublic","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/public/*","Condition":{"IpAddress":{"aws:SourceIp":["127.0.0.0/8","::1/128"]}}}`,
		`{"Sid":"TLSWrites","Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::photos/secure/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`,
		`{"Sid":"ListHome","Effect":"Allow","Principal":{"AWS":"other"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::photos","Condition":{"StringLike":{"s3:prefix":"home/other/*"},"NumericLessThanEquals":{"s3:max-keys":"100"}}}`,
		`{"Sid":"PublicReadACLOnly","Effect":"Deny","Principal":{"AWS":"other"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::photos/drop/*","Condition":{"StringNotEquals":{"s3:x-amz-acl":"bucket-owner-full-control"}}}`,
		`{"Sid":"NoCurl","Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/nocurl/*","Condition":{"StringLike":{"aws:UserAgent":"curl/*"}}}`,
		`{"Sid":"ByArn","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/arn/*","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::oth*:root"}}}`,
		`{"Sid":"HeaderSigned","Effect":"Allow","Principal":{"AWS":"other"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/signed/*","Condition":{"StringEquals":{"s3:authType":"REST-HEADER","s3:signatureversion":"AWS4-HMAC-SHA256"}}}`,
	)}
	sigv4 := map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=AKIA/20261205/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00"}
	for _, tc := range []struct {
		name   string
		vc     verdictCase
		action string
		key    string
		want   policyVerdict
	}{
		{"granted account, granted prefix", verdictCase{account: "other"}, "s3:GetObject", "shared/a.jpg", verdictAllow},
		{"granted account, other prefix", verdictCase{account: "other", remote: "192.0.2.9:1"}, "s3:GetObject", "private/a.jpg", verdictNone},
		{"granted account, other action", verdictCase{account: "other"}, "s3:PutObject", "shared/a.jpg", verdictNone},
		{"third account", verdictCase{account: "third", remote: "192.0.2.9:1"}, "s3:GetObject", "shared/a.jpg", verdictNone},
		{"deny binds the owner", verdictCase{account: "tester"}, "s3:DeleteObject", "keep/x", verdictDeny},
		{"deny binds anonymous", verdictCase{}, "s3:DeleteObject", "keep/x", verdictDeny},
		{"anonymous from loopback", verdictCase{}, "s3:GetObject", "public/x", verdictAllow},
		{"anonymous from IPv6 loopback", verdictCase{remote: "[::1]:5000"}, "s3:GetObject", "public/x", verdictAllow},
		{"anonymous from elsewhere", verdictCase{remote: "192.0.2.9:5000"}, "s3:GetObject", "public/x", verdictNone},
		{"plain-HTTP write to secure/", verdictCase{account: "tester", method: "PUT"}, "s3:PutObject", "secure/x", verdictDeny},
		{"TLS write to secure/", verdictCase{account: "tester", method: "PUT", tls: true}, "s3:PutObject", "secure/x", verdictNone},
		{"list own home", verdictCase{account: "other", target: "/photos?prefix=home/other/&max-keys=50"}, "s3:ListBucket", "", verdictAllow},
		{"list too many", verdictCase{account: "other", target: "/photos?prefix=home/other/&max-keys=500"}, "s3:ListBucket", "", verdictNone},
		{"list without max-keys", verdictCase{account: "other", target: "/photos?prefix=home/other/"}, "s3:ListBucket", "", verdictNone},
		{"list another home", verdictCase{account: "other", target: "/photos?prefix=home/tester/&max-keys=5"}, "s3:ListBucket", "", verdictNone},
		{"drop without the ACL", verdictCase{account: "other", method: "PUT"}, "s3:PutObject", "drop/x", verdictDeny},
		{"drop with the ACL", verdictCase{account: "other", method: "PUT", header: map[string]string{"x-amz-acl": "bucket-owner-full-control"}}, "s3:PutObject", "drop/x", verdictNone},
		{"curl refused", verdictCase{account: "tester", header: map[string]string{"User-Agent": "curl/8.5.0"}}, "s3:GetObject", "nocurl/x", verdictDeny},
		{"other agent", verdictCase{account: "tester", header: map[string]string{"User-Agent": "aws-sdk-go-v2/1.0"}}, "s3:GetObject", "nocurl/x", verdictNone},
		{"principal ARN", verdictCase{account: "other", remote: "192.0.2.9:1"}, "s3:GetObject", "arn/x", verdictAllow},
		{"principal ARN, other account", verdictCase{account: "third", remote: "192.0.2.9:1"}, "s3:GetObject", "arn/x", verdictNone},
		{"principal ARN, anonymous", verdictCase{remote: "192.0.2.9:1"}, "s3:GetObject", "arn/x", verdictNone},
		{"header-signed", verdictCase{account: "other", header: sigv4}, "s3:GetObject", "signed/x", verdictAllow},
		{"signature version 2", verdictCase{account: "other", header: map[string]string{"Authorization": "AWS AKIA:c2ln"}}, "s3:GetObject", "signed/x", verdictNone},
		{"presigned", verdictCase{account: "other", target: "/photos/signed/x?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00"}, "s3:GetObject", "signed/x", verdictNone},
	} {
		rq := tc.vc.request()
		got, err := s.bucketPolicyVerdict(rq, b, tc.action, tc.key)
		if err != nil || got != tc.want {
			t.Errorf("%s: verdict %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

func TestBucketPolicyVerdictNoPolicy(t *testing.T) {
	s := NewServer(DefaultServerConfig(), nil, nil, nil)
	got, err := s.bucketPolicyVerdict(verdictCase{account: "other"}.request(), meta.Bucket{Name: "photos", Owner: "tester"}, "s3:GetObject", "a")
	if got != verdictNone || err != nil {
		t.Fatalf("no policy: %v %v", got, err)
	}
}

// The owner can always read, replace and delete the policy: a policy that denies
// everything to everyone cannot lock the bucket away for good.
func TestBucketPolicyOwnerKeepsPolicyActions(t *testing.T) {
	s := NewServer(DefaultServerConfig(), nil, nil, nil)
	b := meta.Bucket{Name: "photos", Owner: "tester", AccessPolicy: policyDoc(
		`{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::photos","arn:aws:s3:::photos/*"]}`)}
	for _, tc := range []struct {
		account, action string
		want            policyVerdict
	}{
		{"tester", "s3:PutBucketPolicy", verdictNone},
		{"tester", "s3:GetBucketPolicy", verdictNone},
		{"tester", "s3:DeleteBucketPolicy", verdictNone},
		{"tester", "s3:GetBucketPolicyStatus", verdictDeny},
		{"tester", "s3:ListBucket", verdictDeny},
		{"other", "s3:PutBucketPolicy", verdictDeny},
		{"", "s3:GetBucketPolicy", verdictDeny},
	} {
		got, _ := s.bucketPolicyVerdict(verdictCase{account: tc.account}.request(), b, tc.action, "")
		if got != tc.want {
			t.Errorf("%q %s: %v, want %v", tc.account, tc.action, got, tc.want)
		}
	}
}

func TestBucketPolicyRestrictPublicBuckets(t *testing.T) {
	s := NewServer(DefaultServerConfig(), nil, nil, nil)
	b := meta.Bucket{Name: "photos", Owner: "tester", AccessPolicy: policyDoc(
		`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`,
		`{"Effect":"Allow","Principal":{"AWS":"other"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::photos/*"}`,
		`{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/secret"}`)}
	check := func(account, action, key string, want policyVerdict) {
		t.Helper()
		got, err := s.bucketPolicyVerdict(verdictCase{account: account}.request(), b, action, key)
		if err != nil || got != want {
			t.Errorf("%q %s %s: %v %v, want %v", account, action, key, got, err, want)
		}
	}
	check("", "s3:GetObject", "a", verdictAllow)
	check("other", "s3:PutObject", "a", verdictAllow)
	b.PublicAccess = &meta.PublicAccessBlock{RestrictPublicBuckets: true}
	check("", "s3:GetObject", "a", verdictNone)
	check("other", "s3:GetObject", "a", verdictNone)
	check("other", "s3:PutObject", "a", verdictNone) // cross-account grants go too, public or not
	check("tester", "s3:GetObject", "a", verdictAllow)
	check("other", "s3:GetObject", "secret", verdictDeny) // denials stay
	// A policy that is not public is not restricted.
	b.AccessPolicy = policyDoc(`{"Effect":"Allow","Principal":{"AWS":"other"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::photos/*"}`)
	check("other", "s3:PutObject", "a", verdictAllow)
}

// A stored document that does not parse denies everything (but the owner's policy
// actions) and says so in the log, once.
func TestBucketPolicyBrokenFailsClosed(t *testing.T) {
	var logs bytes.Buffer
	cfg := DefaultServerConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	s := NewServer(cfg, nil, nil, nil)
	b := meta.Bucket{Name: "photos", Owner: "tester", AccessPolicy: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::elsewhere/*"}]}`}
	for range 3 {
		for _, account := range []string{"", "other", "tester"} {
			if got, err := s.bucketPolicyVerdict(verdictCase{account: account}.request(), b, "s3:GetObject", "a"); got != verdictDeny || err != nil {
				t.Fatalf("%q: %v %v, want a denial", account, got, err)
			}
		}
	}
	if got, _ := s.bucketPolicyVerdict(verdictCase{account: "tester"}.request(), b, "s3:DeleteBucketPolicy", ""); got != verdictNone {
		t.Fatalf("owner's DeleteBucketPolicy: %v", got)
	}
	if n := strings.Count(logs.String(), "stored bucket policy does not parse"); n != 1 {
		t.Fatalf("logged %d times, want once:\n%s", n, logs.String())
	}
}

// The parsed policy is reused while the document stays the same, and replaced when it
// changes.
func TestBucketPolicyCache(t *testing.T) {
	var c policyCache
	doc1 := policyDoc(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`)
	doc2 := policyDoc(`{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`)
	p1, err := c.get("photos", doc1, func(err error) { t.Fatal(err) })
	if err != nil {
		t.Fatal(err)
	}
	again, _ := c.get("photos", strings.Clone(doc1), nil) // nil: it must not parse again
	if again != p1 {
		t.Fatal("same document parsed again")
	}
	p2, _ := c.get("photos", doc2, func(err error) { t.Fatal(err) })
	if p2 == p1 || !p1.IsPublic() || p2.IsPublic() {
		t.Fatal("changed document not parsed again")
	}
	for i := range policyCacheSize + 10 {
		c.get("b"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+itoa(int64(i)), doc1, func(error) {})
	}
	if len(c.m) > policyCacheSize {
		t.Fatalf("cache holds %d entries, bound %d", len(c.m), policyCacheSize)
	}
}

func BenchmarkBucketPolicyVerdict(b *testing.B) {
	s := NewServer(DefaultServerConfig(), nil, nil, nil)
	bucket := meta.Bucket{Name: "photos", Owner: "tester", AccessPolicy: policyDoc(
		`{"Sid":"Other","Effect":"Allow","Principal":{"AWS":"other"},"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::photos","arn:aws:s3:::photos/shared/*"]}`,
		`{"Sid":"Office","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/public/*","Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","127.0.0.0/8"]}}}`,
		`{"Sid":"Secret","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::photos/secret/*"}`,
		`{"Sid":"TLS","Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::photos/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`)}
	rq := verdictCase{}.request()
	b.ReportAllocs()
	for b.Loop() {
		if v, _ := s.bucketPolicyVerdict(rq, bucket, "s3:GetObject", "public/2026/cat.jpg"); v != verdictAllow {
			b.Fatal(v)
		}
	}
}

// What each condition key reads from a request.
func TestPolicyContextValues(t *testing.T) {
	const absent = "<absent>"
	for _, tc := range []struct {
		vc   verdictCase
		key  string
		want string // absent: the request has no such key
	}{
		{verdictCase{remote: "192.0.2.7:4444"}, "aws:sourceip", "192.0.2.7"},
		{verdictCase{remote: "[2001:db8::5]:4444"}, "aws:sourceip", "2001:db8::5"},
		{verdictCase{}, "aws:securetransport", "false"},
		{verdictCase{tls: true}, "aws:securetransport", "true"},
		{verdictCase{tls: true}, "s3:tlsversion", "1.3"},
		{verdictCase{}, "s3:tlsversion", absent},
		{verdictCase{account: "other"}, "aws:principalaccount", "other"},
		{verdictCase{}, "aws:principalaccount", absent},
		{verdictCase{}, "aws:principaltype", "Anonymous"},
		{verdictCase{account: "other"}, "aws:principalarn", "arn:aws:iam::other:root"},
		{verdictCase{}, "s3:resourceaccount", "tester"},
		{verdictCase{header: map[string]string{"User-Agent": "boto3/1.34"}}, "aws:useragent", "boto3/1.34"},
		{verdictCase{header: map[string]string{"Referer": "https://example.com/"}}, "aws:referer", "https://example.com/"},
		{verdictCase{target: "/photos?prefix=a%2Fb&delimiter=%2F&max-keys=7"}, "s3:prefix", "a/b"},
		{verdictCase{target: "/photos?prefix=a%2Fb&delimiter=%2F&max-keys=7"}, "s3:delimiter", "/"},
		{verdictCase{target: "/photos?prefix=a%2Fb&delimiter=%2F&max-keys=7"}, "s3:max-keys", "7"},
		{verdictCase{target: "/photos?prefix="}, "s3:prefix", ""}, // present, and empty
		{verdictCase{target: "/photos"}, "s3:prefix", absent},
		{verdictCase{target: "/photos/k?versionId=123"}, "s3:versionid", "123"},
		{verdictCase{header: map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=x"}}, "s3:authtype", "REST-HEADER"},
		{verdictCase{header: map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=x"}}, "s3:signatureversion", "AWS4-HMAC-SHA256"},
		{verdictCase{header: map[string]string{"Authorization": "AWS AKIA:c2ln"}}, "s3:signatureversion", "AWS"},
		{verdictCase{target: "/photos/k?AWSAccessKeyId=AKIA&Signature=c2ln&Expires=1"}, "s3:signatureversion", "AWS"},
		{verdictCase{target: "/photos/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00"}, "s3:authtype", "REST-QUERY-STRING"},
		{verdictCase{}, "s3:authtype", absent},
		{verdictCase{}, "s3:signatureversion", absent},
		{verdictCase{header: map[string]string{"x-amz-acl": "private"}}, "s3:x-amz-acl", "private"},
		{verdictCase{header: map[string]string{"x-amz-copy-source": "/src/key"}}, "s3:x-amz-copy-source", "/src/key"},
		{verdictCase{header: map[string]string{"x-amz-server-side-encryption": "AES256"}}, "s3:x-amz-server-side-encryption", "AES256"},
		{verdictCase{header: map[string]string{"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}}, "s3:x-amz-content-sha256", "UNSIGNED-PAYLOAD"},
		{verdictCase{}, "s3:x-amz-acl", absent},
		{verdictCase{}, "s3:existingobjecttag/team", absent},
		{verdictCase{}, "aws:sourcevpce", absent},
	} {
		vals, ok := policyContext{rq: tc.vc.request(), owner: "tester"}.Value(tc.key)
		got := absent
		if ok {
			got = strings.Join(vals, ",")
		}
		if got != tc.want {
			t.Errorf("%s of %+v: %q (present %v), want %q", tc.key, tc.vc, got, ok, tc.want)
		}
	}
	// The clock keys are now.
	vals, _ := policyContext{rq: verdictCase{}.request()}.Value("aws:epochtime")
	if n, err := strconv.ParseInt(vals[0], 10, 64); err != nil || time.Since(time.Unix(n, 0)).Abs() > time.Minute {
		t.Errorf("aws:EpochTime %v", vals)
	}
	vals, _ = policyContext{rq: verdictCase{}.request()}.Value("aws:currenttime")
	if ct, err := time.Parse(time.RFC3339, vals[0]); err != nil || time.Since(ct).Abs() > time.Minute {
		t.Errorf("aws:CurrentTime %v", vals)
	}
}
