package lifecycle_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"

	"stratus/internal/testcluster"
	stestutil "stratus/internal/testutil"
	meta "stratus/meta/client"
	"stratus/s3api/lifecycle"
)

// env is a real S3 cluster with a scanner over it whose clock the test sets.
type env struct {
	t   *testing.T
	c   *testcluster.S3
	cl  *s3.Client
	ctx context.Context
	sc  *lifecycle.Scanner
	reg *prometheus.Registry

	mu  sync.Mutex
	now time.Time
}

func start(t *testing.T, tune func(*lifecycle.Config)) *env {
	t.Helper()
	c := testcluster.StartS3(t, testcluster.S3Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	e := &env{t: t, c: c, ctx: ctx, reg: prometheus.NewRegistry(), now: time.Now()}
	e.cl = s3.New(s3.Options{Region: c.Region, BaseEndpoint: aws.String(c.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(c.AccessKey, c.SecretKey, "")})
	cfg := lifecycle.DefaultConfig()
	cfg.Now = func() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return e.now }
	cfg.Logger = stestutil.Logger(t).With("part", "lifecycle")
	cfg.Registerer = e.reg
	if tune != nil {
		tune(&cfg)
	}
	sc, err := lifecycle.New(cfg, c.Meta, c.Server)
	if err != nil {
		t.Fatal(err)
	}
	e.sc = sc
	return e
}

func (e *env) bucket(name string, versioned bool) {
	e.t.Helper()
	if _, err := e.cl.CreateBucket(e.ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		e.t.Fatal(err)
	}
	if versioned {
		if _, err := e.cl.PutBucketVersioning(e.ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(name),
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *env) rules(bucket string, rules ...types.LifecycleRule) {
	e.t.Helper()
	if _, err := e.cl.PutBucketLifecycleConfiguration(e.ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String(bucket),
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: rules}}); err != nil {
		e.t.Fatal(err)
	}
}

// put writes size bytes to bucket/key and returns the version ID (empty without versioning).
func (e *env) put(bucket, key string, size int) string {
	e.t.Helper()
	out, err := e.cl.PutObject(e.ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: bytes.NewReader(bytes.Repeat([]byte("x"), size))})
	if err != nil {
		e.t.Fatal(err)
	}
	return aws.ToString(out.VersionId)
}

// passAt runs one pass as of at.
func (e *env) passAt(at time.Time) lifecycle.Stats {
	e.t.Helper()
	e.mu.Lock()
	e.now = at
	e.mu.Unlock()
	st := e.sc.Pass(e.ctx)
	if st.Errors != 0 {
		e.t.Fatalf("pass at %v: %+v", at, st)
	}
	return st
}

// indexed reports whether bucket/key has a current, non-marker index entry.
func (e *env) indexed(bucket, key string) bool {
	e.t.Helper()
	_, err := e.c.Meta.Index(bucket).GetObject(e.ctx, bucket, key)
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		e.t.Fatal(err)
	}
	return err == nil
}

