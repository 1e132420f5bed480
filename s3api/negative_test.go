package s3api_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"stratus/internal/testcluster"
	meta "stratus/meta/client"
)

// signed builds a request signed by the SDK's signer at the given time.
func signed(t *testing.T, c *testcluster.S3, method, path, body string, at time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, c.Endpoint+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(body))
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: c.AccessKey, SecretAccessKey: c.SecretKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hash, "s3", c.Region, at); err != nil {
		t.Fatal(err)
	}
	return req
}

func status(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(b)
}

func TestRefusedRequestsStoreNothing(t *testing.T) {
	c, cl, ctx := withBucket(t, "guarded")
	missing := func(key string) {
		t.Helper()
		if _, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("guarded"), Key: aws.String(key)}); err == nil {
			t.Fatalf("%s was stored by a refused request", key)
		}
	}

	// Clock skew: signed an hour ago.
	st, body := status(t, signed(t, c, http.MethodPut, "/guarded/skewed", "data", time.Now().Add(-time.Hour)))
	if st != http.StatusForbidden || !strings.Contains(body, "RequestTimeTooSkewed") {
		t.Fatalf("skewed: %d %s", st, body)
	}
	missing("skewed")

	// A body that does not match its signed hash.
	req := signed(t, c, http.MethodPut, "/guarded/tampered", "good", time.Now())
	req.Body, req.ContentLength = io.NopCloser(strings.NewReader("evil")), 4
	if st, body := status(t, req); st/100 != 4 || !strings.Contains(body, "XAmzContentSHA256Mismatch") {
		t.Fatalf("tampered body: %d %s", st, body)
	}
	missing("tampered")

	// A checksum header that does not match the body.
	_, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("guarded"), Key: aws.String("badsum"),
		Body: strings.NewReader("checked content"), ChecksumCRC32: aws.String("AAAAAA==")})
	if code(err) != "BadDigest" {
		t.Fatalf("wrong x-amz-checksum-crc32: %v", err)
	}
	missing("badsum")
	// A wrong Content-MD5.
	_, err = cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("guarded"), Key: aws.String("badmd5"),
		Body: strings.NewReader("checked content"), ContentMD5: aws.String("1B2M2Y8AsgTpgAmY7PhCfg==")})
	if code(err) != "BadDigest" {
		t.Fatalf("wrong Content-MD5: %v", err)
	}
	missing("badmd5")

	// Another account's bucket.
	if err := c.Meta.CreateAccount(ctx, meta.Account{ID: "mallory"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Meta.CreateAccessKey(ctx, meta.AccessKey{ID: "AKIAMALLORY000000001", Account: "mallory", Secret: "mallory-secret-000000000000000000000001"}); err != nil {
		t.Fatal(err)
	}
	mal := s3.New(s3.Options{Region: c.Region, BaseEndpoint: aws.String(c.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKIAMALLORY000000001", "mallory-secret-000000000000000000000001", "")})
	if _, err := mal.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("guarded"), Key: aws.String("intruder"), Body: strings.NewReader("x")}); code(err) != "AccessDenied" {
		t.Fatalf("put into another account's bucket: %v", err)
	}
	if _, err := mal.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("guarded")}); code(err) != "AccessDenied" {
		t.Fatalf("list another account's bucket: %v", err)
	}
	if out, err := mal.ListBuckets(ctx, &s3.ListBucketsInput{}); err != nil || len(out.Buckets) != 0 {
		t.Fatalf("another account's buckets listed: %v %v", out, err)
	}
	missing("intruder")

	// Malformed XML completing a multipart upload.
	up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("guarded"), Key: aws.String("mp")})
	if err != nil {
		t.Fatal(err)
	}
	code2, body2 := status(t, signed(t, c, http.MethodPost, "/guarded/mp?uploadId="+url.QueryEscape(*up.UploadId), "<CompleteMultipartUpload><Part>", time.Now()))
	if code2 != http.StatusBadRequest || !strings.Contains(body2, "MalformedXML") {
		t.Fatalf("malformed complete: %d %s", code2, body2)
	}
	missing("mp")

	// A body cut short: the connection closes before Content-Length bytes arrive.
	req = signed(t, c, http.MethodPut, "/guarded/truncated", strings.Repeat("z", 1000), time.Now())
	u, _ := url.Parse(c.Endpoint)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(conn)
	fmt.Fprintf(w, "PUT /guarded/truncated HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000\r\n", u.Host)
	for k, vs := range req.Header {
		fmt.Fprintf(w, "%s: %s\r\n", k, vs[0])
	}
	fmt.Fprintf(w, "\r\n%s", strings.Repeat("z", 400))
	w.Flush()
	conn.(*net.TCPConn).CloseWrite()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	conn.Read(buf)
	conn.Close()
	missing("truncated")
}
