package s3api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"stratus/internal/testcluster"
	meta "stratus/meta/client"
)

// applyGate holds the next catalog write of the meta client it carries, once armed, until
// released, and keeps the object entry that write indexes: a commit caught between a
// write's data and its index entry.
type applyGate struct {
	next http.RoundTripper

	mu      sync.Mutex
	armed   bool
	held    chan meta.ObjectEntry // the held write's entry
	release chan struct{}
}

func (g *applyGate) arm() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.armed, g.held, g.release = true, make(chan meta.ObjectEntry, 1), make(chan struct{})
}

func (g *applyGate) RoundTrip(r *http.Request) (*http.Response, error) {
	g.mu.Lock()
	hold := g.armed && strings.HasPrefix(r.URL.Path, meta.PathApply)
	if hold {
		g.armed = false
	}
	held, release := g.held, g.release
	g.mu.Unlock()
	if !hold {
		return g.next.RoundTrip(r)
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	held <- appliedEntry(r.URL.Path, body)
	select {
	case <-release:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return g.next.RoundTrip(r)
}

// appliedEntry is the object entry a catalog write's body (an apply request, or a batch
// of them) puts as current; zero if none.
func appliedEntry(path string, body []byte) meta.ObjectEntry {
	var batch meta.ApplyBatchRequest
	into := any(&batch)
	if path != meta.PathApplyBatch {
		batch.Requests = make([]meta.ApplyRequest, 1)
		into = &batch.Requests[0]
	}
	var err error
	if meta.IsBinary(body) {
		err = meta.DecodeBinary(body, into)
	} else {
		err = json.Unmarshal(body, into)
	}
	var e meta.ObjectEntry
	if err != nil {
		return e
	}
	for _, req := range batch.Requests {
		for _, op := range req.Ops {
			if op.Kind == meta.OpPut && op.Table == meta.TableObjects {
				json.Unmarshal(op.Value, &e) //nolint:errcheck // a zero entry fails the test's checks
			}
		}
	}
	return e
}

func (g *applyGate) wait(t *testing.T) meta.ObjectEntry {
	t.Helper()
	select {
	case e := <-g.held:
		if e.Data == "" {
			t.Fatalf("held commit indexes %+v: no storage name", e)
		}
		return e
	case <-time.After(20 * time.Second):
		t.Fatal("no catalog write held")
	}
	return meta.ObjectEntry{}
}

// gatedFront is a second S3 front end whose next catalog write a gate holds once armed.
func gatedFront(t *testing.T, c *testcluster.S3) (*s3.Client, *applyGate) {
	gate := &applyGate{}
	// Held writes wait for the test's cue, which a loaded machine may take seconds to give.
	front := frontVia(t, c, time.Minute, func(next http.RoundTripper) http.RoundTripper {
		gate.next = next
		return gate
	})
	return sdkClient(front, c.SecretKey), gate
}

// TestCompletionRaces: a CompleteMultipartUpload learns what its commit replaced from the
// commit itself, and one that lost to a later write leaves nothing behind.
//   - A PUT stamped before the completion but committed after the completion began
//     (between the completion's start and its commit) is the version the completion
//     replaces: its bytes go.
//   - A completion whose commit lands after a PUT stamped later answers 200, the PUT stays
//     current, and neither the completion's manifest nor its parts stay on any node.
func TestCompletionRaces(t *testing.T) {
	overwriteCases(t, func(t *testing.T, c *testcluster.S3, cl *s3.Client, ctx context.Context, bucket string) {
		ec := bucket == "ecb"
		b, k := aws.String(bucket), aws.String("k")
		frontA, gateA := gatedFront(t, c)
		frontB, gateB := gatedFront(t, c)
		// The fronts learn the bucket before their gates are armed.
		putBytes(t, ctx, frontA, bucket, "warm", []byte("a"))
		putBytes(t, ctx, frontB, bucket, "warm", []byte("b"))
		held := func(e meta.ObjectEntry) {
			t.Helper()
			for _, n := range c.Storage.Nodes {
				if c.Storage.Holds(ctx, n, e.Data) {
					return
				}
			}
			t.Fatalf("no node holds %s while its commit is held", e.Data)
		}
		gone := func(what string, names ...string) {
			t.Helper()
			healAll(t, ctx, c)
			for _, name := range names {
				for _, n := range c.Storage.Nodes {
					if c.Storage.Holds(ctx, n, name) {
						t.Fatalf("%s: node %s still holds %s", what, n.Addr, name)
					}
				}
			}
		}
		archives := func(what string, want int) {
			t.Helper()
			if got := ecArchives(c); ec && got != want {
				t.Fatalf("%s: %d fragment archives on disk, want %d", what, got, want)
			}
		}
		upload := func(seed uint64) (*string, types.CompletedPart, string) {
			t.Helper()
			up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: k})
			if err != nil {
				t.Fatal(err)
			}
			pp, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: k, UploadId: up.UploadId, PartNumber: aws.Int32(1),
				Body: bytes.NewReader(payload(300_000, seed))})
			if err != nil {
				t.Fatal(err)
			}
			return up.UploadId, types.CompletedPart{ETag: pp.ETag, PartNumber: aws.Int32(1)}, ".mpu/" + bucket + "/" + aws.ToString(up.UploadId) + "/1"
		}
		complete := func(cl *s3.Client, id *string, part types.CompletedPart) chan error {
			done := make(chan error, 1)
			go func() {
				_, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: k, UploadId: id,
					MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{part}}})
				done <- err
			}()
			return done
		}
		small := func(seed uint64) []byte { return payload(8_000, seed) } // whole copies in either bucket

		// A PUT (A) stamped first, held at its commit; the completion (B) starts, and is
		// held at its commit; A commits, then B, which replaces A.
		putBytes(t, ctx, cl, bucket, "k", small(1))
		id, part, _ := upload(2)
		gateA.arm()
		putA := make(chan error, 1)
		go func() {
			_, err := frontA.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: bytes.NewReader(small(3))})
			putA <- err
		}()
		a := gateA.wait(t)
		held(a)
		gateB.arm()
		doneB := complete(frontB, id, part)
		gateB.wait(t)
		close(gateA.release)
		if err := <-putA; err != nil {
			t.Fatal(err)
		}
		close(gateB.release)
		if err := <-doneB; err != nil {
			t.Fatal(err)
		}
		if got := getBytes(t, ctx, cl, bucket, "k", "bytes=0-999", ""); !bytes.Equal(got, payload(300_000, 2)[:1000]) {
			t.Fatal("the completed upload is not current")
		}
		gone("the PUT a completion replaced", a.Data)
		archives("the completed upload current", 6)

		// A completion (C) held at its commit while a PUT stamped later commits: C
		// answers 200, the PUT stays current, C's manifest and part go.
		id, part, partName := upload(4)
		gateB.arm()
		doneC := complete(frontB, id, part)
		manifest := gateB.wait(t)
		held(manifest)
		later := small(5)
		putBytes(t, ctx, cl, bucket, "k", later)
		close(gateB.release)
		if err := <-doneC; err != nil {
			t.Fatalf("overtaken completion: %v", err)
		}
		if got := getBytes(t, ctx, cl, bucket, "k", "", ""); !bytes.Equal(got, later) {
			t.Fatal("the later PUT is not current")
		}
		if ec {
			gone("an overtaken completion", manifest.Data)
		} else {
			gone("an overtaken completion", manifest.Data, partName)
		}
		archives("a whole object current", 0)
		// One null version: the overtaken completion's left the history.
		vs, err := cl.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b, Prefix: k})
		if err != nil {
			t.Fatal(err)
		}
		if len(vs.Versions) != 1 || aws.ToString(vs.Versions[0].VersionId) != "null" {
			t.Fatalf("versions of k: %+v", vs.Versions)
		}
	})
}

