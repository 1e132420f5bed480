package ec2api

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"stratus/internal/testcluster"
	"stratus/internal/testutil"
	meta "stratus/meta/client"
)

// newS3Env is an EC2 API server beside a whole S3 cluster (storage nodes, proxy, S3 API) on
// the same catalog, so RegisterImage reads real objects. Accounts: the cluster's "tester"
// (named alice here) and "mallory", who owns no bucket.
func newS3Env(t *testing.T) (*env, *testcluster.S3) {
	t.Helper()
	c := testcluster.StartS3(t, testcluster.S3Options{})
	e := &env{t: t, Admin: c.Meta, Keys: map[string]testKey{
		"alice":   {c.AccessKey, c.SecretKey},
		"mallory": {"AKMALLORY00000000003", "mallory-secret-0123456789abcdefghijklm"},
	}}
	if err := c.Meta.CreateAccount(e.ctx(), meta.Account{ID: "mallory", Name: "mallory"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Meta.CreateAccessKey(e.ctx(), meta.AccessKey{ID: e.Keys["mallory"].ID, Account: "mallory", Secret: e.Keys["mallory"].Secret}); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Region: testRegion, Logger: testutil.Logger(t), S3Endpoint: c.Endpoint, S3Region: c.Region}, c.Meta)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	e.URL = "http://" + ln.Addr().String()
	return e, c
}

// qcow2Header returns a qcow2 version 3 header, naming a backing file if backing.
func qcow2Header(backing bool) []byte {
	b := make([]byte, 4096)
	copy(b, qcow2Magic)
	binary.BigEndian.PutUint32(b[4:], 3)
	if backing {
		binary.BigEndian.PutUint64(b[8:], 512)
		binary.BigEndian.PutUint32(b[16:], 10)
		copy(b[512:], "/etc/shadow")
	}
	binary.BigEndian.PutUint64(b[24:], 1<<30)
	binary.BigEndian.PutUint32(b[100:], 104)
	return b
}

