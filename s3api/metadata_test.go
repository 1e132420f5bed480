package s3api_test

import (
	"bufio"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"stratus/internal/testcluster"
)

// rawHeaders sends a signed HEAD for path and returns the response head exactly as it came
// over the wire: Go's client would canonicalise the names this test is about.
func rawHeaders(t *testing.T, c *testcluster.S3, path string) string {
	t.Helper()
	req := signed(t, c, "HEAD", path, "", time.Now())
	u, err := url.Parse(c.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	var head strings.Builder
	br := bufio.NewReader(conn)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the response head: %v (so far %q)", err, head.String())
		}
		if line == "\r\n" {
			return head.String()
		}
		head.WriteString(line)
	}
}

func TestUserMetadataNamesLowerCase(t *testing.T) {
	c, cl, ctx := withBucket(t, "meta-case")
	b := aws.String("meta-case")
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: strings.NewReader("x"),
		Metadata: map[string]string{"k": "v", "Mixed-Case": "M"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("copy"), CopySource: aws.String("meta-case/k")}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/meta-case/k", "/meta-case/copy"} {
		head := rawHeaders(t, c, path)
		for _, want := range []string{"\r\nx-amz-meta-k: v\r\n", "\r\nx-amz-meta-mixed-case: M\r\n"} {
			if !strings.Contains(head, want) {
				t.Errorf("%s: response head lacks %q:\n%s", path, strings.TrimSpace(want), head)
			}
		}
	}
	// The SDK's view (it lower-cases names itself, so it cannot tell; boto3 can).
	out, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("copy")})
	if err != nil || out.Metadata["k"] != "v" || out.Metadata["mixed-case"] != "M" {
		t.Fatalf("head: %v %v", out.Metadata, err)
	}
	runBoto3(t, c, "meta-case", "metadata")
}

// TestUserMetadataNonASCII: a UTF-8 value is kept and comes back RFC 2047-encoded, as S3
// returns it; a value that is not UTF-8, or a name the store cannot keep, is a 400, never
// a server error.
func TestUserMetadataNonASCII(t *testing.T) {
	c, cl, ctx := withBucket(t, "meta-utf8")
	b := aws.String("meta-utf8")
	const value = "café ☕ naïve"
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: strings.NewReader("x"),
		Metadata: map[string]string{"name": value, "plain": "ascii"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("copy"), CopySource: aws.String("meta-utf8/k"),
		MetadataDirective: "REPLACE", Metadata: map[string]string{"name": value}}); err != nil {
		t.Fatal(err)
	}
	up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("multi"),
		Metadata: map[string]string{"name": value}})
	if err != nil {
		t.Fatal(err)
	}
	part, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("multi"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: strings.NewReader("abc")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("multi"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}}); err != nil {
		t.Fatal(err)
	}
	var dec mime.WordDecoder
	for _, key := range []string{"k", "copy", "multi"} {
		out, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		got := out.Metadata["name"]
		if !strings.HasPrefix(got, "=?UTF-8?b?") && !strings.HasPrefix(got, "=?UTF-8?B?") {
			t.Fatalf("%s: value %q is not RFC 2047-encoded", key, got)
		}
		if plain, err := dec.DecodeHeader(got); err != nil || plain != value {
			t.Fatalf("%s: %q decodes to %q %v, want %q", key, got, plain, err, value)
		}
	}
	if out, _ := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("k")}); out.Metadata["plain"] != "ascii" {
		t.Fatalf("an ASCII value changed: %q", out.Metadata["plain"])
	}

	for name, set := range map[string]func(*http.Request){
		"latin-1 value":    func(r *http.Request) { r.Header["X-Amz-Meta-Name"] = []string{"caf\xe9"} },
		"name with a plus": func(r *http.Request) { r.Header["X-Amz-Meta-A+b"] = []string{"v"} },
		"empty name":       func(r *http.Request) { r.Header["X-Amz-Meta-"] = []string{"v"} },
	} {
		req, err := http.NewRequest("PUT", c.Endpoint+"/meta-utf8/refused", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		set(req)
		const hash = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881" // sha256("x")
		req.Header.Set("X-Amz-Content-Sha256", hash)
		if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: c.AccessKey, SecretAccessKey: c.SecretKey},
			req, hash, "s3", c.Region, time.Now()); err != nil {
			t.Fatal(err)
		}
		if st, body := status(t, req); st != http.StatusBadRequest || !strings.Contains(body, "InvalidArgument") {
			t.Errorf("%s: %d %s, want 400 InvalidArgument", name, st, body)
		}
	}
	if _, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("refused")}); err == nil {
		t.Fatal("a refused PUT stored an object")
	}
	runBoto3(t, c, "meta-utf8", "metadata_utf8")
}
