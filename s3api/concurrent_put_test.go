package s3api_test

import (
	"bytes"
	"io"
	"net/http"
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

// TestConcurrentPutsOfOneKey: a slow upload that started first finishes after a fast one
// that started later. Both succeed; the key then holds the write stamped later (S3: "the
// request with the latest timestamp wins"), and no request sees a server error.
func TestConcurrentPutsOfOneKey(t *testing.T) {
	c, cl, ctx := withBucket(t, "race")
	slow := payload(3<<20, 1)
	body := &stallingReader{head: slow[:1<<20], tail: slow[1<<20:], stalled: make(chan struct{}), release: make(chan struct{})}
	req, err := http.NewRequestWithContext(ctx, "PUT", c.Endpoint+"/race/k", body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(slow))
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: c.AccessKey, SecretAccessKey: c.SecretKey},
		req, "UNSIGNED-PAYLOAD", "s3", c.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	slowDone := make(chan error, 1)
	var slowStatus int
	var slowBody []byte
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			slowStatus = resp.StatusCode
			slowBody, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		slowDone <- err
	}()
	<-body.stalled
	// The slow upload's handler has its timestamp once it reads the body; give it time.
	time.Sleep(300 * time.Millisecond)
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("race"), Key: aws.String("k"), Body: strings.NewReader("fast")}); err != nil {
		t.Fatalf("fast put: %v", err)
	}
	close(body.release)
	if err := <-slowDone; err != nil || slowStatus != http.StatusOK {
		t.Fatalf("slow put that finished last: %d %v %s", slowStatus, err, slowBody)
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
