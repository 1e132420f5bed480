package s3api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"stratus/internal/testcluster"
	metaclient "stratus/meta/client"
)

// accountClient is an SDK client signing as account a.
func accountClient(c *testcluster.S3, a testcluster.Account) *s3.Client {
	return s3.New(s3.Options{
		Region:       c.Region,
		BaseEndpoint: aws.String(c.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(a.AccessKey, a.SecretKey, ""),
	})
}

var errorCodeRE = regexp.MustCompile(`<Code>([^<]*)</Code>`)

// anonymous sends an unsigned request (plain net/http, no credentials at all) and returns
// the status, the S3 error code if any, and the body.
func anonymous(t *testing.T, c *testcluster.S3, method, path string, body []byte) (int, string, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.Endpoint+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body, req.ContentLength = nil, 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	code := ""
	if m := errorCodeRE.FindSubmatch(out); m != nil {
		code = string(m[1])
	}
	return resp.StatusCode, code, out
}

// storedEntry reads the index entry of bucket/key straight from the catalog.
func storedEntry(t *testing.T, c *testcluster.S3, bucket, key string) (metaclient.ObjectEntry, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Meta.Index(bucket).GetObject(ctx, bucket, key)
}

// storedBucket reads a bucket record straight from the catalog.
func storedBucket(t *testing.T, c *testcluster.S3, bucket string) metaclient.Bucket {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, _, err := c.Meta.Bucket(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// grantSet renders an ACL answer as "grantee=PERM" strings (grantee: an ID, or the
// group URI's last element), for comparisons.
func grantSet(grants []types.Grant) map[string]bool {
	out := map[string]bool{}
	for _, g := range grants {
		who := aws.ToString(g.Grantee.ID)
		if u := aws.ToString(g.Grantee.URI); u != "" {
			who = u[bytes.LastIndexByte([]byte(u), '/')+1:]
		}
		out[who+"="+string(g.Permission)] = true
	}
	return out
}

func sameSet(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func set(items ...string) map[string]bool {
	out := map[string]bool{}
	for _, s := range items {
		out[s] = true
	}
	return out
}
