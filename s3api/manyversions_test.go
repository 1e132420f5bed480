package s3api_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	meta "stratus/meta/client"
)

// TestManyVersionsOfOneKey: a key with more versions than a catalog page (1000) lists
// whole, each version once, through the SDK's paginator with and without a delimiter; the
// null version, oldest of all, is still found by ?versionId=null and deleted by it. The
// versions between are written to the index directly (their bytes are never read) to
// keep the test fast.
func TestManyVersionsOfOneKey(t *testing.T) {
	c, cl, ctx := withBucket(t, "many")
	b, k := aws.String("many"), aws.String("k")
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: strings.NewReader("null body")}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	idx := c.Meta.Index("many")
	null, err := idx.GetObject(ctx, "many", "k")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: strings.NewReader("newest")}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k2"), Body: strings.NewReader("other key")}); err != nil {
		t.Fatal(err)
	}
	newest, err := idx.GetObject(ctx, "many", "k")
	if err != nil || newest.Version <= null.Version+2000 {
		t.Fatalf("newest version %d after the null one %d: %v", newest.Version, null.Version, err)
	}
	const between = 1100
	var wg sync.WaitGroup
	errs := make(chan error, between)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < between; i += 8 {
				v := null.Version + 1 + uint64(i)
				errs <- idx.PutVersion(ctx, meta.ObjectEntry{Bucket: "many", Key: "k", Version: v, Size: 1,
					ETag: "00000000000000000000000000000000", Data: fmt.Sprintf(".v/many/%x/k", v)})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	const total = between + 3 // with the null version, the newest and k2's

	list := func(in s3.ListObjectVersionsInput) {
		t.Helper()
		in.Bucket = b
		seen := map[string]int{}
		latest, pages := 0, 0
		p := s3.NewListObjectVersionsPaginator(cl, &in)
		for ; p.HasMorePages(); pages++ {
			page, err := p.NextPage(ctx)
			if err != nil || pages > 10 {
				t.Fatalf("%+v page %d: %v", in, pages, err)
			}
			for _, v := range page.Versions {
				seen[*v.Key+"@"+*v.VersionId]++
				if *v.IsLatest {
					latest++
				}
			}
		}
		if len(seen) != total || latest != 2 || seen["k@null"] != 1 {
			t.Fatalf("%+v: %d versions in %d pages, %d latest, null %d times; want %d, 2 latest, null once",
				in, len(seen), pages, latest, seen["k@null"], total)
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("%+v: %s listed %d times", in, id, n)
			}
		}
	}
	list(s3.ListObjectVersionsInput{})
	list(s3.ListObjectVersionsInput{MaxKeys: aws.Int32(700)})
	list(s3.ListObjectVersionsInput{Delimiter: aws.String("/")})
	list(s3.ListObjectVersionsInput{Prefix: aws.String("k"), MaxKeys: aws.Int32(999)})

	out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: k, VersionId: aws.String("null")})
	if err != nil {
		t.Fatalf("GET ?versionId=null under %d newer versions: %v", between+1, err)
	}
	body, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(body) != "null body" {
		t.Fatalf("null version reads %q", body)
	}
	if _, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: k, VersionId: aws.String("null")}); err != nil {
		t.Fatal(err)
	}
	if _, err := idx.GetObjectVersion(ctx, "many", "k", null.Version); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("null version still indexed after its delete: %v", err)
	}
	if _, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: k, VersionId: aws.String("null")}); code(err) != "NotFound" && code(err) != "NoSuchVersion" {
		t.Fatalf("HEAD ?versionId=null after its delete: %v", err)
	}
}