// TestRegisterImage: images are registered from objects the caller reads through S3, their
// format probed (a qcow2 naming a backing file refused), kernels and ramdisks by the
// object's image-type metadata; another account cannot register the caller's objects, and
// DescribeImages and DeregisterImage see only what the caller may.
func TestRegisterImage(t *testing.T) {
	e, c := newS3Env(t)
	s3c := s3.New(s3.Options{Region: c.Region, BaseEndpoint: aws.String(c.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(c.AccessKey, c.SecretKey, ""), RetryMaxAttempts: 1})
	if _, err := s3c.CreateBucket(e.ctx(), &s3.CreateBucketInput{Bucket: aws.String("images")}); err != nil {
		t.Fatal(err)
	}
	put := func(key string, body []byte, md map[string]string) {
		t.Helper()
		if _, err := s3c.PutObject(e.ctx(), &s3.PutObjectInput{Bucket: aws.String("images"), Key: aws.String(key),
			Body: bytes.NewReader(body), Metadata: md}); err != nil {
			t.Fatal(err)
		}
	}
	put("disk.raw", bytes.Repeat([]byte{0xeb, 0x63}, 4096), nil)
	put("disk.qcow2", qcow2Header(false), nil)
	put("evil.qcow2", qcow2Header(true), nil)
	put("vmlinux", append([]byte("\x7fELF"), make([]byte, 1000)...), map[string]string{"image-type": "kernel"})
	put("initrd", []byte("070701 cpio"), map[string]string{"image-type": "ramdisk"})
	put("notakernel", []byte("hello"), map[string]string{"image-type": "kernel"})

	alice, mallory := e.sdk("alice"), e.sdk("mallory")
	reg := func(cl *ec2.Client, loc, name string, kernel, ramdisk *string) (string, error) {
		out, err := cl.RegisterImage(e.ctx(), &ec2.RegisterImageInput{ImageLocation: aws.String(loc), Name: aws.String(name),
			Architecture: types.ArchitectureValuesX8664, KernelId: kernel, RamdiskId: ramdisk})
		if err != nil {
			return "", err
		}
		return aws.ToString(out.ImageId), nil
	}
	aki, err := reg(alice, "images/vmlinux", "kernel-1", nil, nil)
	if err != nil || !meta.ValidImageID(aki, meta.ImageKernel) {
		t.Fatalf("kernel: %q, %v", aki, err)
	}
	ari, err := reg(alice, "images/initrd", "ramdisk-1", nil, nil)
	if err != nil || !meta.ValidImageID(ari, meta.ImageRamdisk) {
		t.Fatalf("ramdisk: %q, %v", ari, err)
	}
	raw, err := reg(alice, "images/disk.raw", "raw-1", aws.String(aki), aws.String(ari))
	if err != nil {
		t.Fatal(err)
	}
	qc, err := reg(alice, "images/disk.qcow2", "qcow-1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]meta.Image{raw: {Format: "raw", SizeBytes: 8192, KernelID: aki, RamdiskID: ari}, qc: {Format: "qcow2", SizeBytes: 4096}} {
		im, _, err := e.Admin.Image(e.ctx(), id)
		if err != nil || im.Format != want.Format || im.SizeBytes != want.SizeBytes || im.KernelID != want.KernelID ||
			im.RamdiskID != want.RamdiskID || im.Account != c.Account || im.Bucket != "images" || im.State != meta.ImageAvailable {
			t.Fatalf("image %s = %+v, %v; want %+v", id, im, err, want)
		}
	}
	_, err = reg(alice, "images/evil.qcow2", "evil", nil, nil)
	wantCode(t, err, "InvalidManifest")
	_, err = reg(alice, "images/notakernel", "bad-kernel", nil, nil)
	wantCode(t, err, "InvalidManifest")
	_, err = reg(alice, "images/missing", "missing", nil, nil)
	wantCode(t, err, "InvalidManifest")
	for _, loc := range []string{"../images/disk.raw", "images", "Images/disk.raw", "/disk.raw", "images/"} {
		_, err = reg(alice, loc, "bad-location", nil, nil)
		wantCode(t, err, "InvalidParameterValue")
	}
	_, err = reg(alice, "images/disk.raw", "raw-1", nil, nil)
	wantCode(t, err, "InvalidAMIName.Duplicate")

	// Mallory cannot register alice's object, nor see or use her images.
	_, err = reg(mallory, "images/disk.raw", "stolen", nil, nil)
	wantCode(t, err, "InvalidManifest")
	_, err = mallory.DescribeImages(e.ctx(), &ec2.DescribeImagesInput{ImageIds: []string{raw}})
	wantCode(t, err, "InvalidAMIID.NotFound")
	_, err = mallory.DeregisterImage(e.ctx(), &ec2.DeregisterImageInput{ImageId: aws.String(raw)})
	wantCode(t, err, "InvalidAMIID.NotFound")
	_, err = mallory.RunInstances(e.ctx(), &ec2.RunInstancesInput{ImageId: aws.String(raw), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	wantCode(t, err, "InvalidAMIID.NotFound")
	if all, _ := e.Admin.Images(e.ctx()); len(all) != 4 {
		t.Fatalf("%d images stored, want 4", len(all))
	}

	d, err := alice.DescribeImages(e.ctx(), &ec2.DescribeImagesInput{Owners: []string{"self"},
		Filters: []types.Filter{{Name: aws.String("image-type"), Values: []string{"machine"}}}})
	if err != nil || len(d.Images) != 2 {
		t.Fatalf("machine images: %v, %+v", err, d)
	}
	d, err = alice.DescribeImages(e.ctx(), &ec2.DescribeImagesInput{Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"raw-*"}}}})
	if err != nil || len(d.Images) != 1 || aws.ToString(d.Images[0].KernelId) != aki || aws.ToString(d.Images[0].ImageLocation) != "images/disk.raw" ||
		d.Images[0].State != types.ImageStateAvailable {
		t.Fatalf("raw-*: %v, %+v", err, d)
	}
	if _, err := alice.DeregisterImage(e.ctx(), &ec2.DeregisterImageInput{ImageId: aws.String(qc)}); err != nil {
		t.Fatal(err)
	}
	_, err = alice.DescribeImages(e.ctx(), &ec2.DescribeImagesInput{ImageIds: []string{qc}})
	wantCode(t, err, "InvalidAMIID.NotFound")
}
