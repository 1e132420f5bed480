package s3api_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestWriteVersionIDOnlyWhenEnabled: PutObject, CopyObject and CompleteMultipartUpload
// name the version they made only in a bucket whose versioning is enabled.
func TestWriteVersionIDOnlyWhenEnabled(t *testing.T) {
	_, cl, ctx := withBucket(t, "vhdr")
	b := aws.String("vhdr")
	writes := func() (put, cp, complete *string) {
		t.Helper()
		p, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: strings.NewReader("x")})
		if err != nil {
			t.Fatal(err)
		}
		c, err := cl.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("copy"), CopySource: aws.String("vhdr/k")})
		if err != nil {
			t.Fatal(err)
		}
		up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("m")})
		if err != nil {
			t.Fatal(err)
		}
		part, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("m"), UploadId: up.UploadId,
			PartNumber: aws.Int32(1), Body: strings.NewReader("abc")})
		if err != nil {
			t.Fatal(err)
		}
		m, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("m"), UploadId: up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}})
		if err != nil {
			t.Fatal(err)
		}
		return p.VersionId, c.VersionId, m.VersionId
	}
	setVersioning := func(st types.BucketVersioningStatus) {
		t.Helper()
		if _, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b,
			VersioningConfiguration: &types.VersioningConfiguration{Status: st}}); err != nil {
			t.Fatal(err)
		}
	}
	if p, c, m := writes(); p != nil || c != nil || m != nil {
		t.Fatalf("unversioned writes named versions %v %v %v", p, c, m)
	}
	setVersioning(types.BucketVersioningStatusEnabled)
	if p, c, m := writes(); p == nil || c == nil || m == nil || *p == "null" || *c == "null" || *m == "null" {
		t.Fatalf("versioned writes named versions %v %v %v", aws.ToString(p), aws.ToString(c), aws.ToString(m))
	}
	setVersioning(types.BucketVersioningStatusSuspended)
	if p, c, m := writes(); p != nil || c != nil || m != nil {
		t.Fatalf("writes with versioning suspended named versions %v %v %v", aws.ToString(p), aws.ToString(c), aws.ToString(m))
	}
}
