package s3api_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestSDKMultipart(t *testing.T) {
	_, cl, ctx := withBucket(t, "multipart")
	b := aws.String("multipart")
	key := aws.String("big/object.bin")
	up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: key, ContentType: aws.String("application/x-test")})
	if err != nil {
		t.Fatal(err)
	}
	sizes := []int{5 << 20, 5 << 20, 1<<20 + 3}
	var whole []byte
	var done []types.CompletedPart
	sums := md5.New()
	for i, n := range sizes {
		data := payload(n, uint64(i+10))
		whole = append(whole, data...)
		out, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: key, UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(data)})
		if err != nil {
			t.Fatalf("part %d: %v", i+1, err)
		}
		sum := md5.Sum(data)
		sums.Write(sum[:])
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
	}
	lu, err := cl.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: b})
	if err != nil || len(lu.Uploads) != 1 || *lu.Uploads[0].UploadId != *up.UploadId || *lu.Uploads[0].Key != *key {
		t.Fatalf("list uploads: %+v %v", lu, err)
	}
	lp, err := cl.ListParts(ctx, &s3.ListPartsInput{Bucket: b, Key: key, UploadId: up.UploadId})
	if err != nil || len(lp.Parts) != 3 || *lp.Parts[2].Size != int64(sizes[2]) {
		t.Fatalf("list parts: %+v %v", lp, err)
	}
	// Out of order, a wrong ETag, and a small middle part are refused.
	_, err = cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: key, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{done[1], done[0]}}})
	if code(err) != "InvalidPartOrder" {
		t.Fatalf("out of order: %v", err)
	}
	_, err = cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: key, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(`"00"`)}}}})
	if code(err) != "InvalidPart" {
		t.Fatalf("wrong etag: %v", err)
	}
	_, err = cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: key, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{done[2], {PartNumber: aws.Int32(4), ETag: done[0].ETag}}}})
	if code(err) == "" {
		t.Fatalf("unknown part accepted: %v", err)
	}
	fin, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: key, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`"%s-3"`, hex.EncodeToString(sums.Sum(nil))); *fin.ETag != want {
		t.Fatalf("etag %s, want %s", *fin.ETag, want)
	}
	got, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if !bytes.Equal(data, whole) || *got.ContentType != "application/x-test" {
		t.Fatalf("read back %d of %d bytes, type %q", len(data), len(whole), *got.ContentType)
	}
	// A range across the boundary of parts 1 and 2.
	lo := 5<<20 - 10
	rg, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: key, Range: aws.String(fmt.Sprintf("bytes=%d-%d", lo, lo+19))})
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(rg.Body)
	rg.Body.Close()
	if !bytes.Equal(part, whole[lo:lo+20]) {
		t.Fatal("range across parts differs")
	}
	// The upload is gone once completed; an aborted one too.
	if _, err := cl.ListParts(ctx, &s3.ListPartsInput{Bucket: b, Key: key, UploadId: up.UploadId}); code(err) != "NoSuchUpload" {
		t.Fatalf("parts of a completed upload: %v", err)
	}
	up2, _ := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("aborted")})
	if _, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("aborted"), UploadId: up2.UploadId,
		PartNumber: aws.Int32(1), Body: strings.NewReader("tiny")}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: b, Key: aws.String("aborted"), UploadId: up2.UploadId}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("aborted")}); err == nil {
		t.Fatal("aborted upload became an object")
	}
	// Overwriting and deleting the multipart object work like any other.
	if _, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: key}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: key}); code(err) != "NoSuchKey" {
		t.Fatalf("after delete: %v", err)
	}
}

func TestSDKUploadPartCopy(t *testing.T) {
	_, cl, ctx := withBucket(t, "partcopy")
	b := aws.String("partcopy")
	src := payload(6<<20+123, 77)
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("src"), Body: bytes.NewReader(src)}); err != nil {
		t.Fatal(err)
	}
	up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("joined")})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	for i, rng := range []string{fmt.Sprintf("bytes=0-%d", 5<<20-1), fmt.Sprintf("bytes=%d-%d", 5<<20, len(src)-1)} {
		out, err := cl.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: b, Key: aws.String("joined"), UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), CopySource: aws.String("partcopy/src"), CopySourceRange: aws.String(rng)})
		if err != nil {
			t.Fatalf("part copy %d: %v", i+1, err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.CopyPartResult.ETag})
	}
	if _, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("joined"),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatal(err)
	}
	got, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("joined")})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if !bytes.Equal(data, src) {
		t.Fatalf("joined object: %d bytes, want %d", len(data), len(src))
	}
}
