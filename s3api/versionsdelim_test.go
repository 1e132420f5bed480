package s3api_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestListVersionsDelimiter: ListObjectVersions with a delimiter rolls keys up into common
// prefixes that count against max-keys; paged two at a time, pages split inside a key's
// versions and after a prefix, and together give every version outside the prefixes once,
// newest first with IsLatest on each key's first.
func TestListVersionsDelimiter(t *testing.T) {
	_, cl, ctx := withBucket(t, "vdelim")
	b := aws.String("vdelim")
	if _, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "a", "d/x", "d/y", "d/y", "e", "z/1"} {
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("e")}); err != nil {
		t.Fatal(err)
	}
	var seen []string
	keyMarker, vidMarker := "", ""
	for pages := 0; pages < 10; pages++ {
		out, err := cl.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b, Delimiter: aws.String("/"), MaxKeys: aws.Int32(2),
			KeyMarker: aws.String(keyMarker), VersionIdMarker: aws.String(vidMarker)})
		if err != nil {
			t.Fatal(err)
		}
		n := len(out.Versions) + len(out.DeleteMarkers) + len(out.CommonPrefixes)
		if n > 2 || n == 0 || aws.ToString(out.Delimiter) != "/" {
			t.Fatalf("page %d: %+v", pages, out)
		}
		// The XML groups a page's prefixes, markers and versions apart: list them so.
		var page []string
		for _, p := range out.CommonPrefixes {
			page = append(page, "prefix "+*p.Prefix)
		}
		for _, m := range out.DeleteMarkers {
			page = append(page, "marker "+*m.Key+latestMark(m.IsLatest))
		}
		for _, v := range out.Versions {
			page = append(page, "version "+*v.Key+latestMark(v.IsLatest))
		}
		seen = append(seen, strings.Join(page, ","))
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		keyMarker, vidMarker = aws.ToString(out.NextKeyMarker), aws.ToString(out.NextVersionIdMarker)
	}
	want := "version a latest,version a | prefix d/,marker e latest | prefix z/,version e"
	if got := strings.Join(seen, " | "); got != want {
		t.Fatalf("listed %s\nwant   %s", got, want)
	}
	under, err := cl.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b, Delimiter: aws.String("/"), Prefix: aws.String("d/")})
	if err != nil || len(under.Versions) != 3 || len(under.CommonPrefixes) != 0 || aws.ToBool(under.IsTruncated) {
		t.Fatalf("under d/: %+v %v", under, err)
	}
	// Without versioning the current objects are the null versions, rolled up the same way.
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("vdelim-plain")}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"p/1", "p/2", "q"} {
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("vdelim-plain"), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(err)
		}
	}
	plain, err := cl.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("vdelim-plain"), Delimiter: aws.String("/")})
	if err != nil || len(plain.CommonPrefixes) != 1 || *plain.CommonPrefixes[0].Prefix != "p/" || len(plain.Versions) != 1 ||
		*plain.Versions[0].Key != "q" || aws.ToString(plain.Versions[0].VersionId) != "null" || !aws.ToBool(plain.Versions[0].IsLatest) {
		t.Fatalf("unversioned: %+v %v", plain, err)
	}
}

func latestMark(latest *bool) string {
	if aws.ToBool(latest) {
		return " latest"
	}
	return ""
}
