package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"stratus/internal/testutil"
)

// TestServerRunsLifecycle: `stratus server` runs the lifecycle scanner at
// --lifecycle-interval, and it expires what a rule dated in the past says is due.
func TestServerRunsLifecycle(t *testing.T) {
	metricsAddr := freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f := serverFlags{dataDir: filepath.Join(t.TempDir(), "data"), devices: 3, replicas: 3, partPower: 8,
		metaListen: "127.0.0.1:0", objListen: "127.0.0.1:0",
		front: frontFlags{listen: "127.0.0.1:0", region: "us-east-1", metrics: metricsAddr, lifecycleInterval: 200 * time.Millisecond}}
	creds, _ := startServer(t, ctx, f)
	cl := s3.New(s3.Options{Region: creds.Region, BaseEndpoint: aws.String(creds.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKey, creds.SecretKey, "")})
	b := aws.String("aging")
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"old/a", "new/b"} {
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(k), Body: bytes.NewReader([]byte("x"))}); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := cl.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: b,
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{{ID: aws.String("old"),
			Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("old/")},
			Expiration: &types.LifecycleExpiration{Date: &past}}}}}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		_, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("old/a")})
		if err == nil {
			return errors.New("old/a not expired yet")
		}
		return nil
	})
	if _, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("new/b")}); err != nil {
		t.Fatalf("new/b, outside the rule, is gone: %v", err)
	}
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "stratus_s3api_lifecycle_objects_expired_total 1"; !strings.Contains(string(body), want) {
		t.Fatalf("metrics lack %q", want)
	}
}
