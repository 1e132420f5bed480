package s3api_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"stratus/internal/testcluster"
	"stratus/internal/testutil"
)

// sdkClient returns an aws-sdk-go-v2 S3 client for the cluster, path style, with the SDK's
// default checksum behaviour.
func sdkClient(c *testcluster.S3, secret string) *s3.Client {
	return s3.New(s3.Options{
		Region:       c.Region,
		BaseEndpoint: aws.String(c.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(c.AccessKey, secret, ""),
	})
}

// withBucket starts a cluster and returns it with an SDK client that has created bucket
// there, and a context for the test.
func withBucket(t *testing.T, bucket string) (*testcluster.S3, *s3.Client, context.Context) {
	t.Helper()
	c := testcluster.StartS3(t, testcluster.S3Options{})
	cl := sdkClient(c, c.SecretKey)
	ctx := ctxT(t)
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	return c, cl, ctx
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// payload is testutil.Payload, short for the many tests that use it.
func payload(n int, seed uint64) []byte { return testutil.Payload(n, seed) }

// code returns the S3 error code of err, or "".
func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestSDKObjectLifecycle(t *testing.T) {
	c := testcluster.StartS3(t, testcluster.S3Options{})
	cl := sdkClient(c, c.SecretKey)
	ctx := ctxT(t)

	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("photos")}); err != nil {
		t.Fatal(err)
	}
	// In us-east-1, S3 answers a second create of a bucket one owns with 200 (elsewhere,
	// BucketAlreadyOwnedByYou).
	_, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("photos")})
	if err != nil {
		t.Fatalf("second create in us-east-1: %v", err)
	}
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("Bad_Name")}); code(err) != "InvalidBucketName" {
		t.Fatalf("bad name: %v", err)
	}
	lb, err := cl.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil || len(lb.Buckets) != 1 || *lb.Buckets[0].Name != "photos" {
		t.Fatalf("list buckets: %+v %v", lb, err)
	}
	if _, err := cl.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("photos")}); err != nil {
		t.Fatal(err)
	}

	for _, size := range []int{0, 1, 100 << 10, 3<<20 + 5} {
		key := fmt.Sprintf("dir/obj-%d", size)
		body := payload(size, uint64(size))
		put, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("photos"), Key: aws.String(key),
			Body: bytes.NewReader(body), ContentType: aws.String("image/jpeg"),
			Metadata: map[string]string{"camera": "x100"}})
		if err != nil {
			t.Fatalf("put %d bytes: %v", size, err)
		}
		sum := md5.Sum(body)
		if want := `"` + hex.EncodeToString(sum[:]) + `"`; *put.ETag != want {
			t.Fatalf("etag %s, want %s", *put.ETag, want)
		}
		got, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("get %d bytes: %v", size, err)
		}
		data, err := io.ReadAll(got.Body)
		got.Body.Close()
		if err != nil || !bytes.Equal(data, body) {
			t.Fatalf("get %d bytes: read %d, %v", size, len(data), err)
		}
		if *got.ContentType != "image/jpeg" || got.Metadata["camera"] != "x100" {
			t.Fatalf("get: content type %q meta %v", *got.ContentType, got.Metadata)
		}
	}

	// Range, conditionals.
	key := "dir/obj-102400"
	rg, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String(key), Range: aws.String("bytes=100-199")})
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(rg.Body)
	rg.Body.Close()
	if !bytes.Equal(part, payload(100<<10, 100<<10)[100:200]) || *rg.ContentRange != "bytes 100-199/102400" {
		t.Fatalf("range: %d bytes, %s", len(part), *rg.ContentRange)
	}
	_, err = cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String(key), Range: aws.String("bytes=999999-")})
	if code(err) != "InvalidRange" {
		t.Fatalf("range past the end: %v", err)
	}
	head, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("photos"), Key: aws.String(key)})
	if err != nil || *head.ContentLength != 100<<10 {
		t.Fatalf("head: %+v %v", head, err)
	}
	_, err = cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String(key), IfMatch: aws.String(`"nope"`)})
	if code(err) != "PreconditionFailed" {
		t.Fatalf("if-match: %v", err)
	}
	_, err = cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String(key), IfNoneMatch: head.ETag})
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusNotModified {
		t.Fatalf("if-none-match: %v", err)
	}

	// Listing: prefix, delimiter, paging.
	for i := range 25 {
		k := fmt.Sprintf("list/%c/item-%02d", 'a'+i%3, i)
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("photos"), Key: aws.String(k), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	p := s3.NewListObjectsV2Paginator(cl, &s3.ListObjectsV2Input{Bucket: aws.String("photos"), Prefix: aws.String("list/"), MaxKeys: aws.Int32(7)})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, o := range page.Contents {
			keys = append(keys, *o.Key)
		}
	}
	if len(keys) != 25 || pages != 4 {
		t.Fatalf("paged listing: %d keys in %d pages", len(keys), pages)
	}
	d, err := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("photos"), Prefix: aws.String("list/"), Delimiter: aws.String("/")})
	if err != nil || len(d.CommonPrefixes) != 3 || len(d.Contents) != 0 || *d.CommonPrefixes[1].Prefix != "list/b/" {
		t.Fatalf("delimiter listing: %+v %v", d, err)
	}
	// Paged delimiter listings: a page that ends on a common prefix must not return it
	// again on the next page.
	var prefixes []string
	dp := s3.NewListObjectsV2Paginator(cl, &s3.ListObjectsV2Input{Bucket: aws.String("photos"), Prefix: aws.String("list/"),
		Delimiter: aws.String("/"), MaxKeys: aws.Int32(1)})
	for dp.HasMorePages() {
		page, err := dp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, cp := range page.CommonPrefixes {
			prefixes = append(prefixes, *cp.Prefix)
		}
	}
	if want := []string{"list/a/", "list/b/", "list/c/"}; !slices.Equal(prefixes, want) {
		t.Fatalf("paged delimiter listing (v2): %v, want %v", prefixes, want)
	}
	prefixes = nil
	for marker := ""; ; {
		page, err := cl.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("photos"), Prefix: aws.String("list/"),
			Delimiter: aws.String("/"), MaxKeys: aws.Int32(1), Marker: aws.String(marker)})
		if err != nil {
			t.Fatal(err)
		}
		for _, cp := range page.CommonPrefixes {
			prefixes = append(prefixes, *cp.Prefix)
		}
		if !aws.ToBool(page.IsTruncated) {
			break
		}
		marker = aws.ToString(page.NextMarker)
	}
	if want := []string{"list/a/", "list/b/", "list/c/"}; !slices.Equal(prefixes, want) {
		t.Fatalf("paged delimiter listing (v1): %v, want %v", prefixes, want)
	}

	// Delete: the key goes, the bucket empties, then goes.
	if _, err := cl.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("photos")}); code(err) != "BucketNotEmpty" {
		t.Fatalf("delete non-empty bucket: %v", err)
	}
	all, _ := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("photos")})
	for _, o := range all.Contents {
		if _, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("photos"), Key: o.Key}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String(key)}); code(err) != "NoSuchKey" {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := cl.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("photos")}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("photos")}); err == nil {
		t.Fatal("bucket still there")
	}
}

