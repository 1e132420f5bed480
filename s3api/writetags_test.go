package s3api_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	meta "stratus/meta/client"
)

// TestWriteWithTagsNeedsPutObjectTagging: tags sent with a write (PutObject,
// CreateMultipartUpload, CopyObject with REPLACE) need s3:PutObjectTagging besides
// s3:PutObject, as in S3. The owner has it; a writer let in by the bucket ACL's WRITE, or
// by a policy allowing s3:PutObject alone, writes untagged but is refused with tags, and
// nothing is stored; once the policy allows s3:PutObjectTagging too, the tags are kept.
func TestWriteWithTagsNeedsPutObjectTagging(t *testing.T) {
	c, cl, ctx := withBucket(t, "tagged")
	other := accountClient(c, c.AddAccount(t, "other"))
	third := accountClient(c, c.AddAccount(t, "third"))
	b := aws.String("tagged")
	put := func(cl *s3.Client, key, tagging string) error {
		in := &s3.PutObjectInput{Bucket: b, Key: aws.String(key), Body: strings.NewReader(key)}
		if tagging != "" {
			in.Tagging = aws.String(tagging)
		}
		_, err := cl.PutObject(ctx, in)
		return err
	}
	tagsOf := func(key string) ([]meta.Tag, error) {
		e, err := storedEntry(t, c, "tagged", key)
		return e.Tags, err
	}
	absent := func(what, key string) {
		t.Helper()
		if _, err := storedEntry(t, c, "tagged", key); !errors.Is(err, meta.ErrNotFound) {
			t.Fatalf("%s: %s is indexed (%v)", what, key, err)
		}
	}

	if err := put(cl, "owner", "a=1&b=2"); err != nil {
		t.Fatalf("owner writes with tags: %v", err)
	}
	if tags, err := tagsOf("owner"); err != nil || len(tags) != 2 {
		t.Fatalf("owner's tags: %v %v", tags, err)
	}

	// The bucket ACL lets other write.
	if _, err := cl.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: b, GrantWrite: aws.String(`id="other"`),
		GrantFullControl: aws.String(`id="tester"`)}); err != nil {
		t.Fatal(err)
	}
	if err := put(other, "acl-plain", ""); err != nil {
		t.Fatalf("WRITE grantee writes untagged: %v", err)
	}
	if err := put(other, "acl-tagged", "a=1"); code(err) != "AccessDenied" {
		t.Fatalf("WRITE grantee writes with tags: %v, want AccessDenied", err)
	}
	absent("refused tagged write", "acl-tagged")
	if _, err := other.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("acl-mpu"),
		Tagging: aws.String("a=1")}); code(err) != "AccessDenied" {
		t.Fatalf("WRITE grantee starts a tagged upload: %v, want AccessDenied", err)
	}
	if ups, err := cl.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: b}); err != nil || len(ups.Uploads) != 0 {
		t.Fatalf("uploads after a refused tagged start: %+v %v", ups, err)
	}
	if _, err := other.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("acl-copy"), CopySource: aws.String("tagged/acl-plain"),
		TaggingDirective: types.TaggingDirectiveReplace, Tagging: aws.String("a=1")}); code(err) != "AccessDenied" {
		t.Fatalf("WRITE grantee copies with new tags: %v, want AccessDenied", err)
	}
	absent("refused tagged copy", "acl-copy")
	if _, err := other.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("acl-copy"), CopySource: aws.String("tagged/acl-plain")}); err != nil {
		t.Fatalf("WRITE grantee copies untagged: %v", err)
	}

	// A policy lets third put objects, and then tag them too.
	allow := func(actions string) {
		t.Helper()
		doc := bucketPolicyDoc(`{"Effect":"Allow","Principal":{"AWS":"third"},"Action":` + actions + `,"Resource":"arn:aws:s3:::tagged/*"}`)
		if _, err := cl.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(doc)}); err != nil {
			t.Fatal(err)
		}
	}
	allow(`"s3:PutObject"`)
	if err := put(third, "pol-plain", ""); err != nil {
		t.Fatalf("s3:PutObject alone, untagged: %v", err)
	}
	if err := put(third, "pol-tagged", "a=1"); code(err) != "AccessDenied" {
		t.Fatalf("s3:PutObject alone, with tags: %v, want AccessDenied", err)
	}
	absent("refused tagged write", "pol-tagged")
	allow(`["s3:PutObject","s3:PutObjectTagging"]`)
	if err := put(third, "pol-tagged", "a=1"); err != nil {
		t.Fatalf("s3:PutObject and s3:PutObjectTagging, with tags: %v", err)
	}
	if tags, err := tagsOf("pol-tagged"); err != nil || len(tags) != 1 || tags[0] != (meta.Tag{Key: "a", Value: "1"}) {
		t.Fatalf("tags stored for third: %v %v", tags, err)
	}
}
