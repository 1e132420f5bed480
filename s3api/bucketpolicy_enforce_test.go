package s3api_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestBucketPolicyEnforced checks that what a bucket policy says is what requests get:
// another account reads one prefix and lists it, an explicit Deny binds even the owner,
// and anonymous callers read by Principal "*" only from the network the policy names.
func TestBucketPolicyEnforced(t *testing.T) {
	c, cl, ctx := withBucket(t, "photos")
	other := accountClient(c, c.AddAccount(t, "other"))
	third := accountClient(c, c.AddAccount(t, "third"))
	bucket := aws.String("photos")
	for _, key := range []string{"shared/a.jpg", "private/b.jpg", "keep/c.jpg", "public/d.jpg"} {
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(key), Body: bytes.NewReader([]byte(key))}); err != nil {
			t.Fatal(err)
		}
	}
	policy := func(sourceCIDR string) string {
		return bucketPolicyDoc(
			`{"Sid":"OtherReadsShared","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::other:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/shared/*"}`,
			`{"Sid":"OtherListsShared","Effect":"Allow","Principal":{"AWS":"other"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::photos","Condition":{"StringLike":{"s3:prefix":"shared/*"}}}`,
			`{"Sid":"KeepIsKept","Effect":"Deny","Principal":"*","Action":["s3:DeleteObject","s3:PutObject"],"Resource":"arn:aws:s3:::photos/keep/*"}`,
			`{"Sid":"LocalPublic","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/public/*","Condition":{"IpAddress":{"aws:SourceIp":"`+sourceCIDR+`"}}}`)
	}
	if _, err := cl.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: bucket, Policy: aws.String(policy("127.0.0.0/8"))}); err != nil {
		t.Fatal(err)
	}

	get := func(cl *s3.Client, key string) error {
		out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String(key)})
		if err != nil {
			return err
		}
		defer out.Body.Close()
		body, err := io.ReadAll(out.Body)
		if err == nil && string(body) != key {
			t.Fatalf("%s: read %q", key, body)
		}
		return err
	}
	// The granted account, on and off its prefix; an account the policy does not name.
	if err := get(other, "shared/a.jpg"); err != nil {
		t.Fatalf("other reads shared/: %v", err)
	}
	if err := get(other, "private/b.jpg"); code(err) != "AccessDenied" {
		t.Fatalf("other reads private/: %v", err)
	}
	if err := get(third, "shared/a.jpg"); code(err) != "AccessDenied" {
		t.Fatalf("third reads shared/: %v", err)
	}
	if _, err := other.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("shared/new"), Body: bytes.NewReader(nil)}); code(err) != "AccessDenied" {
		t.Fatalf("other writes shared/: %v", err)
	}
	if out, err := other.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bucket, Prefix: aws.String("shared/")}); err != nil || len(out.Contents) != 1 {
		t.Fatalf("other lists shared/: %+v %v", out, err)
	}
	if _, err := other.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bucket}); code(err) != "AccessDenied" {
		t.Fatalf("other lists the whole bucket: %v", err)
	}

	// An explicit Deny overrides the owner's own rights.
	if _, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: aws.String("keep/c.jpg")}); code(err) != "AccessDenied" {
		t.Fatalf("owner deletes keep/: %v", err)
	}
	if err := get(cl, "keep/c.jpg"); err != nil {
		t.Fatalf("keep/c.jpg after the refused delete: %v", err)
	}
	if err := get(cl, "private/b.jpg"); err != nil {
		t.Fatalf("owner reads private/: %v", err)
	}

	// Anonymous: allowed from loopback by Principal "*" and aws:SourceIp, refused once the
	// policy names another network.
	anon := func(key string) int {
		resp, err := http.Get(c.Endpoint + "/photos/" + key)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := anon("public/d.jpg"); st != http.StatusOK {
		t.Fatalf("anonymous from loopback: %d", st)
	}
	if st := anon("shared/a.jpg"); st != http.StatusForbidden {
		t.Fatalf("anonymous outside public/: %d", st)
	}
	if _, err := cl.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: bucket, Policy: aws.String(policy("192.0.2.0/24"))}); err != nil {
		t.Fatal(err)
	}
	if st := anon("public/d.jpg"); st != http.StatusForbidden {
		t.Fatalf("anonymous from a network the policy does not name: %d", st)
	}
	// Deleting the policy takes the grants with it.
	if _, err := cl.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	if err := get(other, "shared/a.jpg"); code(err) != "AccessDenied" {
		t.Fatalf("other reads shared/ after the policy is gone: %v", err)
	}
}

// TestBucketPolicyGrantsSettings: the settings calls (tagging, CORS) are the owner's unless
// the bucket policy says otherwise, either way: it can grant them to another account and
// deny them to the owner.
func TestBucketPolicyGrantsSettings(t *testing.T) {
	c, cl, ctx := withBucket(t, "photos")
	other := accountClient(c, c.AddAccount(t, "other"))
	bucket := aws.String("photos")
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("a.jpg"), Body: bytes.NewReader([]byte("a"))}); err != nil {
		t.Fatal(err)
	}
	tagging := &types.Tagging{TagSet: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}
	if _, err := other.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: bucket, Key: aws.String("a.jpg"), Tagging: tagging}); code(err) != "AccessDenied" {
		t.Fatalf("other tags an object before the policy: %v", err)
	}
	doc := bucketPolicyDoc(
		`{"Effect":"Allow","Principal":{"AWS":"other"},"Action":["s3:PutObjectTagging","s3:GetObjectTagging","s3:GetBucketCORS"],"Resource":["arn:aws:s3:::photos/*","arn:aws:s3:::photos"]}`,
		`{"Effect":"Deny","Principal":"*","Action":"s3:PutBucketTagging","Resource":"arn:aws:s3:::photos"}`)
	if _, err := cl.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: bucket, Policy: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: bucket, Key: aws.String("a.jpg"), Tagging: tagging}); err != nil {
		t.Fatalf("other tags an object the policy lets it: %v", err)
	}
	if out, err := cl.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: bucket, Key: aws.String("a.jpg")}); err != nil || len(out.TagSet) != 1 {
		t.Fatalf("the owner reads the tags other set: %+v, %v", out, err)
	}
	if _, err := other.DeleteObjectTagging(ctx, &s3.DeleteObjectTaggingInput{Bucket: bucket, Key: aws.String("a.jpg")}); code(err) != "AccessDenied" {
		t.Fatalf("other deletes tags the policy does not let it: %v", err)
	}
	if _, err := other.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: bucket}); code(err) != "NoSuchCORSConfiguration" {
		t.Fatalf("other reads CORS the policy lets it: %v", err)
	}
	if _, err := cl.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: bucket, Tagging: tagging}); code(err) != "AccessDenied" {
		t.Fatalf("the owner puts bucket tags the policy denies: %v", err)
	}
	if _, err := cl.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: bucket}); code(err) != "NoSuchTagSet" {
		t.Fatalf("bucket tags after a denied put: %v", err)
	}
}
