package s3api_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"stratus/internal/testcluster"
	"stratus/internal/testutil"
	meta "stratus/meta/client"
	"stratus/s3api"
)

// A write that fails after some replicas or fragment archives took it must retract only its
// own bytes: the version the index still names stays readable, on every node, after
// replication and reconstruction.

// catalogCut fails the catalog writes (not the reads) of the meta client it carries while
// cut is set, as a catalog that became unreachable between a write's data and its commit.
type catalogCut struct {
	cut  atomic.Bool
	next http.RoundTripper
}

func (c *catalogCut) RoundTrip(r *http.Request) (*http.Response, error) {
	if c.cut.Load() && strings.HasPrefix(r.URL.Path, meta.PathApply) {
		return nil, errors.New("catalog unreachable (injected)")
	}
	return c.next.RoundTrip(r)
}

// cutFront starts a second S3 front end on c's proxy whose catalog writes cut stops, and
// returns a client of it.
func cutFront(t *testing.T, c *testcluster.S3) (*s3.Client, *catalogCut) {
	t.Helper()
	var cut *catalogCut
	front := frontVia(t, c, time.Second, func(next http.RoundTripper) http.RoundTripper {
		cut = &catalogCut{next: next}
		return cut
	})
	return sdkClient(front, c.SecretKey), cut
}

// frontVia starts a second S3 front end on c's proxy whose meta client sends its catalog
// requests through the round tripper wrap makes of its own, each given callTimeout (and no
// retries beyond it), and returns c with the front end's endpoint.
func frontVia(t *testing.T, c *testcluster.S3, callTimeout time.Duration, wrap func(http.RoundTripper) http.RoundTripper) *testcluster.S3 {
	t.Helper()
	cfg := meta.DefaultConfig(c.MetaAddr)
	cfg.CallTimeout, cfg.RetryTimeout = callTimeout, callTimeout
	cfg.HTTPClient = &http.Client{Transport: wrap(meta.NewTransport(cfg))}
	mc, err := meta.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	scfg := s3api.DefaultServerConfig()
	scfg.Logger = testutil.Logger(t).With("part", "s3api-front")
	srv := httptest.NewServer(s3api.NewServer(scfg, c.Proxy, mc, s3api.NewVerifier(s3api.AuthConfig{}, &s3api.MetaCredentials{Meta: c.Meta, TTL: time.Second})))
	t.Cleanup(srv.Close)
	front := *c
	front.Endpoint = srv.URL
	return &front
}

// overwriteCases runs f on a replicated bucket and on an erasure-coded one, each with
// versioning off and suspended.
func overwriteCases(t *testing.T, f func(t *testing.T, c *testcluster.S3, cl *s3.Client, ctx context.Context, bucket string)) {
	for _, ec := range []bool{false, true} {
		for _, suspended := range []bool{false, true} {
			name := map[bool]string{false: "replicated", true: "ec"}[ec] + map[bool]string{false: "", true: "-suspended"}[suspended]
			t.Run(name, func(t *testing.T) {
				var c *testcluster.S3
				var cl *s3.Client
				var ctx context.Context
				bucket := "ecb"
				if ec {
					c, cl, ctx = ecS3(t)
				} else {
					bucket = "keep"
					c, cl, ctx = withBucket(t, bucket)
				}
				if suspended {
					for _, st := range []types.BucketVersioningStatus{types.BucketVersioningStatusEnabled, types.BucketVersioningStatusSuspended} {
						if _, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
							VersioningConfiguration: &types.VersioningConfiguration{Status: st}}); err != nil {
							t.Fatal(err)
						}
					}
				}
				f(t, c, cl, ctx, bucket)
			})
		}
	}
}

