package s3api_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestSDKCopyBatchDeletePresign(t *testing.T) {
	c, cl, ctx := withBucket(t, "copies")
	b := aws.String("copies")
	body := payload(70<<10, 7)
	put, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("src key+ü"), Body: bytes.NewReader(body),
		ContentType: aws.String("text/x-src"), Metadata: map[string]string{"origin": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	// COPY keeps metadata; REPLACE takes the request's.
	cp, err := cl.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("dst"), CopySource: aws.String("copies/src%20key%2B%C3%BC")})
	if err != nil {
		t.Fatal(err)
	}
	if *cp.CopyObjectResult.ETag != *put.ETag {
		t.Fatalf("copy etag %s, source %s", *cp.CopyObjectResult.ETag, *put.ETag)
	}
	got, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("dst")})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if !bytes.Equal(data, body) || got.Metadata["origin"] != "a" || *got.ContentType != "text/x-src" {
		t.Fatalf("copy: %d bytes, meta %v, type %s", len(data), got.Metadata, *got.ContentType)
	}
	if _, err := cl.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("dst"), CopySource: aws.String("copies/dst"),
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"origin": "b"}, ContentType: aws.String("text/plain")}); err != nil {
		t.Fatal(err)
	}
	head, _ := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("dst")})
	if head.Metadata["origin"] != "b" || *head.ContentType != "text/plain" {
		t.Fatalf("replace: meta %v type %s", head.Metadata, *head.ContentType)
	}
	if _, err := cl.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("dst"), CopySource: aws.String("copies/dst")}); code(err) != "InvalidRequest" {
		t.Fatalf("copy onto itself: %v", err)
	}
	if _, err := cl.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("x"), CopySource: aws.String("copies/dst"),
		CopySourceIfMatch: aws.String(`"nope"`)}); code(err) != "PreconditionFailed" {
		t.Fatalf("conditional copy: %v", err)
	}
	if _, err := cl.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("x"), CopySource: aws.String("copies/none")}); code(err) != "NoSuchKey" {
		t.Fatalf("copy of a missing key: %v", err)
	}

	// DeleteObjects: two present, one absent (deleted all the same).
	del, err := cl.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: b, Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("src key+ü")}, {Key: aws.String("dst")}, {Key: aws.String("never")}}}})
	if err != nil || len(del.Deleted) != 3 || len(del.Errors) != 0 {
		t.Fatalf("delete objects: %+v %v", del, err)
	}
	list, _ := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b})
	if len(list.Contents) != 0 {
		t.Fatalf("%d objects left", len(list.Contents))
	}

	// Presigned GET and PUT work for their lifetime, and are refused once expired.
	ps := s3.NewPresignClient(cl)
	pput, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("shared")}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, pput.URL, strings.NewReader("presigned body"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("presigned put: %v %v", resp, err)
	}
	resp.Body.Close()
	pget, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("shared")}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(pget.URL)
	if err != nil {
		t.Fatal(err)
	}
	data, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(data) != "presigned body" {
		t.Fatalf("presigned get: %d %q", resp.StatusCode, data)
	}
	// A presigned URL with one digit of its signature changed is refused.
	i := strings.Index(pget.URL, "X-Amz-Signature=") + len("X-Amz-Signature=")
	flipped := byte('0')
	if pget.URL[i] == '0' {
		flipped = '1'
	}
	resp, err = http.Get(pget.URL[:i] + string(flipped) + pget.URL[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("tampered presigned URL: %d", resp.StatusCode)
	}
	// Anonymous requests are refused.
	resp, err = http.Get(c.Endpoint + "/copies/shared")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("anonymous get: %d", resp.StatusCode)
	}
}
