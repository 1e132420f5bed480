package s3api_test

import (
	"bufio"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

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