// healAll runs a replication and a reconstruction pass on every node, twice.
func healAll(t *testing.T, ctx context.Context, c *testcluster.S3) {
	t.Helper()
	for range 2 {
		if err := c.Storage.ReplicateAll(ctx); err != nil {
			t.Fatal(err)
		}
		for _, n := range c.Storage.Nodes {
			if _, err := n.Server().ReconstructOnce(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func putBytes(t *testing.T, ctx context.Context, cl *s3.Client, bucket, key string, body []byte) {
	t.Helper()
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
}

// TestFailedOverwriteCommit: an overwrite whose catalog commit fails, after every replica
// (or fragment archive) took its bytes, fails, and the version it tried to replace stays
// current and readable, bytes and all, after replication and reconstruction.
func TestFailedOverwriteCommit(t *testing.T) {
	overwriteCases(t, func(t *testing.T, c *testcluster.S3, cl *s3.Client, ctx context.Context, bucket string) {
		old := payload(300_000, 1)
		putBytes(t, ctx, cl, bucket, "k", old)
		front, cut := cutFront(t, c)
		if got := getBytes(t, ctx, front, bucket, "k", "", ""); !bytes.Equal(got, old) { // and the front end knows the bucket
			t.Fatal("old object differs through the second front end")
		}
		cut.cut.Store(true)
		_, err := front.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: bytes.NewReader(payload(300_000, 2))})
		cut.cut.Store(false)
		if err == nil {
			t.Fatal("overwrite succeeded with its catalog commit failing")
		}
		healAll(t, ctx, c)
		if got := getBytes(t, ctx, cl, bucket, "k", "", ""); !bytes.Equal(got, old) {
			t.Fatal("the acknowledged version differs after a failed overwrite")
		}
	})
}

// TestFailedOverwriteQuorum: an overwrite that reaches too few nodes (two of three are
// down) fails; once they are back and the nodes have replicated and reconstructed, the
// acknowledged version is still there, on every node.
func TestFailedOverwriteQuorum(t *testing.T) {
	overwriteCases(t, func(t *testing.T, c *testcluster.S3, cl *s3.Client, ctx context.Context, bucket string) {
		old := payload(300_000, 3)
		putBytes(t, ctx, cl, bucket, "k", old)
		e, err := c.Meta.Index(bucket).GetObject(ctx, bucket, "k")
		if err != nil {
			t.Fatal(err)
		}
		nodes := c.Storage.Nodes
		nodes[1].Stop()
		nodes[2].Stop()
		_, err = cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: bytes.NewReader(payload(300_000, 4))})
		nodes[1].Restart()
		nodes[2].Restart()
		if err == nil {
			t.Fatal("overwrite succeeded with two of three nodes down")
		}
		healAll(t, ctx, c)
		if got := getBytes(t, ctx, cl, bucket, "k", "", ""); !bytes.Equal(got, old) {
			t.Fatal("the acknowledged version differs after a failed overwrite")
		}
		if e.EC != nil {
			if n := ecArchives(c); n != 6 {
				t.Fatalf("%d fragment archives on disk; want the acknowledged version's 6", n)
			}
		} else {
			for _, n := range nodes {
				if !c.Storage.Holds(ctx, n, e.Data) {
					t.Fatalf("node %s lost the acknowledged version", n.Addr)
				}
			}
		}
	})
}

// TestOverwriteLeavesNoGarbage: an overwrite reads back as the new bytes, with the null
// version ID, and the replaced version's bytes are gone from every node; so are the
// object's after DeleteObject and DeleteObjects.
func TestOverwriteLeavesNoGarbage(t *testing.T) {
	overwriteCases(t, func(t *testing.T, c *testcluster.S3, cl *s3.Client, ctx context.Context, bucket string) {
		entry := func(key string) meta.ObjectEntry {
			t.Helper()
			e, err := c.Meta.Index(bucket).GetObject(ctx, bucket, key)
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
		gone := func(e meta.ObjectEntry) {
			t.Helper()
			if e.Data == "" {
				t.Fatalf("entry %+v has no storage name of its own", e)
			}
			for _, n := range c.Storage.Nodes {
				if e.EC == nil && c.Storage.Holds(ctx, n, e.Data) {
					t.Fatalf("node %s still holds the bytes of a replaced version", n.Addr)
				}
			}
			if e.EC != nil {
				if n := ecArchives(c); n > 6 {
					t.Fatalf("%d fragment archives on disk; want at most one object's 6", n)
				}
			}
		}
		putBytes(t, ctx, cl, bucket, "k", payload(300_000, 5))
		first := entry("k")
		newer := payload(300_000, 6)
		putBytes(t, ctx, cl, bucket, "k", newer)
		if got := getBytes(t, ctx, cl, bucket, "k", "", ""); !bytes.Equal(got, newer) {
			t.Fatal("overwrite does not read back")
		}
		if got := getBytes(t, ctx, cl, bucket, "k", "bytes=1000-1999", ""); !bytes.Equal(got, newer[1000:2000]) {
			t.Fatal("range of the overwrite differs")
		}
		head, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("k")})
		if err != nil {
			t.Fatal(err)
		}
		if v := aws.ToString(head.VersionId); v != "" && v != "null" {
			t.Fatalf("version ID %q; want null or none", v)
		}
		healAll(t, ctx, c)
		gone(first)
		second := entry("k")
		if _, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("k")}); err != nil {
			t.Fatal(err)
		}
		putBytes(t, ctx, cl, bucket, "b", payload(300_000, 7))
		third := entry("b")
		if _, err := cl.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket),
			Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("b")}}}}); err != nil {
			t.Fatal(err)
		}
		healAll(t, ctx, c)
		gone(second)
		gone(third)
		if n := ecArchives(c); n != 0 {
			t.Fatalf("%d fragment archives left after every object was deleted", n)
		}
	})
}

