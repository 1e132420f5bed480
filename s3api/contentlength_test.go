package s3api_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestChunkedTransferRefused: a PutObject or UploadPart whose body comes in HTTP chunked
// transfer coding, with no Content-Length, is refused as S3 refuses it (501 NotImplemented
// naming Transfer-Encoding), and nothing is stored.
func TestChunkedTransferRefused(t *testing.T) {
	c, cl, ctx := withBucket(t, "chunky")
	up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("chunky"), Key: aws.String("mp")})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/chunky/k", "/chunky/mp?partNumber=1&uploadId=" + *up.UploadId} {
		req, err := http.NewRequest(http.MethodPut, c.Endpoint+path, io.NopCloser(strings.NewReader("streamed body")))
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = -1 // so net/http sends Transfer-Encoding: chunked
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		creds := aws.Credentials{AccessKeyID: c.AccessKey, SecretAccessKey: c.SecretKey}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, "UNSIGNED-PAYLOAD", "s3", c.Region, time.Now()); err != nil {
			t.Fatal(err)
		}
		st, body := status(t, req)
		if st != http.StatusNotImplemented || !strings.Contains(body, "<Code>NotImplemented</Code>") || !strings.Contains(body, "Transfer-Encoding") {
			t.Fatalf("%s: %d %s", path, st, body)
		}
	}
	if _, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("chunky"), Key: aws.String("k")}); code(err) != "NotFound" {
		t.Fatalf("a refused chunked PUT stored something: %v", err)
	}
	parts, err := cl.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("chunky"), Key: aws.String("mp"), UploadId: up.UploadId})
	if err != nil || len(parts.Parts) != 0 {
		t.Fatalf("a refused chunked part was stored: %+v %v", parts, err)
	}
}
