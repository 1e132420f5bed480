package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
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

// computeServer is the all-in-one server with compute on (TCG, the test's libvirtd), an S3
// client and an EC2 client with its admin key, and the built test guest.
type computeServer struct {
	t     *testing.T
	ctx   context.Context
	uri   string // libvirt
	f     serverFlags
	creds adminCredentials
	s3    *s3.Client
	ec2   *ec2.Client
	guest testguest.Guest
}

// startComputeServer starts the server for the test's lifetime (bounded by ctx), with the
// kernel command line cmdline for kernel boots ("" keeps the default), and a bucket "boot".
// It skips where libvirt, QEMU or the guest cannot run.
func startComputeServer(t *testing.T, ctx context.Context, cmdline string) *computeServer {
	t.Helper()
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
	f := serverFlags{dataDir: filepath.Join(dir, "data"), devices: 3, replicas: 3, partPower: 6,
		metaListen: "127.0.0.1:0", objListen: "127.0.0.1:0", ec2Listen: "127.0.0.1:0", nbdListen: "127.0.0.1:0", volumeHost: "the-host",
		// Room for two t3.nano instances (2 vCPUs each) whatever the machine's CPUs: a
		// stopped instance keeps its room on its host.
		compute: computeFlags{domainType: "qemu", libvirtURI: uri, network: "user", cmdline: cmdline, vcpus: 4},
		front:   frontFlags{listen: "127.0.0.1:0", region: "us-east-1", metrics: "off"}}
	creds, _ := startServer(t, ctx, f)
	cs := &computeServer{t: t, ctx: ctx, uri: uri, f: f, creds: creds, guest: g,
		s3: s3.New(s3.Options{Region: creds.Region, BaseEndpoint: aws.String(creds.Endpoint), UsePathStyle: true, RetryMaxAttempts: 1,
			Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKey, creds.SecretKey, ""), HTTPClient: &http.Client{Timeout: 60 * time.Second}}),
		ec2: ec2Client(creds.EC2Endpoint, creds.Region, creds.AccessKey, creds.SecretKey)}
	if _, err := cs.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("boot")}); err != nil {
		t.Fatal(err)
	}
	return cs
}

// register uploads the file at path to boot/key with image-type kind ("" for a machine
// image) and registers it; in may set more of the registration (kernel, ramdisk).
func (cs *computeServer) register(key, path, kind string, in *ec2.RegisterImageInput) string {
	cs.t.Helper()
	body, err := os.Open(path)
	if err != nil {
		cs.t.Fatal(err)
	}
	defer body.Close()
	put := &s3.PutObjectInput{Bucket: aws.String("boot"), Key: aws.String(key), Body: body}
	if kind != "" {
		put.Metadata = map[string]string{"image-type": kind}
	}
	if _, err := cs.s3.PutObject(cs.ctx, put); err != nil {
		cs.t.Fatal(err)
	}
	if in == nil {
		in = &ec2.RegisterImageInput{}
	}
	in.ImageLocation, in.Name = aws.String("boot/"+key), aws.String(key)
	im, err := cs.ec2.RegisterImage(cs.ctx, in)
	if err != nil {
		cs.t.Fatalf("register %s: %v", key, err)
	}
	return aws.ToString(im.ImageId)
}

// instance describes instance id.
func (cs *computeServer) instance(id string) types.Instance {
	cs.t.Helper()
	out, err := cs.ec2.DescribeInstances(cs.ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil || len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 1 {
		cs.t.Fatalf("describe %s: %+v, %v", id, out, err)
	}
	return out.Reservations[0].Instances[0]
}

// waitState waits until instance id is in state want.
func (cs *computeServer) waitState(id string, want types.InstanceStateName, timeout time.Duration) {
	cs.t.Helper()
	testutil.Eventually(cs.t, timeout, func() error {
		if s := cs.instance(id).State.Name; s != want {
			return fmt.Errorf("instance %s is %s, want %s", id, s, want)
		}
		return nil
	})
}

// console returns the instance's console tail as GetConsoleOutput answers it.
func (cs *computeServer) console(id string) (string, error) {
	out, err := cs.ec2.GetConsoleOutput(cs.ctx, &ec2.GetConsoleOutputInput{InstanceId: aws.String(id)})
	if err != nil {
		return "", err
	}
	text, err := base64.StdEncoding.DecodeString(aws.ToString(out.Output))
	return string(text), err
}
