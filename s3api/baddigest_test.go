package s3api_test

import (
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestBadDigestKeepsCurrentVersion: a PUT whose Content-MD5 does not match its body is
// refused before any replica stores it, so the object it would have replaced is intact.
func TestBadDigestKeepsCurrentVersion(t *testing.T) {
	_, cl, ctx := withBucket(t, "digest")
	b := aws.String("digest")
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: strings.NewReader("v1")}); err != nil {
		t.Fatal(err)
	}
	_, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: strings.NewReader("v2"),
		ContentMD5: aws.String("1B2M2Y8AsgTpgAmY7PhCfg==")}) // the MD5 of nothing
	if code(err) != "BadDigest" {
		t.Fatalf("put with a wrong Content-MD5: %v, want BadDigest", err)
	}
	for range 2 { // the second read would see a repair of the first
		out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("k")})
		if err != nil {
			t.Fatalf("the object a refused PUT would have replaced: %v", err)
		}
		got, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(got) != "v1" {
			t.Fatalf("read %q, want v1", got)
		}
	}
}

// TestBadDigestKeepsPart: a part re-uploaded with a wrong Content-MD5 leaves the earlier
// upload of that part in place.
func TestBadDigestKeepsPart(t *testing.T) {
	_, cl, ctx := withBucket(t, "digest")
	b, k := aws.String("digest"), aws.String("m")
	up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: k})
	if err != nil {
		t.Fatal(err)
	}
	part, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: k, UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("good")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: k, UploadId: up.UploadId, PartNumber: aws.Int32(1),
		Body: strings.NewReader("bad"), ContentMD5: aws.String("1B2M2Y8AsgTpgAmY7PhCfg==")}); code(err) != "BadDigest" {
		t.Fatalf("part with a wrong Content-MD5: %v, want BadDigest", err)
	}
	if _, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: k, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}}); err != nil {
		t.Fatal(err)
	}
	out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: k})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(got) != "good" {
		t.Fatalf("read %q, want the part uploaded first", got)
	}
}
