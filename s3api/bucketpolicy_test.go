package s3api_test

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"stratus/internal/testcluster"
	metaclient "stratus/meta/client"
)

func bucketPolicyDoc(statements ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(statements, ",") + `]}`
}

// storedPolicy reads the bucket policy from the catalog, behind the S3 API's back.
func storedPolicy(t *testing.T, c *testcluster.S3, bucket string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, _, err := c.Meta.Bucket(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	return b.AccessPolicy
}

// errMessage returns the S3 error message of err, or "".
func errMessage(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorMessage()
	}
	return ""
}

func TestBucketPolicyPutGetDelete(t *testing.T) {
	c, cl, ctx := withBucket(t, "photos")
	other := c.AddAccount(t, "other")
	ocl := accountClient(c, other)
	bucket := aws.String("photos")

	if _, err := cl.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: bucket}); code(err) != "NoSuchBucketPolicy" {
		t.Fatalf("get before any put: %v", err)
	}
	if _, err := cl.GetBucketPolicyStatus(ctx, &s3.GetBucketPolicyStatusInput{Bucket: bucket}); code(err) != "NoSuchBucketPolicy" {
		t.Fatalf("status before any put: %v", err)
	}

	// Kept byte for byte, whitespace and all.
	granted := "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": {\"Sid\": \"OtherReads\", \"Effect\": \"Allow\", \"Principal\": {\"AWS\": \"arn:aws:iam::other:root\"},\n" +
		"    \"Action\": \"s3:GetObject\", \"Resource\": \"arn:aws:s3:::photos/shared/*\"}\n}"
	if _, err := cl.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: bucket, Policy: aws.String(granted)}); err != nil {
		t.Fatal(err)
	}
	got, err := cl.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: bucket})
	if err != nil || aws.ToString(got.Policy) != granted {
		t.Fatalf("get: %q %v, want %q", aws.ToString(got.Policy), err, granted)
	}
	if s := storedPolicy(t, c, "photos"); s != granted {
		t.Fatalf("stored %q", s)
	}
	st, err := cl.GetBucketPolicyStatus(ctx, &s3.GetBucketPolicyStatusInput{Bucket: bucket})
	if err != nil || aws.ToBool(st.PolicyStatus.IsPublic) {
		t.Fatalf("status of an account grant: %+v %v, want not public", st, err)
	}

	// Only the owner reads, changes or removes the policy.
	public := bucketPolicyDoc(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`)
	if _, err := ocl.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: bucket, Policy: aws.String(public)}); code(err) != "AccessDenied" {
		t.Fatalf("other account's put: %v", err)
	}
	if _, err := ocl.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: bucket}); code(err) != "AccessDenied" {
		t.Fatalf("other account's get: %v", err)
	}
	if _, err := ocl.GetBucketPolicyStatus(ctx, &s3.GetBucketPolicyStatusInput{Bucket: bucket}); code(err) != "AccessDenied" {
		t.Fatalf("other account's status: %v", err)
	}
	if _, err := ocl.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: bucket}); code(err) != "AccessDenied" {
		t.Fatalf("other account's delete: %v", err)
	}
	for _, method := range []string{"GET", "PUT", "DELETE"} {
		req, _ := http.NewRequestWithContext(ctx, method, c.Endpoint+"/photos?policy", strings.NewReader(public))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("anonymous %s ?policy: %s", method, resp.Status)
		}
	}
	if _, err := cl.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("nosuch"), Policy: aws.String(public)}); code(err) != "NoSuchBucket" {
		t.Fatalf("put on a missing bucket: %v", err)
	}
	if s := storedPolicy(t, c, "photos"); s != granted {
		t.Fatalf("refused requests changed the policy: %q", s)
	}

	// A public policy replaces it, and the status says so.
	if _, err := cl.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: bucket, Policy: aws.String(public)}); err != nil {
		t.Fatal(err)
	}
	st, err = cl.GetBucketPolicyStatus(ctx, &s3.GetBucketPolicyStatusInput{Bucket: bucket})
	if err != nil || !aws.ToBool(st.PolicyStatus.IsPublic) {
		t.Fatalf("status of a public policy: %+v %v", st, err)
	}

	if _, err := cl.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: bucket}); code(err) != "NoSuchBucketPolicy" {
		t.Fatalf("get after delete: %v", err)
	}
	if s := storedPolicy(t, c, "photos"); s != "" {
		t.Fatalf("stored after delete: %q", s)
	}
	// Deleting what is not there succeeds, as in S3.
	if _, err := cl.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: bucket}); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	// The bucket itself is untouched by DELETE ?policy.
	if _, err := cl.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: bucket}); err != nil {
		t.Fatalf("bucket gone after DeleteBucketPolicy: %v", err)
	}
}

func TestBucketPolicyMalformed(t *testing.T) {
	c, cl, ctx := withBucket(t, "photos")
	c.AddAccount(t, "other")
	bucket := aws.String("photos")
	kept := bucketPolicyDoc(`{"Effect":"Allow","Principal":{"AWS":"other"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`)
	if _, err := cl.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: bucket, Policy: aws.String(kept)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ doc, says string }{
		{`not json`, "first byte must be '{'"},
		{`{"Version":"2012-10-17","Statement":[]}`, "Statement is empty"},
		{bucketPolicyDoc(`{"Effect":"Permit","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`), "Invalid effect"},
		{bucketPolicyDoc(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::someone-else/*"}`), "not in bucket photos"},
		{bucketPolicyDoc(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:ec2:::photos/*"}`), "invalid resource"},
		{bucketPolicyDoc(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"StringIsh":{"aws:UserAgent":"x"}}}`), "unknown condition operator"},
		{bucketPolicyDoc(`{"Effect":"Allow","Principal":{"AWS":["tester","nobody"]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`), `account "nobody" does not exist`},
		{`{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/` + strings.Repeat("k", 21<<10) + `"}}`, "cannot exceed"},
	} {
		_, err := cl.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: bucket, Policy: aws.String(tc.doc)})
		if code(err) != "MalformedPolicy" || !strings.Contains(errMessage(err), tc.says) {
			t.Errorf("%.60s: %v; want MalformedPolicy saying %q", tc.doc, err, tc.says)
		}
	}
	if s := storedPolicy(t, c, "photos"); s != kept {
		t.Fatalf("a refused policy replaced the stored one: %q", s)
	}
}

// With BlockPublicPolicy set, a public policy is refused and a non-public one (even one
// granting "*" from a fixed network) is accepted.
func TestBucketPolicyBlockPublicPolicy(t *testing.T) {
	c, cl, ctx := withBucket(t, "photos")
	b, mod, err := c.Meta.Bucket(ctx, "photos")
	if err != nil {
		t.Fatal(err)
	}
	b.PublicAccess = &metaclient.PublicAccessBlock{BlockPublicPolicy: true}
	if err := c.Meta.UpdateBucket(ctx, b, mod); err != nil {
		t.Fatal(err)
	}
	bucket := aws.String("photos")
	public := bucketPolicyDoc(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`)
	if _, err := cl.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: bucket, Policy: aws.String(public)}); code(err) != "AccessDenied" {
		t.Fatalf("public policy with BlockPublicPolicy: %v", err)
	}
	if s := storedPolicy(t, c, "photos"); s != "" {
		t.Fatalf("refused public policy stored: %q", s)
	}
	local := bucketPolicyDoc(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}}`)
	if _, err := cl.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: bucket, Policy: aws.String(local)}); err != nil {
		t.Fatalf("network-restricted policy with BlockPublicPolicy: %v", err)
	}
	st, err := cl.GetBucketPolicyStatus(ctx, &s3.GetBucketPolicyStatusInput{Bucket: bucket})
	if err != nil || aws.ToBool(st.PolicyStatus.IsPublic) {
		t.Fatalf("status: %+v %v", st, err)
	}
	if s := storedPolicy(t, c, "photos"); s != local {
		t.Fatalf("stored %q", s)
	}
}

// The status document is S3's, namespace included.
func TestBucketPolicyStatusXML(t *testing.T) {
	c, cl, ctx := withBucket(t, "photos")
	public := bucketPolicyDoc(`{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`)
	if _, err := cl.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("photos"), Policy: aws.String(public)}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(signed(t, c, "GET", "/photos?policyStatus", "", time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var st struct {
		XMLName  xml.Name
		IsPublic string `xml:"IsPublic"`
	}
	if err := xml.Unmarshal(body, &st); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s %s: %v", resp.Status, body, err)
	}
	if st.XMLName.Space != "http://s3.amazonaws.com/doc/2006-03-01/" || st.XMLName.Local != "PolicyStatus" || st.IsPublic != "true" {
		t.Fatalf("status body %s", body)
	}
}

func TestBucketPolicyBoto3(t *testing.T) {
	c, _, _ := withBucket(t, "boto-policy")
	runBoto3(t, c, "boto-policy", "bucketpolicy")
	if s := storedPolicy(t, c, "boto-policy"); !strings.Contains(s, `"aws:SourceIp"`) {
		t.Fatalf("the script's last policy is not stored: %q", s)
	}
}

// A policy whose Content-MD5 or checksum does not match is refused and not stored.
func TestBucketPolicyIntegrity(t *testing.T) {
	c, _, _ := withBucket(t, "photos")
	doc := bucketPolicyDoc(`{"Effect":"Allow","Principal":{"AWS":"tester"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`)
	req := signed(t, c, "PUT", "/photos?policy", doc, time.Now())
	req.Header.Set("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg==") // the MD5 of nothing
	if st, body := status(t, req); st != http.StatusBadRequest || !strings.Contains(body, "BadDigest") {
		t.Fatalf("wrong Content-MD5: %d %s", st, body)
	}
	req, _ = http.NewRequest("PUT", c.Endpoint+"/photos?policy", strings.NewReader(doc))
	req.Header.Set("x-amz-checksum-crc32", "AAAAAA==")
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.AccessKey, SecretAccessKey: c.SecretKey},
		req, "UNSIGNED-PAYLOAD", "s3", c.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	if st, body := status(t, req); st != http.StatusBadRequest || !strings.Contains(body, "BadDigest") {
		t.Fatalf("wrong x-amz-checksum-crc32: %d %s", st, body)
	}
	if s := storedPolicy(t, c, "photos"); s != "" {
		t.Fatalf("a policy that failed its integrity check was stored: %q", s)
	}
	sum := md5.Sum([]byte(doc))
	req = signed(t, c, "PUT", "/photos?policy", doc, time.Now())
	req.Header.Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
	if st, body := status(t, req); st != http.StatusNoContent {
		t.Fatalf("right Content-MD5: %d %s", st, body)
	}
	if s := storedPolicy(t, c, "photos"); s != doc {
		t.Fatalf("stored %q", s)
	}
}