// TestCompletionAcrossVersioningChange: versioning is enabled while a completion waits at
// its commit. The commit finds the bucket record changed and the completion is decided
// again (one 503, which the SDK retries): it becomes a version of its own, and the object
// it replaced stays whole as the null version.
func TestCompletionAcrossVersioningChange(t *testing.T) {
	c, cl, ctx := withBucket(t, "turning")
	b, k := aws.String("turning"), aws.String("k")
	front, gate := gatedFront(t, c)
	old := payload(8_000, 30)
	putBytes(t, ctx, cl, "turning", "k", old)
	putBytes(t, ctx, front, "turning", "warm", []byte("w")) // the front remembers the bucket unversioned
	up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: k})
	if err != nil {
		t.Fatal(err)
	}
	part := payload(300_000, 31)
	pp, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: k, UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(part)})
	if err != nil {
		t.Fatal(err)
	}
	gate.arm()
	done := make(chan error, 1)
	go func() {
		_, err := front.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: k, UploadId: up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: pp.ETag, PartNumber: aws.Int32(1)}}}})
		done <- err
	}()
	gate.wait(t)
	if _, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	close(gate.release)
	if err := <-done; err != nil {
		t.Fatalf("completion across the versioning change: %v", err)
	}
	healAll(t, ctx, c)
	if got := getBytes(t, ctx, cl, "turning", "k", "", ""); !bytes.Equal(got, part) {
		t.Fatal("the completed upload is not current")
	}
	if got := getBytes(t, ctx, cl, "turning", "k", "", "null"); !bytes.Equal(got, old) {
		t.Fatal("the object the completion replaced is not whole as the null version")
	}
	vs, err := cl.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b, Prefix: k})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs.Versions) != 2 || aws.ToString(vs.Versions[0].VersionId) == "null" || aws.ToString(vs.Versions[1].VersionId) != "null" ||
		aws.ToInt64(vs.Versions[0].Size) != int64(len(part)) || aws.ToInt64(vs.Versions[1].Size) != int64(len(old)) {
		t.Fatalf("versions: %+v", vs.Versions)
	}
}
