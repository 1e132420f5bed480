package s3api_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestMaxKeysZero: max-keys=0 lists nothing and is not truncated, in every listing, so a
// paginator stops.
func TestMaxKeysZero(t *testing.T) {
	c, cl, ctx := withBucket(t, "zero")
	b := aws.String("zero")
	for _, key := range []string{"a", "b/c"} {
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(key), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	v2, err := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b, MaxKeys: aws.Int32(0)})
	if err != nil || len(v2.Contents) != 0 || aws.ToBool(v2.IsTruncated) || aws.ToInt32(v2.KeyCount) != 0 || v2.NextContinuationToken != nil {
		t.Fatalf("ListObjectsV2 max-keys=0: %+v %v", v2, err)
	}
	v1, err := cl.ListObjects(ctx, &s3.ListObjectsInput{Bucket: b, MaxKeys: aws.Int32(0), Delimiter: aws.String("/")})
	if err != nil || len(v1.Contents) != 0 || len(v1.CommonPrefixes) != 0 || aws.ToBool(v1.IsTruncated) {
		t.Fatalf("ListObjects max-keys=0: %+v %v", v1, err)
	}
	vs, err := cl.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b, MaxKeys: aws.Int32(0)})
	if err != nil || len(vs.Versions) != 0 || aws.ToBool(vs.IsTruncated) {
		t.Fatalf("ListObjectVersions max-keys=0: %+v %v", vs, err)
	}
	runBoto3(t, c, "zero", "maxkeys")
}
