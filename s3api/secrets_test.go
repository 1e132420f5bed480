package s3api_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"

	"stratus/internal/hlc"
	"stratus/internal/testcluster"
	objclient "stratus/objectd/client"
	"stratus/proxy"
	"stratus/s3api"
)

// logBuffer collects log output from concurrent handlers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// sigRecorder is an http.RoundTripper that remembers every signature and Authorization
// header a client sent.
type sigRecorder struct {
	mu    sync.Mutex
	sent  []string
	inner http.RoundTripper
}

var sigPattern = regexp.MustCompile(`(?:Signature=|chunk-signature=)([0-9a-f]{64})`)

func (s *sigRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	s.record(r.Header.Get("Authorization"))
	s.record(r.URL.RawQuery)
	return s.inner.RoundTrip(r)
}

func (s *sigRecorder) record(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.HasPrefix(text, "AWS4-") {
		s.sent = append(s.sent, text)
	}
	for _, m := range sigPattern.FindAllStringSubmatch(text, -1) {
		s.sent = append(s.sent, m[1])
	}
}

func (s *sigRecorder) secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sent...)
}

// TestSecretsNeverLogged drives good and bad signed requests (header, presigned, streaming,
// unknown keys, wrong secrets, throttled ones) at an S3 server logging at Debug into a
// buffer, then checks that no secret, signature or Authorization header shows in the logs
// or the metrics.
func TestSecretsNeverLogged(t *testing.T) {
	c := testcluster.StartS3(t, testcluster.S3Options{})
	var logs logBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	})

	// An S3 server of our own over the cluster's catalog and storage, logging into logs.
	nodes := objclient.New(objclient.Config{Timeout: 10 * time.Second})
	t.Cleanup(nodes.CloseIdleConnections)
	px, err := proxy.New(proxy.DefaultConfig(), nodes, &hlc.Clock{}, logger.With("part", "proxy"))
	if err != nil {
		t.Fatal(err)
	}
	px.SetRing(c.Storage.Ring)
	verifier := s3api.NewVerifier(s3api.AuthConfig{FailureLimit: 6},
		&s3api.MetaCredentials{Meta: c.Meta, TTL: time.Second})
	reg := prometheus.NewPedanticRegistry()
	scfg := s3api.DefaultServerConfig()
	scfg.Logger, scfg.Registerer = logger.With("part", "s3api"), reg
	srv := httptest.NewServer(s3api.NewServer(scfg, px, c.Meta, verifier))
	t.Cleanup(srv.Close)

	rec := &sigRecorder{inner: http.DefaultTransport}
	httpClient := &http.Client{Transport: rec}
	client := func(key, secret string) *s3.Client {
		return s3.New(s3.Options{
			Region: c.Region, BaseEndpoint: aws.String(srv.URL), UsePathStyle: true, HTTPClient: httpClient,
			Credentials:      credentials.NewStaticCredentialsProvider(key, secret, ""),
			RetryMaxAttempts: 1,
		})
	}
	ctx := ctxT(t)
	const wrongSecret = "wrong/secret/0000000000000000000000000000"
	good := client(c.AccessKey, c.SecretKey)
	b := aws.String("audited")

	// Good requests: header-signed, with a body, and presigned.
	if _, err := good.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	if _, err := good.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: strings.NewReader("hello")}); err != nil {
		t.Fatal(err)
	}
	if _, err := good.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("missing")}); code(err) != "NoSuchKey" {
		t.Fatalf("get missing: %v", err)
	}
	pget, err := s3.NewPresignClient(good).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	getURL := func(u string) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := getURL(pget.URL); st != http.StatusOK {
		t.Fatalf("presigned get: %d", st)
	}

	// A streaming upload whose header signature is good and whose chunk signatures are not.
	chunkSigs := []string{randomHex(t), randomHex(t)}
	body := "5;chunk-signature=" + chunkSigs[0] + "\r\nhello\r\n0;chunk-signature=" + chunkSigs[1] + "\r\n\r\n"
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, srv.URL+"/audited/streamed", strings.NewReader(body))
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", "5")
	req.Header.Set("X-Amz-Content-Sha256", s3api.PayloadStreaming)
	err = v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: c.AccessKey, SecretAccessKey: c.SecretKey},
		req, s3api.PayloadStreaming, "s3", c.Region, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rec.record(body)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("bad chunk signatures: %d", resp.StatusCode)
	}

	// Bad requests: a wrong secret, an unknown key, a tampered presigned URL, until the
	// failure limit refuses them.
	wrong := client(c.AccessKey, wrongSecret)
	if _, err := wrong.ListBuckets(ctx, &s3.ListBucketsInput{}); code(err) != "SignatureDoesNotMatch" {
		t.Fatalf("wrong secret: %v", err)
	}
	stranger := client("AKIANOSUCHKEY0000001", wrongSecret)
	if _, err := stranger.ListBuckets(ctx, &s3.ListBucketsInput{}); code(err) != "InvalidAccessKeyId" {
		t.Fatalf("unknown key: %v", err)
	}
	i := strings.Index(pget.URL, "X-Amz-Signature=") + len("X-Amz-Signature=")
	tampered := pget.URL[:i] + randomHex(t) + pget.URL[i+64:]
	rec.record(tampered)
	if st := getURL(tampered); st != http.StatusForbidden {
		t.Fatalf("tampered presigned URL: %d", st)
	}
	throttled := false
	for range 10 {
		_, err := wrong.ListBuckets(ctx, &s3.ListBucketsInput{})
		if code(err) == "SlowDown" {
			throttled = true
			break
		}
	}
	if !throttled {
		t.Fatal("never throttled")
	}

	// Now look.
	var metrics strings.Builder
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		metrics.WriteString(f.String() + "\n")
	}
	if !strings.Contains(metrics.String(), "stratus_s3api_auth_throttled_total") {
		t.Errorf("the auth metrics are not registered:\n%s", metrics.String())
	}
	out := logs.String()
	if !strings.Contains(out, "request refused") {
		t.Fatalf("the refusals were not logged; the test looks at nothing:\n%s", out)
	}
	forbidden := append([]string{c.SecretKey, wrongSecret}, rec.secrets()...)
	if len(forbidden) < 10 {
		t.Fatalf("only %d signatures recorded", len(forbidden)-2)
	}
	for _, s := range forbidden {
		if strings.Contains(out, s) {
			t.Errorf("the logs show %q", s)
		}
		if strings.Contains(metrics.String(), s) {
			t.Errorf("the metrics show %q", s)
		}
	}
	// No 64-hex run at all: a signature the server computed would look like one.
	if m := regexp.MustCompile(`[0-9a-f]{64}`).FindString(out); m != "" {
		t.Errorf("the logs show a signature-like %s", m)
	}
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
