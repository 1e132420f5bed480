package s3api_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestSDK100MiBMultipart uploads 100 MiB with the SDK's upload manager (parts in
// parallel, default checksums) and downloads it with ranged GETs in parallel.
func TestSDK100MiBMultipart(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MiB transfer")
	}
	_, cl, ctx := withBucket(t, "large-objects")
	b := aws.String("large-objects")
	body := payload(100<<20, 100)
	up := manager.NewUploader(cl, func(u *manager.Uploader) { u.PartSize = 8 << 20; u.Concurrency = 4 })
	if _, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("100MiB"), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	head, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("100MiB")})
	if err != nil || *head.ContentLength != 100<<20 {
		t.Fatalf("head: %v %v", head, err)
	}
	dl := manager.NewDownloader(cl, func(d *manager.Downloader) { d.PartSize = 16 << 20; d.Concurrency = 4 })
	buf := manager.NewWriteAtBuffer(make([]byte, 0, 100<<20))
	n, err := dl.Download(ctx, buf, &s3.GetObjectInput{Bucket: b, Key: aws.String("100MiB")})
	if err != nil || n != 100<<20 {
		t.Fatalf("download: %d bytes, %v", n, err)
	}
	if md5.Sum(buf.Bytes()) != md5.Sum(body) {
		t.Fatal("downloaded bytes differ")
	}
}

// TestExpiredPresignedURL: a presigned URL signed an hour ago for 15 minutes is refused.
func TestExpiredPresignedURL(t *testing.T) {
	c, cl, ctx := withBucket(t, "expiring")
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("expiring"), Key: aws.String("k"), Body: bytes.NewReader([]byte("v"))}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, c.Endpoint+"/expiring/k?X-Amz-Expires=900", nil)
	url, _, err := v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.AccessKey, SecretAccessKey: c.SecretKey},
		req, "UNSIGNED-PAYLOAD", "s3", c.Region, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !bytes.Contains(msg, []byte("expired")) {
		t.Fatalf("expired presigned URL: %d %s", resp.StatusCode, msg)
	}
	// The same URL signed now works.
	url, _, _ = v4.NewSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.AccessKey, SecretAccessKey: c.SecretKey},
		req, "UNSIGNED-PAYLOAD", "s3", c.Region, time.Now())
	resp, err = http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("fresh presigned URL: %d", resp.StatusCode)
	}
}
