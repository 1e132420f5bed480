package s3api_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestDeleteMarkerReported: DeleteObjects says which delete markers it added or removed
// and which versions it removed, as DeleteObject's headers do; a HEAD of a key whose
// current version is a marker says so.
func TestDeleteMarkerReported(t *testing.T) {
	c, cl, ctx := withBucket(t, "markers")
	b := aws.String("markers")
	if _, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	put, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: strings.NewReader("x")})
	if err != nil {
		t.Fatal(err)
	}
	batch := func(id *string) types.DeletedObject {
		t.Helper()
		out, err := cl.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: b,
			Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("k"), VersionId: id}}}})
		if err != nil || len(out.Deleted) != 1 {
			t.Fatalf("delete objects: %+v %v", out, err)
		}
		return out.Deleted[0]
	}
	added := batch(nil)
	if !aws.ToBool(added.DeleteMarker) || aws.ToString(added.DeleteMarkerVersionId) == "" {
		t.Fatalf("a batch delete that adds a marker: %+v", added)
	}
	if head := rawHeaders(t, c, "/markers/k"); !strings.Contains(strings.ToLower(head), "\r\nx-amz-delete-marker: true\r\n") {
		t.Fatalf("HEAD of a deleted key lacks x-amz-delete-marker:\n%s", head)
	}
	removed := batch(added.DeleteMarkerVersionId)
	if !aws.ToBool(removed.DeleteMarker) || aws.ToString(removed.DeleteMarkerVersionId) != *added.DeleteMarkerVersionId ||
		aws.ToString(removed.VersionId) != *added.DeleteMarkerVersionId {
		t.Fatalf("a batch delete of the marker: %+v", removed)
	}
	gone := batch(put.VersionId)
	if aws.ToBool(gone.DeleteMarker) || aws.ToString(gone.VersionId) != *put.VersionId {
		t.Fatalf("a batch delete of a version: %+v", gone)
	}
}
