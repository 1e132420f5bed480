package s3api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"stratus/internal/testcluster"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// stallingReader yields head, then blocks until release is closed, then yields tail.
type stallingReader struct {
	head, tail []byte
	stalled    chan struct{} // closed when head is out
	release    chan struct{}
	once       sync.Once
}

func (r *stallingReader) Read(p []byte) (int, error) {
	if len(r.head) > 0 {
		n := copy(p, r.head)
		r.head = r.head[n:]
		return n, nil
	}
	r.once.Do(func() { close(r.stalled) })
	<-r.release
	if len(r.tail) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.tail)
	r.tail = r.tail[n:]
	return n, nil
}

// slowPut starts a PUT of data to path that sends its first MiB, and returns once the
// server has had time to stamp it; release lets the rest go, and returns the status.
func slowPut(t *testing.T, c *testcluster.S3, ctx context.Context, path string, data []byte) (release func() int) {
	t.Helper()
	body := &stallingReader{head: data[:1<<20], tail: data[1<<20:], stalled: make(chan struct{}), release: make(chan struct{})}
	req, err := http.NewRequestWithContext(ctx, "PUT", c.Endpoint+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(data))
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: c.AccessKey, SecretAccessKey: c.SecretKey},
		req, "UNSIGNED-PAYLOAD", "s3", c.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	type result struct {
		status int
		body   []byte
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{resp.StatusCode, b, nil}
	}()
	<-body.stalled
	// The handler stamps the write before it reads the body; give it time to.
	time.Sleep(300 * time.Millisecond)
	return func() int {
		t.Helper()
		close(body.release)
		r := <-done
		if r.err != nil {
			t.Fatalf("slow put: %v", r.err)
		}
		if r.status != http.StatusOK {
			t.Logf("slow put: %s", r.body)
		}
		return r.status
	}
}

// TestConcurrentPutsOfOneKey: a slow upload that started first finishes after a fast one
// that started later. Both succeed; the key then holds the write stamped later (S3: "the
// request with the latest timestamp wins"), and no request sees a server error.
func TestConcurrentPutsOfOneKey(t *testing.T) {
	c, cl, ctx := withBucket(t, "race")
	release := slowPut(t, c, ctx, "/race/k", payload(3<<20, 1))
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("race"), Key: aws.String("k"), Body: strings.NewReader("fast")}); err != nil {
		t.Fatalf("fast put: %v", err)
	}
	if st := release(); st != http.StatusOK {
		t.Fatalf("slow put that finished last: %d", st)
	}
	out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("race"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil || !bytes.Equal(got, []byte("fast")) {
		t.Fatalf("after both puts: %d bytes %v, want the later-stamped write", len(got), err)
	}
}

// TestPutOvertakenByDelete: a slow upload finishes after a DELETE of its key that started
// later. Both succeed, and the upload, whose commit came last, is what the key holds: its
// bytes live at a name of their own, which the delete (of the version before) never
// touched, so GET, HEAD and listings agree on it, whole.
func TestPutOvertakenByDelete(t *testing.T) {
	c, cl, ctx := withBucket(t, "race")
	body := payload(3<<20, 2)
	release := slowPut(t, c, ctx, "/race/k", body)
	if _, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("race"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	if st := release(); st != http.StatusOK {
		t.Fatalf("slow put overtaken by a delete: %d", st)
	}
	if _, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("race"), Key: aws.String("k")}); err != nil {
		t.Fatalf("HEAD after the upload committed: %v", err)
	}
	list, err := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("race")})
	if err != nil || len(list.Contents) != 1 {
		t.Fatalf("listing: %+v %v", list.Contents, err)
	}
	if got := getBytes(t, ctx, cl, "race", "k", "", ""); !bytes.Equal(got, body) {
		t.Fatal("GET after the upload committed: wrong bytes")
	}
}
