package s3api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// uploadParts stores key as a multipart object of the given parts and returns its bytes.
func uploadParts(t *testing.T, ctx context.Context, cl *s3.Client, bucket, key string, parts ...[]byte) []byte {
	t.Helper()
	up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	var done []types.CompletedPart
	var all []byte
	for i, p := range parts {
		n := aws.Int32(int32(i + 1))
		out, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: up.UploadId,
			PartNumber: n, Body: bytes.NewReader(p)})
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, types.CompletedPart{PartNumber: n, ETag: out.ETag})
		all = append(all, p...)
	}
	if _, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}); err != nil {
		t.Fatal(err)
	}
	return all
}

// TestGetPartNumber: GET and HEAD with partNumber answer with that part of a multipart
// object (206, Content-Range, x-amz-mp-parts-count); an object stored in one piece is its
// own part 1; anything else is refused as S3 refuses it.
func TestGetPartNumber(t *testing.T) {
	c, cl, ctx := withBucket(t, "parts")
	b := aws.String("parts")
	p1, p2, p3 := payload(5<<20, 1), payload(5<<20, 2), payload(1000, 3)
	all := uploadParts(t, ctx, cl, "parts", "mp", p1, p2, p3)
	for i, want := range [][]byte{p1, p2, p3} {
		n := aws.Int32(int32(i + 1))
		out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("mp"), PartNumber: n})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		offset := int64(i) * 5 << 20
		wantRange := fmt.Sprintf("bytes %d-%d/%d", offset, offset+int64(len(want))-1, len(all))
		if err != nil || !bytes.Equal(got, want) || aws.ToInt32(out.PartsCount) != 3 || aws.ToString(out.ContentRange) != wantRange {
			t.Fatalf("part %d: %d bytes, parts %v, range %v (want %s), %v", i+1, len(got), aws.ToInt32(out.PartsCount),
				aws.ToString(out.ContentRange), wantRange, err)
		}
		head, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("mp"), PartNumber: n})
		if err != nil || aws.ToInt64(head.ContentLength) != int64(len(want)) || aws.ToInt32(head.PartsCount) != 3 {
			t.Fatalf("head part %d: %+v %v", i+1, head, err)
		}
	}
	if _, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("mp"), PartNumber: aws.Int32(4)}); code(err) != "InvalidPartNumber" {
		t.Fatalf("part 4 of 3: %v", err)
	}

	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("single"), Body: strings.NewReader("whole")}); err != nil {
		t.Fatal(err)
	}
	out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("single"), PartNumber: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(got) != "whole" || out.PartsCount != nil || aws.ToString(out.ContentRange) != "bytes 0-4/5" {
		t.Fatalf("part 1 of a simple object: %q %+v", got, out)
	}
	if _, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("single"), PartNumber: aws.Int32(2)}); code(err) != "InvalidPartNumber" {
		t.Fatalf("part 2 of a simple object: %v", err)
	}
	if _, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("single"), PartNumber: aws.Int32(1),
		Range: aws.String("bytes=0-1")}); code(err) != "InvalidRequest" {
		t.Fatalf("partNumber with Range: %v", err)
	}
	for _, bad := range []string{"0", "10001", "x"} {
		st, body := status(t, signed(t, c, http.MethodGet, "/parts/single?partNumber="+bad, "", time.Now()))
		if st != http.StatusBadRequest || !strings.Contains(body, "InvalidArgument") {
			t.Fatalf("partNumber=%s: %d %s", bad, st, body)
		}
	}
}