// TestOverwritePathsLeaveNoGarbage: every other way of replacing or removing a null
// version — CopyObject, completing a multipart upload, lifecycle expiry — leaves the new
// version readable and no node holding the old one's bytes.
func TestOverwritePathsLeaveNoGarbage(t *testing.T) {
	overwriteCases(t, func(t *testing.T, c *testcluster.S3, cl *s3.Client, ctx context.Context, bucket string) {
		b := aws.String(bucket)
		current := func() meta.ObjectEntry {
			t.Helper()
			e, err := c.Meta.Index(bucket).GetObject(ctx, bucket, "k")
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
		gone := func(step string, e meta.ObjectEntry) {
			t.Helper()
			if e.Data == "" {
				t.Fatalf("%s: entry %+v has no storage name of its own", step, e)
			}
			healAll(t, ctx, c)
			for _, n := range c.Storage.Nodes {
				if e.EC == nil && c.Storage.Holds(ctx, n, e.Data) {
					t.Fatalf("%s: node %s still holds the bytes of the replaced version", step, n.Addr)
				}
			}
		}
		putBytes(t, ctx, cl, bucket, "src", payload(50_000, 8))
		putBytes(t, ctx, cl, bucket, "k", payload(50_000, 9))
		before := current()
		if _, err := cl.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("k"), CopySource: aws.String(bucket + "/src")}); err != nil {
			t.Fatal(err)
		}
		if got := getBytes(t, ctx, cl, bucket, "k", "", ""); !bytes.Equal(got, payload(50_000, 8)) {
			t.Fatal("copy does not read back")
		}
		gone("copy", before)

		before = current()
		up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("k")})
		if err != nil {
			t.Fatal(err)
		}
		part := payload(5<<20, 10)
		pp, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("k"), UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(part)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("k"), UploadId: up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: pp.ETag, PartNumber: aws.Int32(1)}}}}); err != nil {
			t.Fatal(err)
		}
		if got := getBytes(t, ctx, cl, bucket, "k", "bytes=0-999", ""); !bytes.Equal(got, part[:1000]) {
			t.Fatal("completed upload does not read back")
		}
		gone("complete", before)

		before = current()
		rec, _, err := c.Meta.Bucket(ctx, bucket)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Server.ExpireObject(ctx, rec, before); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("k")}); err == nil {
			t.Fatal("expired object still there")
		}
		gone("expire", before)
	})
}

// TestPostOverwrite: a browser-form upload (POST) over an object is a write like a PUT: one
// whose catalog commit fails leaves the acknowledged version whole, bytes and all, and one
// that succeeds leaves no node holding the bytes it replaced.
func TestPostOverwrite(t *testing.T) {
	overwriteCases(t, func(t *testing.T, c *testcluster.S3, cl *s3.Client, ctx context.Context, bucket string) {
		old := payload(300_000, 20)
		putBytes(t, ctx, cl, bucket, "k", old)
		before, err := c.Meta.Index(bucket).GetObject(ctx, bucket, "k")
		if err != nil {
			t.Fatal(err)
		}
		var cut *catalogCut
		front := frontVia(t, c, time.Second, func(next http.RoundTripper) http.RoundTripper {
			cut = &catalogCut{next: next}
			return cut
		})
		signer := postSigner{c, c.AccessKey, c.SecretKey}
		form := func() []formField {
			return fieldsOf(signer.policy(t, time.Minute, map[string]string{"bucket": bucket}, []any{"eq", "$key", "k"}), formField{"key", "k"})
		}
		cut.cut.Store(true)
		st, _, body := postForm(t, front, bucket, form(), "f", payload(300_000, 21))
		cut.cut.Store(false)
		if st < 500 {
			t.Fatalf("POST with its catalog commit failing: %d %s", st, body)
		}
		healAll(t, ctx, c)
		if got := getBytes(t, ctx, cl, bucket, "k", "", ""); !bytes.Equal(got, old) {
			t.Fatal("the acknowledged version differs after a failed POST over it")
		}
		newer := payload(300_000, 22)
		if st, _, body := postForm(t, c, bucket, form(), "f", newer); st != http.StatusNoContent {
			t.Fatalf("POST: %d %s", st, body)
		}
		if got := getBytes(t, ctx, cl, bucket, "k", "", ""); !bytes.Equal(got, newer) {
			t.Fatal("the POSTed object does not read back")
		}
		healAll(t, ctx, c)
		for _, n := range c.Storage.Nodes {
			if before.EC == nil && c.Storage.Holds(ctx, n, before.Data) {
				t.Fatalf("node %s still holds the bytes a POST replaced", n.Addr)
			}
		}
		if n := ecArchives(c); n > 6 {
			t.Fatalf("%d fragment archives on disk; want at most one object's 6", n)
		}
	})
}
