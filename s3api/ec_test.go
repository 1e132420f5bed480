package s3api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"stratus/internal/testcluster"
	meta "stratus/meta/client"
)

// ecS3 is an S3 cluster of six devices on three hosts with an ec-4-2 policy (64 KiB
// segments, objects under 16 KiB kept whole) whose ring the proxy has, and a bucket "ecb"
// on it.
func ecS3(t *testing.T) (*testcluster.S3, *s3.Client, context.Context) {
	t.Helper()
	c := testcluster.StartS3(t, testcluster.S3Options{Storage: testcluster.StorageOptions{Nodes: 3, Devices: 2}})
	cl := sdkClient(c, c.SecretKey)
	ctx := ctxT(t)
	if err := c.Meta.CreatePolicy(ctx, meta.StoragePolicy{Name: "ec-4-2", Type: meta.PolicyEC, ECData: 4, ECParity: 2,
		ECSegmentBytes: 64 << 10, ECSmallBytes: 16 << 10}); err != nil {
		t.Fatal(err)
	}
	r := c.Storage.PolicyRing(t, 6)
	c.Proxy.SetPolicyRing("ec-4-2", r)
	for _, n := range c.Storage.Nodes {
		n.Server().SetPolicyRing("ec-4-2", r) // for their reconstructors
	}
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("ecb"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: "ec-4-2"}}); err != nil {
		t.Fatal(err)
	}
	return c, cl, ctx
}

func getBytes(t *testing.T, ctx context.Context, cl *s3.Client, bucket, key, rng, version string) []byte {
	t.Helper()
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if rng != "" {
		in.Range = aws.String(rng)
	}
	if version != "" {
		in.VersionId = aws.String(version)
	}
	out, err := cl.GetObject(ctx, in)
	if err != nil {
		t.Fatalf("get %s/%s %s: %v", bucket, key, rng, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("read %s/%s: %v", bucket, key, err)
	}
	return b
}

// TestS3ErasureCoded: through the S3 API, a large object in an ec-4-2 bucket is stored as
// six fragment archives and a small one whole; both read back whole and by range; with two
// devices' archives removed (two hosts), and then with a corrupt fragment, reads still
// return the object; copies and versions in the bucket are erasure-coded too.
func TestS3ErasureCoded(t *testing.T) {
	c, cl, ctx := ecS3(t)
	big := payload(300_000, 1)
	small := payload(1000, 2)
	for key, body := range map[string][]byte{"big": big, "small": small} {
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("ecb"), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	be, err := c.Meta.Index("ecb").GetObject(ctx, "ecb", "big")
	if err != nil || be.EC == nil || be.EC.K != 4 || be.EC.M != 2 || be.EC.Ring != "ec-4-2" {
		t.Fatalf("big's entry %+v %v: want erasure-coded 4+2", be, err)
	}
	if se, err := c.Meta.Index("ecb").GetObject(ctx, "ecb", "small"); err != nil || se.EC != nil {
		t.Fatalf("small's entry %+v %v: want whole copies", se, err)
	}
	archives := func() []string {
		var all []string
		for _, n := range c.Storage.Nodes {
			m, _ := filepath.Glob(filepath.Join(n.Dir, "*", "objects-ec-4-2", "*", "*", "*", "*.data"))
			all = append(all, m...)
		}
		return all
	}
	if n := len(archives()); n != 6 {
		t.Fatalf("%d fragment archives on disk, want 6", n)
	}
	check := func(what string) {
		t.Helper()
		if got := getBytes(t, ctx, cl, "ecb", "big", "", ""); !bytes.Equal(got, big) {
			t.Fatalf("%s: whole object differs", what)
		}
		if got := getBytes(t, ctx, cl, "ecb", "big", "bytes=70000-200009", ""); !bytes.Equal(got, big[70000:200010]) {
			t.Fatalf("%s: range differs", what)
		}
		if got := getBytes(t, ctx, cl, "ecb", "small", "", ""); !bytes.Equal(got, small) {
			t.Fatalf("%s: small object differs", what)
		}
	}
	check("healthy")

	// Two devices' archives gone, on two hosts.
	var gone int
	for i, n := range c.Storage.Nodes[:2] {
		m, _ := filepath.Glob(filepath.Join(n.Dir, n.Devices[i%2], "objects-ec-4-2", "*", "*", "*", "*.data"))
		for _, f := range m {
			os.Remove(f)
			gone++
		}
	}
	if gone != 2 {
		t.Fatalf("removed %d archives, want 2", gone)
	}
	check("two archives gone")

	// Written again (all six archives), then one corrupted in the middle.
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("ecb"), Key: aws.String("big"), Body: bytes.NewReader(big)}); err != nil {
		t.Fatal(err)
	}
	files := archives()
	if len(files) != 6 {
		t.Fatalf("%d archives after rewrite", len(files))
	}
	f, err := os.OpenFile(files[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	f.WriteAt([]byte{0xde, 0xad, 0xbe, 0xef}, fi.Size()/2)
	f.Close()
	check("a corrupt fragment")

	// A copy into the bucket is erasure-coded too.
	if _, err := cl.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("ecb"), Key: aws.String("copy"), CopySource: aws.String("ecb/big")}); err != nil {
		t.Fatal(err)
	}
	if ce, err := c.Meta.Index("ecb").GetObject(ctx, "ecb", "copy"); err != nil || ce.EC == nil {
		t.Fatalf("copy's entry %+v %v", ce, err)
	}
	if got := getBytes(t, ctx, cl, "ecb", "copy", "bytes=1-99999", ""); !bytes.Equal(got, big[1:100000]) {
		t.Fatal("copy differs")
	}

	// Versions of a versioned EC bucket each have their own archives.
	if _, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("ecb"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	v1, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("ecb"), Key: aws.String("v"), Body: bytes.NewReader(big)})
	if err != nil {
		t.Fatal(err)
	}
	other := payload(200_000, 3)
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("ecb"), Key: aws.String("v"), Body: bytes.NewReader(other)}); err != nil {
		t.Fatal(err)
	}
	if got := getBytes(t, ctx, cl, "ecb", "v", "", aws.ToString(v1.VersionId)); !bytes.Equal(got, big) {
		t.Fatal("first version differs")
	}
	if got := getBytes(t, ctx, cl, "ecb", "v", "", ""); !bytes.Equal(got, other) {
		t.Fatal("current version differs")
	}
}