// readable reports whether GET bucket/key answers 200 (false for 404 NoSuchKey).
func (e *env) readable(bucket, key string) bool {
	e.t.Helper()
	out, err := e.cl.GetObject(e.ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if code(err) == "NoSuchKey" {
		return false
	}
	if err != nil {
		e.t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	io.Copy(io.Discard, out.Body)
	out.Body.Close()
	return true
}

// versions lists the version IDs of key, newest first, and marks delete markers with "M:".
func (e *env) versions(bucket, key string) []string {
	e.t.Helper()
	entries, _, err := e.c.Meta.Index(bucket).ListObjectVersions(e.ctx, bucket, key, "", 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, v := range entries {
		if v.Key != key {
			continue
		}
		id := fmt.Sprintf("%016x", v.Version)
		if v.DeleteMarker {
			id = "M:" + id
		}
		out = append(out, id)
	}
	return out
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func prefixRule(id, prefix string) types.LifecycleRule {
	return types.LifecycleRule{ID: aws.String(id), Status: types.ExpirationStatusEnabled,
		Filter: &types.LifecycleRuleFilter{Prefix: aws.String(prefix)}}
}

// midnightAfter is the midnight UTC that S3 counts days days after t to.
func midnightAfter(t time.Time, days int) time.Time {
	d := t.UTC().Add(time.Duration(days) * 24 * time.Hour)
	return d.Truncate(24 * time.Hour).Add(24 * time.Hour)
}

func TestExpireByDaysUnversioned(t *testing.T) {
	e := start(t, nil)
	e.bucket("days", false)
	written := time.Now()
	e.put("days", "logs/a", 10)
	e.put("days", "logs/b", 10)
	e.put("days", "keep/c", 10)
	r := prefixRule("logs", "logs/")
	r.Expiration = &types.LifecycleExpiration{Days: aws.Int32(1)}
	e.rules("days", r)

	// A day later, but before the midnight the day is rounded up to: nothing is due.
	if st := e.passAt(midnightAfter(written, 1).Add(-time.Second)); st.Objects != 0 || st.Buckets != 1 {
		t.Fatalf("pass before the due midnight: %+v", st)
	}
	if !e.indexed("days", "logs/a") || !e.readable("days", "logs/a") {
		t.Fatal("logs/a gone before it was due")
	}
	st := e.passAt(midnightAfter(written, 1).Add(time.Second))
	if st.Objects != 2 {
		t.Fatalf("pass after the due midnight: %+v, want 2 objects expired", st)
	}
	for _, k := range []string{"logs/a", "logs/b"} {
		if e.indexed("days", k) || e.readable("days", k) {
			t.Errorf("%s still there after it expired", k)
		}
		for _, n := range e.c.Storage.Nodes {
			if e.c.Storage.Holds(e.ctx, n, "days/"+k) {
				t.Errorf("node %s still holds the bytes of %s", n.Addr, k)
			}
		}
	}
	if !e.indexed("days", "keep/c") || !e.readable("days", "keep/c") {
		t.Fatal("keep/c, outside the rule's prefix, was expired")
	}
	if v := counter(t, e.reg, "stratus_s3api_lifecycle_objects_expired_total"); v != 2 {
		t.Fatalf("objects expired metric = %v, want 2", v)
	}
	// A second pass finds nothing more to do.
	if st := e.passAt(midnightAfter(written, 5)); st.Objects != 0 {
		t.Fatalf("second pass: %+v", st)
	}
}

// counter returns the value of a registered counter.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

func TestExpireByDateVersioned(t *testing.T) {
	e := start(t, nil)
	e.bucket("dated", true)
	v1 := e.put("dated", "k", 100)
	date := midnightAfter(time.Now(), 3)
	r := prefixRule("dated", "")
	r.Expiration = &types.LifecycleExpiration{Date: &date}
	e.rules("dated", r)

	if st := e.passAt(date.Add(-time.Second)); st.Objects != 0 {
		t.Fatalf("pass before the date: %+v", st)
	}
	if st := e.passAt(date); st.Objects != 1 {
		t.Fatalf("pass on the date: %+v, want 1", st)
	}
	// Versioned: the object is hidden under a delete marker, and its version stays.
	if e.indexed("dated", "k") || e.readable("dated", "k") {
		t.Fatal("k still current after it expired")
	}
	vs := e.versions("dated", "k")
	if len(vs) != 2 || vs[0][:2] != "M:" {
		t.Fatalf("versions after expiry = %v, want a delete marker over the version", vs)
	}
	out, err := e.cl.GetObject(e.ctx, &s3.GetObjectInput{Bucket: aws.String("dated"), Key: aws.String("k"), VersionId: aws.String(v1)})
	if err != nil {
		t.Fatalf("the expired version is no longer readable by ID: %v", err)
	}
	out.Body.Close()
	// The marker is current now and never expires under Date; the next pass leaves it.
	if st := e.passAt(date.Add(48 * time.Hour)); st.Objects != 0 || st.Markers != 0 {
		t.Fatalf("pass after expiry: %+v", st)
	}
}

func TestNoncurrentExpirationKeepsNewer(t *testing.T) {
	// Pages of 3 end inside k's 5 versions: the key is listed again whole.
	e := start(t, func(c *lifecycle.Config) { c.PageSize = 3 })
	e.bucket("ncv", true)
	var ids []string
	for i := 0; i < 5; i++ {
		ids = append(ids, e.put("ncv", "k", 10+i))
	}
	e.put("ncv", "other/k", 5)
	e.put("ncv", "other/k", 6)
	r := prefixRule("ncv", "k")
	r.NoncurrentVersionExpiration = &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(2), NewerNoncurrentVersions: aws.Int32(2)}
	e.rules("ncv", r)
	dataOf := map[string]string{} // version ID → where its bytes live
	entries, _, err := e.c.Meta.Index("ncv").ListObjectVersions(e.ctx, "ncv", "k", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range entries {
		dataOf[fmt.Sprintf("%016x", v.Version)] = v.Data
	}

	if st := e.passAt(midnightAfter(time.Now(), 2).Add(-time.Second)); st.Versions != 0 {
		t.Fatalf("pass before noncurrent versions are due: %+v", st)
	}
	if st := e.passAt(midnightAfter(time.Now(), 2).Add(time.Second)); st.Versions != 2 {
		t.Fatalf("pass: %+v, want the 2 oldest versions removed", st)
	}
	if got := len(e.versions("ncv", "k")); got != 3 {
		t.Fatalf("versions left = %d, want 3 (current and 2 newer noncurrent)", got)
	}
	for i, id := range ids {
		_, err := e.cl.HeadObject(e.ctx, &s3.HeadObjectInput{Bucket: aws.String("ncv"), Key: aws.String("k"), VersionId: aws.String(id)})
		gone := err != nil
		if gone != (i < 2) {
			t.Errorf("version %d: head err %v, want gone=%v", i, err, i < 2)
		}
		for _, n := range e.c.Storage.Nodes {
			if held := e.c.Storage.Holds(e.ctx, n, dataOf[id]); held == gone {
				t.Errorf("version %d: node %s holds its bytes = %v, want %v", i, n.Addr, held, !gone)
			}
		}
	}
	if !e.readable("ncv", "k") {
		t.Fatal("the current version went")
	}
	if got := len(e.versions("ncv", "other/k")); got != 2 {
		t.Fatalf("other/k, outside the prefix, has %d versions, want 2", got)
	}
}

func TestExpiredDeleteMarkerRemoved(t *testing.T) {
	e := start(t, nil)
	e.bucket("dmk", true)
	v := e.put("dmk", "alone", 10)
	if _, err := e.cl.DeleteObject(e.ctx, &s3.DeleteObjectInput{Bucket: aws.String("dmk"), Key: aws.String("alone")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cl.DeleteObject(e.ctx, &s3.DeleteObjectInput{Bucket: aws.String("dmk"), Key: aws.String("alone"), VersionId: aws.String(v)}); err != nil {
		t.Fatal(err)
	}
	e.put("dmk", "covered", 10)
	if _, err := e.cl.DeleteObject(e.ctx, &s3.DeleteObjectInput{Bucket: aws.String("dmk"), Key: aws.String("covered")}); err != nil {
		t.Fatal(err)
	}
	if vs := e.versions("dmk", "alone"); len(vs) != 1 || vs[0][:2] != "M:" {
		t.Fatalf("set-up: versions of alone = %v", vs)
	}
	r := prefixRule("markers", "")
	r.Expiration = &types.LifecycleExpiration{ExpiredObjectDeleteMarker: aws.Bool(true)}
	e.rules("dmk", r)
	st := e.passAt(time.Now())
	if st.Markers != 1 {
		t.Fatalf("pass: %+v, want 1 marker removed", st)
	}
	if vs := e.versions("dmk", "alone"); len(vs) != 0 {
		t.Fatalf("versions of alone after the pass = %v, want none", vs)
	}
	if vs := e.versions("dmk", "covered"); len(vs) != 2 {
		t.Fatalf("covered's marker, with a version under it, was touched: %v", vs)
	}
	if e.readable("dmk", "alone") {
		t.Fatal("alone readable")
	}
}

func TestAbortOldUpload(t *testing.T) {
	e := start(t, nil)
	e.bucket("mpu", false)
	up, err := e.cl.CreateMultipartUpload(e.ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("tmp/big")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cl.UploadPart(e.ctx, &s3.UploadPartInput{Bucket: aws.String("mpu"), Key: aws.String("tmp/big"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(bytes.Repeat([]byte("p"), 1000))}); err != nil {
		t.Fatal(err)
	}
	other, err := e.cl.CreateMultipartUpload(e.ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("keep/big")})
	if err != nil {
		t.Fatal(err)
	}
	r := prefixRule("abort", "tmp/")
	r.AbortIncompleteMultipartUpload = &types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(1)}
	e.rules("mpu", r)
	if st := e.passAt(time.Now()); st.Uploads != 0 {
		t.Fatalf("fresh upload aborted: %+v", st)
	}
	if st := e.passAt(midnightAfter(time.Now(), 1)); st.Uploads != 1 {
		t.Fatalf("pass: %+v, want 1 upload aborted", st)
	}
	_, err = e.cl.ListParts(e.ctx, &s3.ListPartsInput{Bucket: aws.String("mpu"), Key: aws.String("tmp/big"), UploadId: up.UploadId})
	if code(err) != "NoSuchUpload" {
		t.Fatalf("list parts of the aborted upload: %v", err)
	}
	list, err := e.cl.ListMultipartUploads(e.ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("mpu")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Uploads) != 1 || aws.ToString(list.Uploads[0].UploadId) != aws.ToString(other.UploadId) {
		t.Fatalf("uploads left: %+v, want only keep/big's", list.Uploads)
	}
	part := ".mpu/mpu/" + aws.ToString(up.UploadId) + "/1"
	for _, n := range e.c.Storage.Nodes {
		if e.c.Storage.Holds(e.ctx, n, part) {
			t.Errorf("node %s still holds the aborted part's bytes", n.Addr)
		}
	}
}

func TestDisabledRuleDoesNothing(t *testing.T) {
	e := start(t, nil)
	e.bucket("off", true)
	e.put("off", "k", 1)
	e.put("off", "k", 2)
	r := prefixRule("off", "")
	r.Status = types.ExpirationStatusDisabled
	r.Expiration = &types.LifecycleExpiration{Days: aws.Int32(1)}
	r.NoncurrentVersionExpiration = &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(1)}
	e.rules("off", r)
	st := e.passAt(time.Now().Add(1000 * 24 * time.Hour))
	if st != (lifecycle.Stats{}) {
		t.Fatalf("pass with only a disabled rule did %+v", st)
	}
	if !e.readable("off", "k") || len(e.versions("off", "k")) != 2 {
		t.Fatal("a disabled rule removed something")
	}
}

func TestPrefixAndSizeFilters(t *testing.T) {
	e := start(t, nil)
	e.bucket("sizes", false)
	e.put("sizes", "a/small", 10)
	e.put("sizes", "a/big", 2000)
	e.put("sizes", "a/huge", 9000)
	e.put("sizes", "b/big", 2000)
	r := types.LifecycleRule{ID: aws.String("sized"), Status: types.ExpirationStatusEnabled,
		Filter: &types.LifecycleRuleFilter{And: &types.LifecycleRuleAndOperator{Prefix: aws.String("a/"),
			ObjectSizeGreaterThan: aws.Int64(100), ObjectSizeLessThan: aws.Int64(5000)}},
		Expiration: &types.LifecycleExpiration{Days: aws.Int32(1)}}
	e.rules("sizes", r)
	if st := e.passAt(midnightAfter(time.Now(), 1)); st.Objects != 1 {
		t.Fatalf("pass: %+v, want 1", st)
	}
	for k, want := range map[string]bool{"a/small": true, "a/big": false, "a/huge": true, "b/big": true} {
		if e.indexed("sizes", k) != want || e.readable("sizes", k) != want {
			t.Errorf("%s: present = %v, want %v", k, !want, want)
		}
	}
}

func TestTagFilter(t *testing.T) {
	e := start(t, nil)
	e.bucket("tags", false)
	for k, class := range map[string]string{"t/scratch": "keep", "t/keep": "keep"} {
		if _, err := e.cl.PutObject(e.ctx, &s3.PutObjectInput{Bucket: aws.String("tags"), Key: aws.String(k),
			Body: bytes.NewReader([]byte("x")), Tagging: aws.String("class=" + class + "&owner=ops")}); err != nil {
			t.Fatal(err)
		}
	}
	r := types.LifecycleRule{ID: aws.String("tagged"), Status: types.ExpirationStatusEnabled,
		Filter:     &types.LifecycleRuleFilter{Tag: &types.Tag{Key: aws.String("class"), Value: aws.String("scratch")}},
		Expiration: &types.LifecycleExpiration{Days: aws.Int32(1)}}
	e.rules("tags", r)
	at := midnightAfter(time.Now(), 1)
	if st := e.passAt(at); st.Objects != 0 {
		t.Fatalf("expired objects no rule's tags match: %+v", st)
	}
	// Retagging one makes it match.
	if _, err := e.cl.PutObjectTagging(e.ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("t/scratch"),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("class"), Value: aws.String("scratch")}}}}); err != nil {
		t.Fatal(err)
	}
	if st := e.passAt(at); st.Objects != 1 {
		t.Fatalf("pass with tags: %+v, want 1", st)
	}
	if e.readable("tags", "t/scratch") || !e.readable("tags", "t/keep") {
		t.Fatal("wrong object expired")
	}
}

func TestPassIsBounded(t *testing.T) {
	e := start(t, func(c *lifecycle.Config) { c.MaxRemovalsPerBucket = 2; c.PageSize = 2 })
	e.bucket("bounded", false)
	var keys []string
	for i := 0; i < 5; i++ {
		k := fmt.Sprintf("k%d", i)
		keys = append(keys, k)
		e.put("bounded", k, 1)
	}
	r := prefixRule("all", "")
	r.Expiration = &types.LifecycleExpiration{Days: aws.Int32(1)}
	e.rules("bounded", r)
	at := midnightAfter(time.Now(), 1)
	for i, want := range []int{2, 2, 1, 0} {
		if st := e.passAt(at); st.Objects != want {
			t.Fatalf("pass %d: %+v, want %d expired", i, st, want)
		}
	}
	left := slices.DeleteFunc(keys, func(k string) bool { return !e.indexed("bounded", k) })
	if len(left) != 0 {
		t.Fatalf("left after the passes: %v", left)
	}
	// A cancelled context stops a pass before it does anything.
	e.put("bounded", "late", 1)
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	if st := e.sc.Pass(ctx); st.Objects != 0 {
		t.Fatalf("cancelled pass expired %d", st.Objects)
	}
	if !e.indexed("bounded", "late") {
		t.Fatal("cancelled pass removed an object")
	}
}

func TestRunPassesSoonAfterStart(t *testing.T) {
	e := start(t, func(c *lifecycle.Config) { c.FirstPass = 10 * time.Millisecond; c.Interval = time.Hour })
	e.bucket("run", false)
	e.put("run", "k", 1)
	r := prefixRule("all", "")
	r.Expiration = &types.LifecycleExpiration{Days: aws.Int32(1)}
	e.rules("run", r)
	e.mu.Lock()
	e.now = midnightAfter(time.Now(), 1)
	e.mu.Unlock()
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- e.sc.Run(ctx) }()
	stestutil.Eventually(t, 20*time.Second, func() error {
		if e.indexed("run", "k") {
			return errors.New("k not expired yet")
		}
		return nil
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestExpireMultipartObjectDropsParts(t *testing.T) {
	e := start(t, nil)
	e.bucket("mpobj", false)
	up, err := e.cl.CreateMultipartUpload(e.ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("mpobj"), Key: aws.String("m")})
	if err != nil {
		t.Fatal(err)
	}
	part, err := e.cl.UploadPart(e.ctx, &s3.UploadPartInput{Bucket: aws.String("mpobj"), Key: aws.String("m"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(bytes.Repeat([]byte("p"), 1000))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cl.CompleteMultipartUpload(e.ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("mpobj"), Key: aws.String("m"),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}}); err != nil {
		t.Fatal(err)
	}
	partName := ".mpu/mpobj/" + aws.ToString(up.UploadId) + "/1"
	if !e.c.Storage.Holds(e.ctx, e.c.Storage.Nodes[0], partName) {
		t.Fatal("set-up: the part's bytes are not stored")
	}
	r := prefixRule("all", "")
	r.Expiration = &types.LifecycleExpiration{Days: aws.Int32(1)}
	e.rules("mpobj", r)
	if st := e.passAt(midnightAfter(time.Now(), 1)); st.Objects != 1 {
		t.Fatalf("pass: %+v", st)
	}
	if e.indexed("mpobj", "m") || e.readable("mpobj", "m") {
		t.Fatal("multipart object still there")
	}
	for _, n := range e.c.Storage.Nodes {
		if e.c.Storage.Holds(e.ctx, n, partName) || e.c.Storage.Holds(e.ctx, n, "mpobj/m") {
			t.Errorf("node %s still holds the expired object's manifest or part", n.Addr)
		}
	}
}

func TestExpireInSuspendedBucket(t *testing.T) {
	e := start(t, nil)
	e.bucket("susp", true)
	kept := e.put("susp", "k", 5) // a version of its own, from while versioning was on
	if _, err := e.cl.PutBucketVersioning(e.ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("susp"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}}); err != nil {
		t.Fatal(err)
	}
	e.put("susp", "k", 6) // the null version, current
	r := prefixRule("all", "")
	r.Expiration = &types.LifecycleExpiration{Days: aws.Int32(1)}
	e.rules("susp", r)
	if st := e.passAt(midnightAfter(time.Now(), 1)); st.Objects != 1 {
		t.Fatalf("pass: %+v", st)
	}
	// As DeleteObject does with versioning suspended: a marker that is the null version,
	// and the null version it replaced gone; the older version of its own stays.
	if e.readable("susp", "k") {
		t.Fatal("k still readable")
	}
	vs := e.versions("susp", "k")
	if len(vs) != 2 || vs[0][:2] != "M:" || vs[1] != kept {
		t.Fatalf("versions = %v, want a marker over %s", vs, kept)
	}
	out, err := e.cl.ListObjectVersions(e.ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("susp")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.DeleteMarkers) != 1 || aws.ToString(out.DeleteMarkers[0].VersionId) != "null" || !aws.ToBool(out.DeleteMarkers[0].IsLatest) {
		t.Fatalf("delete markers %+v: want one, the null version, latest", out.DeleteMarkers)
	}
}

// TestObjectLockOutlivesLifecycle: versions Object Lock protects stay, whatever the rules
// say, as S3's lifecycle leaves them; the unprotected ones go.
func TestObjectLockOutlivesLifecycle(t *testing.T) {
	e := start(t, nil)
	if _, err := e.cl.CreateBucket(e.ctx, &s3.CreateBucketInput{Bucket: aws.String("locked"), ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	held := e.put("locked", "k", 10)
	if _, err := e.cl.PutObjectLegalHold(e.ctx, &s3.PutObjectLegalHoldInput{Bucket: aws.String("locked"), Key: aws.String("k"), VersionId: aws.String(held),
		LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOn}}); err != nil {
		t.Fatal(err)
	}
	free := e.put("locked", "k", 11)
	e.put("locked", "k", 12)
	r := prefixRule("all", "")
	r.NoncurrentVersionExpiration = &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(1)}
	e.rules("locked", r)
	if st := e.passAt(midnightAfter(time.Now(), 3)); st.Versions != 1 || st.Skipped != 1 || st.Errors != 0 {
		t.Fatalf("pass: %+v, want the one unprotected noncurrent version removed", st)
	}
	for id, want := range map[string]bool{held: true, free: false} {
		_, err := e.cl.HeadObject(e.ctx, &s3.HeadObjectInput{Bucket: aws.String("locked"), Key: aws.String("k"), VersionId: aws.String(id)})
		if (err == nil) != want {
			t.Errorf("version %s: head err %v, want kept=%v", id, err, want)
		}
	}
}
