package s3api_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"stratus/internal/testcluster"
)

// versioningTo sets bucket's versioning status.
func versioningTo(t *testing.T, ctx context.Context, cl *s3.Client, bucket string, st types.BucketVersioningStatus) {
	t.Helper()
	if _, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
		VersioningConfiguration: &types.VersioningConfiguration{Status: st}}); err != nil {
		t.Fatal(err)
	}
}

// listedVersions lists key's versions and markers as "id" and "id(marker)", newest first
// within each kind, with the latest one's entry.
func listedVersions(t *testing.T, ctx context.Context, cl *s3.Client, bucket, key string) (versions, markers []string, latest string) {
	t.Helper()
	out, err := cl.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range out.Versions {
		versions = append(versions, *v.VersionId)
		if *v.IsLatest {
			latest = *v.VersionId
		}
	}
	for _, m := range out.DeleteMarkers {
		markers = append(markers, *m.VersionId)
		if *m.IsLatest {
			latest = *m.VersionId + "(marker)"
		}
	}
	return versions, markers, latest
}

// noReplicaHolds waits (bounded) until no storage node holds name: the tombstones of a
// removed version's bytes reach the last replicas after the quorum.
func noReplicaHolds(t *testing.T, ctx context.Context, c *testcluster.S3, name string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		held := 0
		for _, n := range c.Storage.Nodes {
			if c.Storage.Holds(ctx, n, name) {
				held++
			}
		}
		if held == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d replicas still hold %s", held, name)
		}
	}
}

func readBody(t *testing.T, ctx context.Context, cl *s3.Client, bucket, key, vid string) (string, error) {
	t.Helper()
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if vid != "" {
		in.VersionId = aws.String(vid)
	}
	out, err := cl.GetObject(ctx, in)
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return string(b), err
}

// TestNullVersionDeletes: with versioning suspended a DELETE removes the null version,
// bytes and all, and puts a null delete marker in its place, which the next DELETE or
// null write replaces (never two null versions); DELETE ?versionId=null removes the null
// version, a version or a marker, in a suspended or an enabled bucket, and is a no-op when
// there is none. The same through boto3.
func TestNullVersionDeletes(t *testing.T) {
	c, cl, ctx := withBucket(t, "nulls")
	const bucket, key = "nulls", "k"
	b, k := aws.String(bucket), aws.String(key)
	put := func(body string) *s3.PutObjectOutput {
		t.Helper()
		out, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: strings.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	del := func(vid string) *s3.DeleteObjectOutput {
		t.Helper()
		in := &s3.DeleteObjectInput{Bucket: b, Key: k}
		if vid != "" {
			in.VersionId = aws.String(vid)
		}
		out, err := cl.DeleteObject(ctx, in)
		if err != nil {
			t.Fatalf("delete %q: %v", vid, err)
		}
		return out
	}
	expect := func(step string, wantVersions, wantMarkers int, wantLatest string) []string {
		t.Helper()
		v, m, latest := listedVersions(t, ctx, cl, bucket, key)
		if len(v) != wantVersions || len(m) != wantMarkers || latest != wantLatest {
			t.Fatalf("%s: versions %v markers %v latest %q; want %d, %d, %q", step, v, m, latest, wantVersions, wantMarkers, wantLatest)
		}
		return v
	}

	versioningTo(t, ctx, cl, bucket, types.BucketVersioningStatusEnabled)
	v1 := *put("v1").VersionId
	versioningTo(t, ctx, cl, bucket, types.BucketVersioningStatusSuspended)
	put("null body")
	expect("suspended write", 2, 0, "null")

	// The null version's bytes live at a name of their own, which its entry names.
	nullName := func() string {
		t.Helper()
		e, err := c.Meta.Index(bucket).GetObject(ctx, bucket, key)
		if err != nil || e.Data == "" || !e.Null {
			t.Fatalf("null version's entry %+v %v: want a name of its own", e, err)
		}
		return e.Data
	}
	name := nullName()
	out := del("")
	if !aws.ToBool(out.DeleteMarker) || aws.ToString(out.VersionId) != "null" {
		t.Fatalf("suspended delete: marker %v version %q, want a null marker", aws.ToBool(out.DeleteMarker), aws.ToString(out.VersionId))
	}
	expect("suspended delete", 1, 1, "null(marker)")
	noReplicaHolds(t, ctx, c, name) // the null version's bytes went with it
	del("")
	expect("second suspended delete", 1, 1, "null(marker)")

	put("null again")
	expect("null write over the null marker", 2, 0, "null")
	if body, err := readBody(t, ctx, cl, bucket, key, "null"); err != nil || body != "null again" {
		t.Fatalf("null version: %q %v", body, err)
	}
	name = nullName()
	del("null")
	expect("delete of the null version", 1, 0, v1)
	noReplicaHolds(t, ctx, c, name)
	if body, err := readBody(t, ctx, cl, bucket, key, ""); err != nil || body != "v1" {
		t.Fatalf("current after the null version went: %q %v", body, err)
	}
	del("null") // none there: nothing changes
	expect("delete of a missing null version", 1, 0, v1)

	// Enabled again: DELETE ?versionId=null removes a null delete marker too.
	del("")
	expect("suspended delete over v1", 1, 1, "null(marker)")
	versioningTo(t, ctx, cl, bucket, types.BucketVersioningStatusEnabled)
	if _, err := readBody(t, ctx, cl, bucket, key, "null"); code(err) != "MethodNotAllowed" {
		t.Fatalf("GET of the null marker: %v, want MethodNotAllowed", err)
	}
	out = del("null")
	if !aws.ToBool(out.DeleteMarker) || aws.ToString(out.VersionId) != "null" {
		t.Fatalf("delete of the null marker: marker %v version %q", aws.ToBool(out.DeleteMarker), aws.ToString(out.VersionId))
	}
	expect("delete of the null marker", 1, 0, v1)
	if body, err := readBody(t, ctx, cl, bucket, key, ""); err != nil || body != "v1" {
		t.Fatalf("current after the null marker went: %q %v", body, err)
	}

	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("nullsboto")}); err != nil {
		t.Fatal(err)
	}
	runBoto3(t, c, "nullsboto", "nullversion")
}