func TestSDKRefusals(t *testing.T) {
	c, cl, ctx := withBucket(t, "vault")
	bad := sdkClient(c, "wrong-secret-wrong-secret-wrong-secret00")
	_, err := bad.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("vault"), Key: aws.String("k"), Body: strings.NewReader("data")})
	if code(err) != "SignatureDoesNotMatch" {
		t.Fatalf("wrong secret: %v", err)
	}
	for _, key := range []string{strings.Repeat("k", 1025), "nul\x00key"} {
		_, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("vault"), Key: aws.String(key), Body: strings.NewReader("data")})
		if err == nil {
			t.Fatalf("hostile key %q accepted", key[:10])
		}
	}
	// "../x" is just a key.
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("vault"), Key: aws.String("../x"), Body: strings.NewReader("dots")}); err != nil {
		t.Fatalf("key ../x: %v", err)
	}
	// A 1024-byte key is allowed, and round-trips.
	long := strings.Repeat("L", 1024)
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("vault"), Key: aws.String(long), Body: strings.NewReader("long")}); err != nil {
		t.Fatalf("1024-byte key: %v", err)
	}
	got, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("vault"), Key: aws.String(long)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if string(b) != "long" {
		t.Fatalf("1024-byte key read %q", b)
	}
	list, err := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("vault")})
	if err != nil || len(list.Contents) != 2 {
		t.Fatalf("listing: %v %v", list, err)
	}
	if _, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("nope"), Key: aws.String("k")}); code(err) != "NoSuchBucket" {
		t.Fatalf("missing bucket: %v", err)
	}
	_ = types.BucketLocationConstraintEu
}
