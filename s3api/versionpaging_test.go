package s3api_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestListObjectVersionsPaging: pages of any size, following NextKeyMarker and
// NextVersionIdMarker, list every version and marker once, in order, with one latest per
// key — through the SDK's paginator, boto3's and the aws CLI's.
func TestListObjectVersionsPaging(t *testing.T) {
	c, cl, ctx := withBucket(t, "pages")
	b := aws.String("pages")
	put := func(key string) {
		t.Helper()
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(key), Body: strings.NewReader(key)}); err != nil {
			t.Fatal(err)
		}
	}
	put("c") // the null version, from before versioning
	// Unversioned, a bucket's objects list as null versions, one per page.
	for _, key := range []string{"d", "e"} {
		put(key)
	}
	var ids []string
	p := s3.NewListObjectVersionsPaginator(cl, &s3.ListObjectVersionsInput{Bucket: b, MaxKeys: aws.Int32(1)})
	for pages := 0; p.HasMorePages(); pages++ {
		page, err := p.NextPage(ctx)
		if err != nil || pages > 10 {
			t.Fatalf("page %d: %v", pages, err)
		}
		for _, v := range page.Versions {
			ids = append(ids, *v.Key+"@"+*v.VersionId)
		}
		if *page.IsTruncated && (page.NextKeyMarker == nil || aws.ToString(page.NextVersionIdMarker) != "null") {
			t.Fatalf("truncated page without markers: %v %v", page.NextKeyMarker, page.NextVersionIdMarker)
		}
	}
	if want := []string{"c@null", "d@null", "e@null"}; !slices.Equal(ids, want) {
		t.Fatalf("unversioned pages: %v, want %v", ids, want)
	}

	if _, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"a", "a", "a", "b", "c", "c"} {
		put(key)
	}
	if _, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("b")}); err != nil {
		t.Fatal(err)
	}
	entries := func(out *s3.ListObjectVersionsOutput) (all []string, latest int) {
		for _, v := range out.Versions {
			all = append(all, fmt.Sprintf("%s@%s", *v.Key, *v.VersionId))
			if *v.IsLatest {
				latest++
			}
		}
		for _, m := range out.DeleteMarkers {
			all = append(all, fmt.Sprintf("%s@%s(marker)", *m.Key, *m.VersionId))
			if *m.IsLatest {
				latest++
			}
		}
		return all, latest
	}
	whole, err := cl.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b})
	if err != nil {
		t.Fatal(err)
	}
	want, wantLatest := entries(whole)
	slices.Sort(want)
	if len(want) != 10 || wantLatest != 5 {
		t.Fatalf("whole listing: %v, %d latest", want, wantLatest)
	}
	for _, size := range []int32{1, 2, 3, 5} {
		var got []string
		latest := 0
		p := s3.NewListObjectVersionsPaginator(cl, &s3.ListObjectVersionsInput{Bucket: b, MaxKeys: aws.Int32(size)})
		for pages := 0; p.HasMorePages(); pages++ {
			page, err := p.NextPage(ctx)
			if err != nil || pages > 20 {
				t.Fatalf("page size %d, page %d: %v", size, pages, err)
			}
			all, l := entries(page)
			if len(all) > int(size) {
				t.Fatalf("page size %d: a page of %d", size, len(all))
			}
			got, latest = append(got, all...), latest+l
		}
		slices.Sort(got)
		if !slices.Equal(got, want) || latest != wantLatest {
			t.Fatalf("page size %d: %v with %d latest, want %v with %d", size, got, latest, want, wantLatest)
		}
	}
	runBoto3(t, c, "pages", "versionpaging")
	aws := tool(t, "/usr/bin/aws")
	dir := t.TempDir()
	env := []string{"AWS_ACCESS_KEY_ID=" + c.AccessKey, "AWS_SECRET_ACCESS_KEY=" + c.SecretKey,
		"AWS_DEFAULT_REGION=" + c.Region, "AWS_CONFIG_FILE=" + dir + "/none",
		"AWS_SHARED_CREDENTIALS_FILE=" + dir + "/none", "AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER="}
	out := run(t, env, aws, "--endpoint-url", c.Endpoint, "s3api", "list-object-versions", "--bucket", "pages",
		"--page-size", "2", "--output", "json")
	var listed struct {
		Versions, DeleteMarkers []struct{ Key, VersionId string }
	}
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed.Versions) != 9 || len(listed.DeleteMarkers) != 1 {
		t.Fatalf("aws s3api list-object-versions --page-size 2: %v\n%s\nwant 9 versions and 1 marker", err, out)
	}
}
