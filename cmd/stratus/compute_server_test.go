package main

import (
	"context"
	"encoding/base64"
	"fmt"
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

	"stratus/internal/testguest"
	"stratus/internal/testutil"
)

// TestServerRunsInstances is the instance launch of the architecture, end to end on the
// all-in-one server with compute on (TCG): the test guest's kernel and initrd go up through
// S3, RegisterImage makes them an aki and an ari, RunInstances places an instance on the
// server's host, computed boots it, GetConsoleOutput shows the guest's boot and user data,
// the guest's own power-off shows as stopped, and TerminateInstances ends it.
func TestServerRunsInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a guest under TCG")
	}
	uri := testguest.Libvirtd(t)
	t.Cleanup(func() {
		if err := testguest.StopDaemons(); err != nil {
			t.Error(err)
		}
	})
	g := testguest.BuildGuest(t)
	// QEMU (libvirt's user) must reach the instance files under the data directory.
	dir, err := os.MkdirTemp("", "stratus-compute-server-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sctx, stopServer := context.WithCancel(ctx)
	f := serverFlags{dataDir: filepath.Join(dir, "data"), devices: 3, replicas: 3, partPower: 6,
		metaListen: freeAddr(t), objListen: "127.0.0.1:0", ec2Listen: "127.0.0.1:0", nbdListen: freeAddr(t), volumeHost: "the-host",
		compute: computeFlags{domainType: "qemu", libvirtURI: uri, network: "user"},
		front:   frontFlags{listen: "127.0.0.1:0", region: "us-east-1", metrics: "off"}}
	ready := make(chan adminCredentials, 1)
	done := make(chan error, 1)
	go func() { done <- runServer(sctx, f, func(c adminCredentials) { ready <- c }) }()
	defer func() { stopServer(); <-done }()
	var creds adminCredentials
	select {
	case creds = <-ready:
	case err := <-done:
		t.Fatalf("server: %v", err)
	}

	s3c := s3.New(s3.Options{Region: creds.Region, BaseEndpoint: aws.String(creds.Endpoint), UsePathStyle: true, RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKey, creds.SecretKey, ""), HTTPClient: &http.Client{Timeout: 60 * time.Second}})
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("boot")}); err != nil {
		t.Fatal(err)
	}
	c := ec2Client(creds.EC2Endpoint, creds.Region, creds.AccessKey, creds.SecretKey)
	register := func(key, path, kind string) string {
		t.Helper()
		body, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer body.Close()
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("boot"), Key: aws.String(key), Body: body,
			Metadata: map[string]string{"image-type": kind}}); err != nil {
			t.Fatal(err)
		}
		im, err := c.RegisterImage(ctx, &ec2.RegisterImageInput{ImageLocation: aws.String("boot/" + key), Name: aws.String(key)})
		if err != nil {
			t.Fatalf("register %s: %v", key, err)
		}
		return aws.ToString(im.ImageId)
	}
	aki := register("vmlinux", g.Kernel, "kernel")
	ari := register("initrd.img", g.Initrd, "ramdisk")
	if !strings.HasPrefix(aki, "aki-") || !strings.HasPrefix(ari, "ari-") {
		t.Fatalf("registered %s and %s", aki, ari)
	}

	userData := "launched through EC2"
	start := time.Now()
	run, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(aki), RamdiskId: aws.String(ari),
		InstanceType: types.InstanceTypeT3Nano, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(userData)))})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(run.Instances[0].InstanceId)
	state := func() types.InstanceStateName {
		out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil || len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 1 {
			t.Fatalf("describe %s: %+v, %v", id, out, err)
		}
		return out.Reservations[0].Instances[0].State.Name
	}
	// The guest boots, prints its markers and powers itself off.
	testutil.Eventually(t, 60*time.Second, func() error {
		out, err := c.GetConsoleOutput(ctx, &ec2.GetConsoleOutputInput{InstanceId: aws.String(id)})
		if err != nil {
			return err
		}
		text, _ := base64.StdEncoding.DecodeString(aws.ToString(out.Output))
		if !strings.Contains(string(text), testguest.BootMarker) || !strings.Contains(string(text), userData) {
			return fmt.Errorf("console so far: %q (instance %s)", text, state())
		}
		return nil
	})
	t.Logf("console shows the boot %v after RunInstances", time.Since(start).Round(time.Millisecond))
	testutil.Eventually(t, 30*time.Second, func() error {
		if s := state(); s != types.InstanceStateNameStopped {
			return fmt.Errorf("instance %s", s)
		}
		return nil
	})
	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		if s := state(); s != types.InstanceStateNameTerminated {
			return fmt.Errorf("instance %s", s)
		}
		return nil
	})
	if ents, err := os.ReadDir(filepath.Join(f.dataDir, "computed", "instances")); err != nil || len(ents) != 0 {
		t.Errorf("instance files after termination: %v, %v", ents, err)
	}
}