// ecArchives counts the fragment archives (not tombstones) of the ec-4-2 ring on disk.
func ecArchives(c *testcluster.S3) int {
	n := 0
	for _, node := range c.Storage.Nodes {
		m, _ := filepath.Glob(filepath.Join(node.Dir, "*", "objects-ec-4-2", "*", "*", "*", "*.data"))
		n += len(m)
	}
	return n
}

// TestS3ErasureCodedCleanup: the fragment archives of a version the index stops naming go —
// when a small object replaces it, when it is deleted, when a version is removed — and an
// erasure-coded overwrite keeps only its own.
func TestS3ErasureCodedCleanup(t *testing.T) {
	c, cl, ctx := ecS3(t)
	put := func(bucket, key string, body []byte) *s3.PutObjectOutput {
		t.Helper()
		out, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := func(n int, what string) {
		t.Helper()
		if got := ecArchives(c); got != n {
			t.Fatalf("%s: %d fragment archives on disk, want %d", what, got, n)
		}
	}
	big := payload(100_000, 5)
	put("ecb", "k", big)
	want(6, "one EC object")
	put("ecb", "k", payload(120_000, 6))
	want(6, "overwritten by an EC object")
	if got := getBytes(t, ctx, cl, "ecb", "k", "", ""); !bytes.Equal(got, payload(120_000, 6)) {
		t.Fatal("overwrite not read back")
	}
	put("ecb", "k", []byte("small now"))
	want(0, "overwritten by a small object")
	put("ecb", "k", big)
	if _, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("ecb"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	want(0, "deleted")

	if _, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("ecb"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	v1 := put("ecb", "v", big)
	put("ecb", "v", big)
	want(12, "two versions")
	if _, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("ecb"), Key: aws.String("v")}); err != nil {
		t.Fatal(err)
	}
	want(12, "a delete marker keeps the versions")
	if _, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("ecb"), Key: aws.String("v"), VersionId: v1.VersionId}); err != nil {
		t.Fatal(err)
	}
	want(6, "one version removed")
}

// TestS3ErasureCodedMultipart: the parts of a multipart upload in an erasure-coded bucket
// are erasure-coded; the completed object reads back whole and by ranges across parts;
// aborting an upload removes its parts' archives.
func TestS3ErasureCodedMultipart(t *testing.T) {
	c, cl, ctx := ecS3(t)
	bucket, key := aws.String("ecb"), aws.String("mp")
	up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	parts := [][]byte{payload(5<<20, 11), payload(300_000, 12)}
	var done []types.CompletedPart
	for i, p := range parts {
		out, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: key, UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)})
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(i + 1))})
	}
	if n := ecArchives(c); n != 12 {
		t.Fatalf("%d fragment archives for two parts, want 12", n)
	}
	if _, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: key, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}); err != nil {
		t.Fatal(err)
	}
	whole := append(append([]byte{}, parts[0]...), parts[1]...)
	if got := getBytes(t, ctx, cl, "ecb", "mp", "", ""); !bytes.Equal(got, whole) {
		t.Fatal("multipart object differs")
	}
	lo := int64(5<<20) - 1000
	if got := getBytes(t, ctx, cl, "ecb", "mp", "bytes=5241880-5244879", ""); !bytes.Equal(got, whole[lo:lo+3000]) {
		t.Fatal("range across the parts differs")
	}
	// Overwriting the object drops its parts' archives.
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: key, Body: bytes.NewReader([]byte("small"))}); err != nil {
		t.Fatal(err)
	}
	if n := ecArchives(c); n != 0 {
		t.Fatalf("%d fragment archives after the multipart object was replaced", n)
	}
	// An aborted upload leaves none either.
	up, err = cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: key, UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(parts[1])}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: bucket, Key: key, UploadId: up.UploadId}); err != nil {
		t.Fatal(err)
	}
	if n := ecArchives(c); n != 0 {
		t.Fatalf("%d fragment archives after an abort", n)
	}
}

