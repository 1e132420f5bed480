package s3api_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"stratus/internal/testcluster"
)

// TestSDKOverHTTPSAndVirtualHosts: over HTTPS the SDK signs differently (unsigned payloads
// with aws-chunked checksum trailers by default), and with virtual-hosted style the bucket
// is in the host name. Both reach the same objects.
func TestSDKOverHTTPSAndVirtualHosts(t *testing.T) {
	const domain = "s3.stratus.test"
	c := testcluster.StartS3(t, testcluster.S3Options{TLS: true, Domain: domain})
	u, _ := url.Parse(c.Endpoint)
	_, port, _ := net.SplitHostPort(u.Host)
	// Every name resolves to the test server.
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
	}
	httpClient := &http.Client{Transport: &http.Transport{DialContext: dial, TLSClientConfig: &tls.Config{RootCAs: c.CertPool}}}
	client := func(pathStyle bool, endpoint string) *s3.Client {
		return s3.New(s3.Options{Region: c.Region, BaseEndpoint: aws.String(endpoint), UsePathStyle: pathStyle,
			HTTPClient: httpClient, Credentials: credentials.NewStaticCredentialsProvider(c.AccessKey, c.SecretKey, "")})
	}
	pathStyle := client(true, c.Endpoint)
	virtual := client(false, "https://"+domain+":"+port)
	ctx := ctxT(t)
	if _, err := pathStyle.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("secure")}); err != nil {
		t.Fatal(err)
	}
	body := payload(3<<20+17, 5)
	if _, err := virtual.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("secure"), Key: aws.String("v/obj"),
		Body: bytes.NewReader(body)}); err != nil {
		t.Fatalf("virtual-hosted put over https: %v", err)
	}
	got, err := pathStyle.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("secure"), Key: aws.String("v/obj")})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if !bytes.Equal(data, body) {
		t.Fatalf("read back %d of %d bytes", len(data), len(body))
	}
	// A body the SDK cannot rewind, with a checksum asked for, goes out aws-chunked with its CRC32 in a trailer
	// (STREAMING-UNSIGNED-PAYLOAD-TRAILER), which the server checks at the end.
	streamed := payload(1<<20+3, 6)
	if _, err := pathStyle.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("secure"), Key: aws.String("streamed"),
		Body: struct{ io.Reader }{bytes.NewReader(streamed)}, ContentLength: aws.Int64(int64(len(streamed))),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32}); err != nil {
		t.Fatalf("unseekable put over https: %v", err)
	}
	got, err = pathStyle.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("secure"), Key: aws.String("streamed")})
	if err != nil {
		t.Fatal(err)
	}
	data, _ = io.ReadAll(got.Body)
	got.Body.Close()
	if !bytes.Equal(data, streamed) {
		t.Fatal("streamed object differs")
	}
	list, err := virtual.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("secure"), Prefix: aws.String("v/")})
	if err != nil || len(list.Contents) != 1 || *list.Contents[0].Key != "v/obj" {
		t.Fatalf("virtual-hosted list: %+v %v", list, err)
	}
}
