package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"stratus/internal/testutil"
)

// ec2Client is an aws-sdk-go-v2 EC2 client with the SDK's standard retries, as users run
// it: under load its HTTP/1.1 connection handling now and then fails a read of a complete
// answer with "use of closed network connection", which the SDK retries (RunInstances is
// safe to retry: the SDK fills in its ClientToken).
func ec2Client(endpoint, region, key, secret string) *ec2.Client {
	return ec2.New(ec2.Options{Region: region, BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""), HTTPClient: &http.Client{Timeout: 10 * time.Second}})
}

// freeAddr returns a loopback address that was free a moment ago and not handed out before.
func freeAddr(t *testing.T) string {
	t.Helper()
	return testutil.FreeAddr(t, "127.0.0.1")
}

// TestServerServesEC2: 'stratus server' serves the EC2 API with the admin's S3 key and
// records its endpoint in credentials.json; 'stratus ec2api' alone, with the ec2api
// certificate the server made, serves the same catalog.
func TestServerServesEC2(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f := serverFlags{dataDir: filepath.Join(dir, "data"), devices: 3, replicas: 3, partPower: 6,
		metaListen: "127.0.0.1:0", objListen: "127.0.0.1:0", ec2Listen: "127.0.0.1:0",
		front: frontFlags{listen: "127.0.0.1:0", region: "us-east-1", metrics: "off"}}
	creds, _ := startServer(t, ctx, f)
	var saved adminCredentials
	data, err := os.ReadFile(filepath.Join(f.dataDir, "credentials.json"))
	if err != nil || json.Unmarshal(data, &saved) != nil || saved.EC2Endpoint == "" || saved.EC2Endpoint != creds.EC2Endpoint {
		t.Fatalf("credentials.json %s: ec2_endpoint %q, printed %q (%v)", data, saved.EC2Endpoint, creds.EC2Endpoint, err)
	}
	c := ec2Client(creds.EC2Endpoint, creds.Region, creds.AccessKey, creds.SecretKey)
	vol, err := c.CreateVolume(ctx, &ec2.CreateVolumeInput{Size: aws.Int32(1), AvailabilityZone: aws.String("us-east-1a")})
	if err != nil {
		t.Fatal(err)
	}
	// RegisterImage reads the object through the server's own S3 endpoint.
	s3c := s3.New(s3.Options{Region: creds.Region, BaseEndpoint: aws.String(creds.Endpoint), UsePathStyle: true, RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKey, creds.SecretKey, ""), HTTPClient: &http.Client{Timeout: 10 * time.Second}})
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("images")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("images"), Key: aws.String("disk.raw"), Body: strings.NewReader("raw disk bytes")}); err != nil {
		t.Fatal(err)
	}
	if im, err := c.RegisterImage(ctx, &ec2.RegisterImageInput{ImageLocation: aws.String("images/disk.raw"), Name: aws.String("disk")}); err != nil || aws.ToString(im.ImageId) == "" {
		t.Fatalf("RegisterImage through the server's S3: %v", err)
	}

	// The same catalog through a stand-alone EC2 API with the server's ec2api certificate.
	listen := freeAddr(t)
	cmd := newRootCmd()
	cmd.SetArgs([]string{"ec2api", "--listen", listen, "--metrics-listen", "off", "--meta", creds.MetaAddr,
		"--pki-dir", filepath.Join(f.dataDir, "pki"), "--region", "us-east-1"})
	api := runInBackground(ctx, cmd.ExecuteContext)
	defer api.stopOrFail(t)
	alone := ec2Client("http://"+listen, "us-east-1", creds.AccessKey, creds.SecretKey)
	testutil.Eventually(t, 20*time.Second, func() error {
		if err := api.exited(); err != nil {
			t.Fatalf("stratus ec2api: %v", err)
		}
		out, err := alone.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{aws.ToString(vol.VolumeId)}})
		if err != nil {
			return err
		}
		if len(out.Volumes) != 1 || out.Volumes[0].State != types.VolumeStateAvailable {
			t.Fatalf("stand-alone ec2api sees %+v", out.Volumes)
		}
		return nil
	})
}
