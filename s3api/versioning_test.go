package s3api_test

import (
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestSDKVersioning(t *testing.T) {
	_, cl, ctx := withBucket(t, "versioned")
	b := aws.String("versioned")
	put := func(key, body string) *s3.PutObjectOutput {
		t.Helper()
		out, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(key), Body: strings.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	read := func(key, version string) (string, error) {
		t.Helper()
		in := &s3.GetObjectInput{Bucket: b, Key: aws.String(key)}
		if version != "" {
			in.VersionId = aws.String(version)
		}
		out, err := cl.GetObject(ctx, in)
		if err != nil {
			return "", err
		}
		defer out.Body.Close()
		data, err := io.ReadAll(out.Body)
		return string(data), err
	}
	put("doc", "before versioning")
	if _, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	st, err := cl.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: b})
	if err != nil || st.Status != types.BucketVersioningStatusEnabled {
		t.Fatalf("versioning status: %+v %v", st, err)
	}
	v1 := put("doc", "first")
	v2 := put("doc", "second")
	if v1.VersionId == nil || v2.VersionId == nil || *v1.VersionId == *v2.VersionId {
		t.Fatalf("version ids: %v %v", v1.VersionId, v2.VersionId)
	}
	for version, want := range map[string]string{"": "second", *v1.VersionId: "first", *v2.VersionId: "second", "null": "before versioning"} {
		if got, err := read("doc", version); err != nil || got != want {
			t.Fatalf("version %q: %q %v, want %q", version, got, err, want)
		}
	}
	list, err := cl.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b})
	if err != nil || len(list.Versions) != 3 || !*list.Versions[0].IsLatest || *list.Versions[0].VersionId != *v2.VersionId ||
		*list.Versions[2].VersionId != "null" {
		t.Fatalf("versions: %+v %v", list, err)
	}

	// A delete adds a marker: the key is gone, its versions are not.
	del, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("doc")})
	if err != nil || del.DeleteMarker == nil || !*del.DeleteMarker {
		t.Fatalf("delete in a versioned bucket: %+v %v", del, err)
	}
	if _, err := read("doc", ""); code(err) != "NoSuchKey" {
		t.Fatalf("read after delete: %v", err)
	}
	if got, err := read("doc", *v1.VersionId); err != nil || got != "first" {
		t.Fatalf("old version after delete: %q %v", got, err)
	}
	objs, _ := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b})
	if len(objs.Contents) != 0 {
		t.Fatalf("a deleted key is listed: %+v", objs.Contents)
	}
	list, _ = cl.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b})
	if len(list.DeleteMarkers) != 1 || !*list.DeleteMarkers[0].IsLatest {
		t.Fatalf("markers: %+v", list.DeleteMarkers)
	}
	// Removing the marker brings the object back; removing a version for good drops it.
	if _, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("doc"), VersionId: list.DeleteMarkers[0].VersionId}); err != nil {
		t.Fatal(err)
	}
	if got, err := read("doc", ""); err != nil || got != "second" {
		t.Fatalf("after removing the marker: %q %v", got, err)
	}
	if _, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("doc"), VersionId: v2.VersionId}); err != nil {
		t.Fatal(err)
	}
	if got, err := read("doc", ""); err != nil || got != "first" {
		t.Fatalf("after removing the newest version: %q %v", got, err)
	}
	if _, err := read("doc", *v2.VersionId); code(err) != "NoSuchVersion" {
		t.Fatalf("a removed version: %v", err)
	}
	// Copy from an old version.
	if _, err := cl.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("copy"), CopySource: aws.String("versioned/doc?versionId=null")}); err != nil {
		t.Fatal(err)
	}
	if got, err := read("copy", ""); err != nil || got != "before versioning" {
		t.Fatalf("copy of the null version: %q %v", got, err)
	}
	// Suspended: new writes replace the null version and keep the others.
	if _, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}}); err != nil {
		t.Fatal(err)
	}
	put("doc", "suspended write")
	if got, err := read("doc", "null"); err != nil || got != "suspended write" {
		t.Fatalf("null version while suspended: %q %v", got, err)
	}
	if got, err := read("doc", *v1.VersionId); err != nil || got != "first" {
		t.Fatalf("versioned write kept while suspended: %q %v", got, err)
	}
	list, _ = cl.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b, Prefix: aws.String("doc")})
	nulls := 0
	for _, v := range list.Versions {
		if *v.VersionId == "null" {
			nulls++
		}
	}
	if nulls != 1 || len(list.Versions) != 2 {
		t.Fatalf("versions while suspended: %d null of %d", nulls, len(list.Versions))
	}
}
