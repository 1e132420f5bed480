package s3api_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestSuspendedDeleteRemovesNullVersion: with versioning suspended, a DELETE removes the
// null version for good and puts a delete marker in its place, the new null version;
// versions with IDs stay.
func TestSuspendedDeleteRemovesNullVersion(t *testing.T) {
	_, cl, ctx := withBucket(t, "susp")
	b := aws.String("susp")
	setVersioning := func(st types.BucketVersioningStatus) {
		t.Helper()
		if _, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b,
			VersioningConfiguration: &types.VersioningConfiguration{Status: st}}); err != nil {
			t.Fatal(err)
		}
	}
	put := func(body string) {
		t.Helper()
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	setVersioning(types.BucketVersioningStatusEnabled)
	put("kept")
	setVersioning(types.BucketVersioningStatusSuspended)
	put("null version")
	del, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("k")})
	if err != nil || !aws.ToBool(del.DeleteMarker) {
		t.Fatalf("delete: %+v %v", del, err)
	}
	// The marker is the null version now: reading it is refused as a marker's read is.
	if _, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("k"), VersionId: aws.String("null")}); code(err) != "MethodNotAllowed" {
		t.Fatalf("null version after a suspended delete: %v, want MethodNotAllowed (a delete marker)", err)
	}
	list, err := cl.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b})
	if err != nil || len(list.Versions) != 1 || len(list.DeleteMarkers) != 1 || *list.Versions[0].VersionId == "null" ||
		*list.DeleteMarkers[0].VersionId != "null" {
		t.Fatalf("versions after a suspended delete: %+v %v", list, err)
	}
	out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("k"), VersionId: list.Versions[0].VersionId})
	if err != nil {
		t.Fatalf("the versioned write after a suspended delete: %v", err)
	}
	out.Body.Close()
}