// TestNullVersionRaces: null writes, deletes and deletes of ?versionId=null racing on one
// key of a suspended bucket leave at most one null version, and a null version listed is
// readable: no delete removes a newer write's entry or bytes.
func TestNullVersionRaces(t *testing.T) {
	_, cl, ctx := withBucket(t, "nullrace")
	const bucket, key = "nullrace", "k"
	versioningTo(t, ctx, cl, bucket, types.BucketVersioningStatusEnabled)
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("v1")}); err != nil {
		t.Fatal(err)
	}
	versioningTo(t, ctx, cl, bucket, types.BucketVersioningStatusSuspended)
	for round := 0; round < 4; round++ {
		var wg sync.WaitGroup
		errs := make(chan error, 12)
		for w := 0; w < 6; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				switch w % 3 {
				case 0:
					_, err = cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
						Body: strings.NewReader(fmt.Sprintf("body %d.%d", round, w))})
				case 1:
					_, err = cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
				case 2:
					_, err = cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String("null")})
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		v, m, latest := listedVersions(t, ctx, cl, bucket, key)
		nulls := 0
		for _, id := range append(v, m...) {
			if id == "null" {
				nulls++
			}
		}
		if nulls > 1 {
			t.Fatalf("round %d: %d null versions: versions %v markers %v", round, nulls, v, m)
		}
		body, err := readBody(t, ctx, cl, bucket, key, "null")
		var nf interface{ ErrorCode() string }
		switch {
		case err == nil:
			if !strings.HasPrefix(body, "body ") {
				t.Fatalf("round %d: null version reads %q", round, body)
			}
		case code(err) == "NoSuchVersion" || code(err) == "MethodNotAllowed":
		case errors.As(err, &nf):
			t.Fatalf("round %d: null version (latest %q): %v", round, latest, err)
		default:
			t.Fatalf("round %d: %v", round, err)
		}
	}
}