// TestS3ErasureCodedHealing: two archives of an object lost (two hosts' devices), one
// reconstruction pass on every node rebuilds them, and then the object survives the loss of
// two other archives — which without the rebuild would be four of six, too many.
func TestS3ErasureCodedHealing(t *testing.T) {
	c, cl, ctx := ecS3(t)
	body := payload(400_000, 21)
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("ecb"), Key: aws.String("heal"), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	files := func(n *testcluster.Node, dev string) []string {
		m, _ := filepath.Glob(filepath.Join(n.Dir, dev, "objects-ec-4-2", "*", "*", "*", "*.data"))
		return m
	}
	remove := func(n *testcluster.Node, dev string) {
		t.Helper()
		f := files(n, dev)
		if len(f) != 1 {
			t.Fatalf("%d archives on %s/%s", len(f), n.Addr, dev)
		}
		if err := os.Remove(f[0]); err != nil {
			t.Fatal(err)
		}
	}
	nodes := c.Storage.Nodes
	remove(nodes[0], nodes[0].Devices[0])
	remove(nodes[1], nodes[1].Devices[0])
	rebuilt := 0
	for range 2 {
		for _, n := range nodes {
			rep, err := n.Server().ReconstructOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			rebuilt += rep.Rebuilt
		}
	}
	if rebuilt != 2 || ecArchives(c) != 6 {
		t.Fatalf("%d archives rebuilt, %d on disk; want 2 and 6", rebuilt, ecArchives(c))
	}
	remove(nodes[0], nodes[0].Devices[1])
	remove(nodes[2], nodes[2].Devices[0])
	if got := getBytes(t, ctx, cl, "ecb", "heal", "", ""); !bytes.Equal(got, body) {
		t.Fatal("object differs after healing and two more losses")
	}
}

// TestS3ErasureCodeEverything: with no small-object threshold every object is
// erasure-coded, even an empty or one-byte one, while a multipart object's manifest stays
// whole (its parts are the coded ones).
func TestS3ErasureCodeEverything(t *testing.T) {
	c, cl, ctx := ecS3(t)
	if err := c.Meta.CreatePolicy(ctx, meta.StoragePolicy{Name: "ec-all", Type: meta.PolicyEC, ECData: 4, ECParity: 2,
		ECSegmentBytes: 64 << 10, ECSmallBytes: -1, Ring: "ec-4-2"}); err != nil {
		t.Fatal(err)
	}
	bucket := aws.String("every")
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket,
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: "ec-all"}}); err != nil {
		t.Fatal(err)
	}
	for _, body := range [][]byte{{}, {7}} {
		key := aws.String(fmt.Sprintf("k%d", len(body)))
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: key, Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
		if e, err := c.Meta.Index("every").GetObject(ctx, "every", *key); err != nil || e.EC == nil {
			t.Fatalf("%d-byte object: %+v %v, want erasure-coded", len(body), e, err)
		}
		if got := getBytes(t, ctx, cl, "every", *key, "", ""); !bytes.Equal(got, body) {
			t.Fatalf("%d-byte object differs", len(body))
		}
	}
	up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: aws.String("mp")})
	if err != nil {
		t.Fatal(err)
	}
	part := payload(1000, 3)
	out, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: aws.String("mp"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(part)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: aws.String("mp"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: out.ETag, PartNumber: aws.Int32(1)}}}}); err != nil {
		t.Fatal(err)
	}
	if e, err := c.Meta.Index("every").GetObject(ctx, "every", "mp"); err != nil || e.EC != nil {
		t.Fatalf("multipart entry %+v %v: its manifest should be whole", e, err)
	}
	if got := getBytes(t, ctx, cl, "every", "mp", "", ""); !bytes.Equal(got, part) {
		t.Fatal("multipart object differs")
	}
}
