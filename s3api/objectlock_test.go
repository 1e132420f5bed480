package s3api_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"stratus/internal/testcluster"
)

// testClock is the S3 server's clock for retention, moved forward by tests.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// lockFixture is a cluster with an Object Lock bucket, its owner's client and another
// account's.
type lockFixture struct {
	t      *testing.T
	c      *testcluster.S3
	cl     *s3.Client
	other  *s3.Client
	clock  *testClock
	ctx    context.Context
	bucket *string
}

func newLockFixture(t *testing.T, bucket string) *lockFixture {
	t.Helper()
	clock := &testClock{}
	c := testcluster.StartS3(t, testcluster.S3Options{Now: clock.now})
	cl := sdkClient(c, c.SecretKey)
	acct := c.AddAccount(t, "other")
	other := s3.New(s3.Options{Region: c.Region, BaseEndpoint: aws.String(c.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(acct.AccessKey, acct.SecretKey, "")})
	f := &lockFixture{t: t, c: c, cl: cl, other: other, clock: clock, ctx: ctxT(t), bucket: aws.String(bucket)}
	if _, err := cl.CreateBucket(f.ctx, &s3.CreateBucketInput{Bucket: f.bucket, ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *lockFixture) put(key string, body []byte, in func(*s3.PutObjectInput)) string {
	f.t.Helper()
	p := &s3.PutObjectInput{Bucket: f.bucket, Key: aws.String(key), Body: bytes.NewReader(body)}
	if in != nil {
		in(p)
	}
	out, err := f.cl.PutObject(f.ctx, p)
	if err != nil {
		f.t.Fatal(err)
	}
	return *out.VersionId
}

// deleteVersion deletes one version as cl, with or without the governance bypass.
func (f *lockFixture) deleteVersion(cl *s3.Client, key, vid string, bypass bool) error {
	in := &s3.DeleteObjectInput{Bucket: f.bucket, Key: aws.String(key), VersionId: aws.String(vid)}
	if bypass {
		in.BypassGovernanceRetention = aws.Bool(true)
	}
	_, err := cl.DeleteObject(f.ctx, in)
	return err
}

// stillThere fails unless the version is listed and reads back as body.
func (f *lockFixture) stillThere(key, vid string, body []byte) {
	f.t.Helper()
	list, err := f.cl.ListObjectVersions(f.ctx, &s3.ListObjectVersionsInput{Bucket: f.bucket, Prefix: aws.String(key)})
	if err != nil {
		f.t.Fatal(err)
	}
	listed := false
	for _, v := range list.Versions {
		listed = listed || *v.Key == key && *v.VersionId == vid
	}
	if !listed {
		f.t.Fatalf("%s version %s is not listed any more", key, vid)
	}
	out, err := f.cl.GetObject(f.ctx, &s3.GetObjectInput{Bucket: f.bucket, Key: aws.String(key), VersionId: aws.String(vid)})
	if err != nil {
		f.t.Fatalf("%s version %s: %v", key, vid, err)
	}
	defer out.Body.Close()
	got, err := io.ReadAll(out.Body)
	if err != nil || !bytes.Equal(got, body) {
		f.t.Fatalf("%s version %s reads %d bytes (%v), want %d", key, vid, len(got), err, len(body))
	}
}

// gone fails unless the version is no longer listed.
func (f *lockFixture) gone(key, vid string) {
	f.t.Helper()
	list, err := f.cl.ListObjectVersions(f.ctx, &s3.ListObjectVersionsInput{Bucket: f.bucket, Prefix: aws.String(key)})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, v := range list.Versions {
		if *v.Key == key && *v.VersionId == vid {
			f.t.Fatalf("%s version %s is still listed", key, vid)
		}
	}
}

func (f *lockFixture) retention(key, vid string) *types.ObjectLockRetention {
	f.t.Helper()
	out, err := f.cl.GetObjectRetention(f.ctx, &s3.GetObjectRetentionInput{Bucket: f.bucket, Key: aws.String(key), VersionId: aws.String(vid)})
	if err != nil {
		f.t.Fatal(err)
	}
	return out.Retention
}

func (f *lockFixture) setRetention(cl *s3.Client, key, vid string, mode types.ObjectLockRetentionMode, until time.Time, bypass bool) error {
	in := &s3.PutObjectRetentionInput{Bucket: f.bucket, Key: aws.String(key), VersionId: aws.String(vid),
		Retention: &types.ObjectLockRetention{Mode: mode, RetainUntilDate: aws.Time(until)}}
	if bypass {
		in.BypassGovernanceRetention = aws.Bool(true)
	}
	_, err := cl.PutObjectRetention(f.ctx, in)
	return err
}

func TestObjectLockBucketConfiguration(t *testing.T) {
	f := newLockFixture(t, "lockcfg")
	cl, ctx := f.cl, f.ctx
	v, err := cl.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: f.bucket})
	if err != nil || v.Status != types.BucketVersioningStatusEnabled {
		t.Fatalf("a lock bucket's versioning: %+v %v", v, err)
	}
	_, err = cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: f.bucket,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}})
	if code(err) != "InvalidBucketState" {
		t.Fatalf("suspending versioning of a lock bucket: %v", err)
	}
	if v, _ := cl.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: f.bucket}); v.Status != types.BucketVersioningStatusEnabled {
		t.Fatalf("versioning after the refused suspend: %+v", v)
	}
	got, err := cl.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: f.bucket})
	if err != nil || got.ObjectLockConfiguration.ObjectLockEnabled != types.ObjectLockEnabledEnabled || got.ObjectLockConfiguration.Rule != nil {
		t.Fatalf("configuration of a new lock bucket: %+v %v", got, err)
	}
	put := func(bucket *string, cfg *types.ObjectLockConfiguration) error {
		_, err := cl.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{Bucket: bucket, ObjectLockConfiguration: cfg})
		return err
	}
	rule := func(mode types.ObjectLockRetentionMode, days, years *int32) *types.ObjectLockConfiguration {
		return &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled,
			Rule: &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{Mode: mode, Days: days, Years: years}}}
	}
	for _, bad := range []struct {
		cfg  *types.ObjectLockConfiguration
		code string
	}{
		{rule(types.ObjectLockRetentionModeGovernance, aws.Int32(1), aws.Int32(1)), "MalformedXML"},
		{rule(types.ObjectLockRetentionModeGovernance, nil, nil), "MalformedXML"},
		{rule("FOREVER", aws.Int32(1), nil), "MalformedXML"},
		{rule(types.ObjectLockRetentionModeCompliance, aws.Int32(0), nil), "InvalidArgument"},
		{rule(types.ObjectLockRetentionModeCompliance, nil, aws.Int32(101)), "InvalidRetentionPeriod"},
	} {
		if err := put(f.bucket, bad.cfg); code(err) != bad.code {
			t.Fatalf("configuration %+v: %v, want %s", bad.cfg.Rule.DefaultRetention, err, bad.code)
		}
	}
	if err := put(f.bucket, rule(types.ObjectLockRetentionModeCompliance, nil, aws.Int32(2))); err != nil {
		t.Fatal(err)
	}
	got, err = cl.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: f.bucket})
	if err != nil || got.ObjectLockConfiguration.Rule == nil || got.ObjectLockConfiguration.Rule.DefaultRetention.Mode != types.ObjectLockRetentionModeCompliance ||
		aws.ToInt32(got.ObjectLockConfiguration.Rule.DefaultRetention.Years) != 2 || got.ObjectLockConfiguration.Rule.DefaultRetention.Days != nil {
		t.Fatalf("configuration read back: %+v %v", got.ObjectLockConfiguration, err)
	}
	// The other account may neither read nor change it.
	if _, err := f.other.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: f.bucket}); code(err) != "AccessDenied" {
		t.Fatalf("other account reads the configuration: %v", err)
	}
	if _, err := f.other.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{Bucket: f.bucket,
		ObjectLockConfiguration: &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled}}); code(err) != "AccessDenied" {
		t.Fatalf("other account changes the configuration: %v", err)
	}
	if got, _ := cl.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: f.bucket}); got.ObjectLockConfiguration.Rule == nil {
		t.Fatal("the other account's refused change removed the default retention")
	}

	// A bucket made without Object Lock has no configuration, and gets one only once
	// versioning is enabled (as S3 now allows).
	plain := aws.String("lockplain")
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: plain}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: plain}); code(err) != "ObjectLockConfigurationNotFoundError" {
		t.Fatalf("configuration of a plain bucket: %v", err)
	}
	enabled := &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled}
	if err := put(plain, enabled); code(err) != "InvalidBucketState" {
		t.Fatalf("Object Lock on an unversioned bucket: %v", err)
	}
	_, err = cl.PutObject(ctx, &s3.PutObjectInput{Bucket: plain, Key: aws.String("k"), Body: bytes.NewReader([]byte("x")),
		ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: aws.Time(time.Now().Add(time.Hour))})
	if code(err) != "InvalidRequest" {
		t.Fatalf("lock headers in a bucket without Object Lock: %v", err)
	}
	if _, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: plain, Key: aws.String("k")}); code(err) != "NotFound" {
		t.Fatalf("the refused write stored something: %v", err)
	}
	if _, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: plain,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	if err := put(plain, enabled); err != nil {
		t.Fatalf("Object Lock on a versioned bucket: %v", err)
	}
	if _, err := cl.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: plain}); err != nil {
		t.Fatal(err)
	}
	_, err = cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: plain,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}})
	if code(err) != "InvalidBucketState" {
		t.Fatalf("suspending versioning once Object Lock is on: %v", err)
	}
}

func TestObjectLockGovernance(t *testing.T) {
	f := newLockFixture(t, "lockgov")
	_, err := f.cl.PutObjectLockConfiguration(f.ctx, &s3.PutObjectLockConfigurationInput{Bucket: f.bucket,
		ObjectLockConfiguration: &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled,
			Rule: &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{Mode: types.ObjectLockRetentionModeGovernance, Days: aws.Int32(1)}}}})
	if err != nil {
		t.Fatal(err)
	}
	body := payload(1000, 1)
	before := f.clock.now()
	vid := f.put("doc", body, nil)
	// The bucket default applies: GOVERNANCE for a day from the write.
	head, err := f.cl.HeadObject(f.ctx, &s3.HeadObjectInput{Bucket: f.bucket, Key: aws.String("doc"), VersionId: aws.String(vid)})
	if err != nil {
		t.Fatal(err)
	}
	until := aws.ToTime(head.ObjectLockRetainUntilDate)
	if head.ObjectLockMode != types.ObjectLockModeGovernance || until.Before(before.Add(24*time.Hour-time.Second)) || until.After(f.clock.now().Add(24*time.Hour+time.Second)) {
		t.Fatalf("HEAD lock headers: mode %q until %v", head.ObjectLockMode, until)
	}
	if r := f.retention("doc", vid); r.Mode != types.ObjectLockRetentionModeGovernance || !aws.ToTime(r.RetainUntilDate).Equal(until) {
		t.Fatalf("GetObjectRetention: %+v", r)
	}
	if _, err := f.cl.GetObjectLegalHold(f.ctx, &s3.GetObjectLegalHoldInput{Bucket: f.bucket, Key: aws.String("doc"), VersionId: aws.String(vid)}); code(err) != "NoSuchObjectLockConfiguration" {
		t.Fatalf("legal hold never set: %v", err)
	}

	// Refused: a version delete without bypass, by the owner and in a batch.
	if err := f.deleteVersion(f.cl, "doc", vid, false); code(err) != "AccessDenied" {
		t.Fatalf("delete of a GOVERNANCE version without bypass: %v", err)
	}
	f.stillThere("doc", vid, body)
	out, err := f.cl.DeleteObjects(f.ctx, &s3.DeleteObjectsInput{Bucket: f.bucket, Delete: &types.Delete{
		Objects: []types.ObjectIdentifier{{Key: aws.String("doc"), VersionId: aws.String(vid)}}}})
	if err != nil || len(out.Errors) != 1 || aws.ToString(out.Errors[0].Code) != "AccessDenied" || len(out.Deleted) != 0 {
		t.Fatalf("DeleteObjects of a locked version: %+v %v", out, err)
	}
	f.stillThere("doc", vid, body)
	// Refused: the other account, bypass or not.
	if err := f.deleteVersion(f.other, "doc", vid, true); code(err) != "AccessDenied" {
		t.Fatalf("other account deletes with bypass: %v", err)
	}
	if err := f.setRetention(f.other, "doc", vid, types.ObjectLockRetentionModeGovernance, f.clock.now().Add(time.Minute), true); code(err) != "AccessDenied" {
		t.Fatalf("other account shortens the retention: %v", err)
	}
	f.stillThere("doc", vid, body)
	// Refused: an anonymous request.
	anon, err := http.NewRequestWithContext(f.ctx, "DELETE", f.c.Endpoint+"/lockgov/doc?versionId="+vid, nil)
	if err != nil {
		t.Fatal(err)
	}
	anon.Header.Set("X-Amz-Bypass-Governance-Retention", "true")
	if st, resp := status(t, anon); st != http.StatusForbidden {
		t.Fatalf("anonymous delete with bypass: %d %s", st, resp)
	}
	f.stillThere("doc", vid, body)
	// Refused: shortening without bypass. Allowed: extending.
	if err := f.setRetention(f.cl, "doc", vid, types.ObjectLockRetentionModeGovernance, until.Add(-time.Hour), false); code(err) != "AccessDenied" {
		t.Fatalf("shortening GOVERNANCE without bypass: %v", err)
	}
	if r := f.retention("doc", vid); !aws.ToTime(r.RetainUntilDate).Equal(until) {
		t.Fatalf("the refused shortening changed the retention: %+v", r)
	}
	later := until.Add(48 * time.Hour).Truncate(time.Second)
	if err := f.setRetention(f.cl, "doc", vid, types.ObjectLockRetentionModeGovernance, later, false); err != nil {
		t.Fatalf("extending: %v", err)
	}
	if r := f.retention("doc", vid); !aws.ToTime(r.RetainUntilDate).Equal(later) {
		t.Fatalf("retention after extending: %+v, want %v", r, later)
	}
	// A plain DELETE still just adds a delete marker, as in S3.
	del, err := f.cl.DeleteObject(f.ctx, &s3.DeleteObjectInput{Bucket: f.bucket, Key: aws.String("doc")})
	if err != nil || !aws.ToBool(del.DeleteMarker) {
		t.Fatalf("plain delete in a lock bucket: %+v %v", del, err)
	}
	f.stillThere("doc", vid, body)
	// The bucket still holds a version: it cannot be deleted.
	if _, err := f.cl.DeleteBucket(f.ctx, &s3.DeleteBucketInput{Bucket: f.bucket}); code(err) != "BucketNotEmpty" {
		t.Fatalf("deleting a bucket whose versions are under delete markers: %v", err)
	}
	// Allowed: the owner, with bypass.
	if err := f.deleteVersion(f.cl, "doc", vid, true); err != nil {
		t.Fatalf("owner deletes with bypass: %v", err)
	}
	f.gone("doc", vid)

	// Shortening with bypass is allowed too, and once retention has passed the version
	// deletes without it.
	body2 := payload(10, 2)
	vid2 := f.put("doc2", body2, nil)
	if err := f.setRetention(f.cl, "doc2", vid2, types.ObjectLockRetentionModeGovernance, f.clock.now().Add(time.Hour), true); err != nil {
		t.Fatalf("shortening GOVERNANCE with bypass: %v", err)
	}
	if err := f.deleteVersion(f.cl, "doc2", vid2, false); code(err) != "AccessDenied" {
		t.Fatalf("delete within the shortened retention: %v", err)
	}
	f.stillThere("doc2", vid2, body2)
	f.clock.advance(2 * time.Hour)
	if err := f.deleteVersion(f.cl, "doc2", vid2, false); err != nil {
		t.Fatalf("delete after retention passed: %v", err)
	}
	f.gone("doc2", vid2)

	// The date as read back, sent again with COMPLIANCE, is a strengthening: allowed without
	// bypass, and from then on not even the owner with bypass deletes the version.
	vid3 := f.put("doc3", body2, nil)
	r := f.retention("doc3", vid3)
	if err := f.setRetention(f.cl, "doc3", vid3, types.ObjectLockRetentionModeCompliance, aws.ToTime(r.RetainUntilDate), false); err != nil {
		t.Fatalf("GOVERNANCE to COMPLIANCE at the same date: %v", err)
	}
	if err := f.deleteVersion(f.cl, "doc3", vid3, true); code(err) != "AccessDenied" {
		t.Fatalf("delete with bypass after the change to COMPLIANCE: %v", err)
	}
	f.stillThere("doc3", vid3, body2)
}

func TestObjectLockCompliance(t *testing.T) {
	f := newLockFixture(t, "lockcomp")
	body := payload(5000, 3)
	until := f.clock.now().Add(2 * time.Hour).Truncate(time.Second)
	vid := f.put("c", body, func(in *s3.PutObjectInput) {
		in.ObjectLockMode, in.ObjectLockRetainUntilDate = types.ObjectLockModeCompliance, aws.Time(until)
	})
	get, err := f.cl.GetObject(f.ctx, &s3.GetObjectInput{Bucket: f.bucket, Key: aws.String("c")})
	if err != nil {
		t.Fatal(err)
	}
	get.Body.Close()
	if get.ObjectLockMode != types.ObjectLockModeCompliance || !aws.ToTime(get.ObjectLockRetainUntilDate).Equal(until) {
		t.Fatalf("GET lock headers: %q %v", get.ObjectLockMode, get.ObjectLockRetainUntilDate)
	}
	// Nobody may delete it, shorten it or weaken its mode, the owner with bypass included.
	if err := f.deleteVersion(f.cl, "c", vid, true); code(err) != "AccessDenied" {
		t.Fatalf("owner deletes a COMPLIANCE version with bypass: %v", err)
	}
	if err := f.deleteVersion(f.other, "c", vid, true); code(err) != "AccessDenied" {
		t.Fatalf("other account deletes a COMPLIANCE version: %v", err)
	}
	if err := f.setRetention(f.cl, "c", vid, types.ObjectLockRetentionModeCompliance, until.Add(-time.Hour), true); code(err) != "AccessDenied" {
		t.Fatalf("shortening COMPLIANCE with bypass: %v", err)
	}
	if err := f.setRetention(f.cl, "c", vid, types.ObjectLockRetentionModeGovernance, until.Add(time.Hour), true); code(err) != "AccessDenied" {
		t.Fatalf("COMPLIANCE to GOVERNANCE with bypass: %v", err)
	}
	if _, err := f.cl.PutObjectRetention(f.ctx, &s3.PutObjectRetentionInput{Bucket: f.bucket, Key: aws.String("c"), VersionId: aws.String(vid),
		Retention: &types.ObjectLockRetention{}, BypassGovernanceRetention: aws.Bool(true)}); code(err) != "AccessDenied" {
		t.Fatalf("removing COMPLIANCE retention: %v", err)
	}
	if r := f.retention("c", vid); r.Mode != types.ObjectLockRetentionModeCompliance || !aws.ToTime(r.RetainUntilDate).Equal(until) {
		t.Fatalf("the refused changes changed the retention: %+v", r)
	}
	f.stillThere("c", vid, body)
	// A retain-until date in the past is refused outright.
	if err := f.setRetention(f.cl, "c", vid, types.ObjectLockRetentionModeCompliance, f.clock.now().Add(-time.Minute), false); code(err) != "InvalidArgument" {
		t.Fatalf("retain-until in the past: %v", err)
	}
	// Extending is allowed.
	until = until.Add(time.Hour)
	if err := f.setRetention(f.cl, "c", vid, types.ObjectLockRetentionModeCompliance, until, false); err != nil {
		t.Fatalf("extending COMPLIANCE: %v", err)
	}
	// Overwrites make new versions; a copy onto itself too. The locked one stays whole.
	f.put("c", []byte("newer"), nil)
	cp, err := f.cl.CopyObject(f.ctx, &s3.CopyObjectInput{Bucket: f.bucket, Key: aws.String("c"),
		CopySource: aws.String("lockcomp/c?versionId=" + vid), MetadataDirective: types.MetadataDirectiveReplace,
		ObjectLockLegalHoldStatus: types.ObjectLockLegalHoldStatusOn})
	if err != nil {
		t.Fatal(err)
	}
	f.stillThere("c", vid, body)
	// The copy has the lock its headers gave (a hold, no retention: none is copied from
	// the source, and the bucket has no default).
	copied, err := f.cl.HeadObject(f.ctx, &s3.HeadObjectInput{Bucket: f.bucket, Key: aws.String("c"), VersionId: cp.VersionId})
	if err != nil || copied.ObjectLockLegalHoldStatus != types.ObjectLockLegalHoldStatusOn || copied.ObjectLockMode != "" {
		t.Fatalf("lock of the copy: %+v %v", copied, err)
	}
	if r := f.retention("c", vid); !aws.ToTime(r.RetainUntilDate).Equal(until) {
		t.Fatalf("retention after overwrites: %+v", r)
	}
	// Time passes: the retention ends and the version deletes.
	f.clock.advance(3*time.Hour + time.Minute)
	if err := f.deleteVersion(f.cl, "c", vid, false); err != nil {
		t.Fatalf("delete after COMPLIANCE retention passed: %v", err)
	}
	f.gone("c", vid)
}

func TestObjectLockLegalHold(t *testing.T) {
	f := newLockFixture(t, "lockhold")
	body := payload(100, 4)
	vid := f.put("h", body, func(in *s3.PutObjectInput) { in.ObjectLockLegalHoldStatus = types.ObjectLockLegalHoldStatusOn })
	hold := func() types.ObjectLockLegalHoldStatus {
		out, err := f.cl.GetObjectLegalHold(f.ctx, &s3.GetObjectLegalHoldInput{Bucket: f.bucket, Key: aws.String("h"), VersionId: aws.String(vid)})
		if err != nil {
			t.Fatal(err)
		}
		return out.LegalHold.Status
	}
	if hold() != types.ObjectLockLegalHoldStatusOn {
		t.Fatal("legal hold set at write time is not ON")
	}
	if _, err := f.cl.GetObjectRetention(f.ctx, &s3.GetObjectRetentionInput{Bucket: f.bucket, Key: aws.String("h"), VersionId: aws.String(vid)}); code(err) != "NoSuchObjectLockConfiguration" {
		t.Fatalf("retention of a version with none: %v", err)
	}
	if err := f.deleteVersion(f.cl, "h", vid, true); code(err) != "AccessDenied" {
		t.Fatalf("delete under legal hold with bypass: %v", err)
	}
	f.stillThere("h", vid, body)
	set := func(cl *s3.Client, st types.ObjectLockLegalHoldStatus) error {
		_, err := cl.PutObjectLegalHold(f.ctx, &s3.PutObjectLegalHoldInput{Bucket: f.bucket, Key: aws.String("h"), VersionId: aws.String(vid),
			LegalHold: &types.ObjectLockLegalHold{Status: st}})
		return err
	}
	if err := set(f.other, types.ObjectLockLegalHoldStatusOff); code(err) != "AccessDenied" {
		t.Fatalf("other account releases the hold: %v", err)
	}
	if hold() != types.ObjectLockLegalHoldStatusOn {
		t.Fatal("the other account's refused release changed the hold")
	}
	f.stillThere("h", vid, body)
	if err := set(f.cl, types.ObjectLockLegalHoldStatusOff); err != nil {
		t.Fatal(err)
	}
	if hold() != types.ObjectLockLegalHoldStatusOff {
		t.Fatal("legal hold is not OFF after release")
	}
	if err := f.deleteVersion(f.cl, "h", vid, false); err != nil {
		t.Fatalf("delete after release: %v", err)
	}
	f.gone("h", vid)

	// A hold set later blocks a version whose retention has passed.
	vid2 := f.put("h2", body, nil)
	if _, err := f.cl.PutObjectLegalHold(f.ctx, &s3.PutObjectLegalHoldInput{Bucket: f.bucket, Key: aws.String("h2"),
		LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOn}}); err != nil {
		t.Fatal(err)
	}
	out, err := f.cl.DeleteObjects(f.ctx, &s3.DeleteObjectsInput{Bucket: f.bucket, Delete: &types.Delete{
		Objects: []types.ObjectIdentifier{{Key: aws.String("h2"), VersionId: aws.String(vid2)}}}, BypassGovernanceRetention: aws.Bool(true)})
	if err != nil || len(out.Errors) != 1 || aws.ToString(out.Errors[0].Code) != "AccessDenied" {
		t.Fatalf("DeleteObjects under legal hold: %+v %v", out, err)
	}
	f.stillThere("h2", vid2, body)
}

func TestObjectLockMultipart(t *testing.T) {
	f := newLockFixture(t, "lockmpu")
	until := f.clock.now().Add(time.Hour).Truncate(time.Second)
	up, err := f.cl.CreateMultipartUpload(f.ctx, &s3.CreateMultipartUploadInput{Bucket: f.bucket, Key: aws.String("big"),
		ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: aws.Time(until),
		ObjectLockLegalHoldStatus: types.ObjectLockLegalHoldStatusOff})
	if err != nil {
		t.Fatal(err)
	}
	body := payload(1<<10, 5)
	part, err := f.cl.UploadPart(f.ctx, &s3.UploadPartInput{Bucket: f.bucket, Key: aws.String("big"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatal(err)
	}
	done, err := f.cl.CompleteMultipartUpload(f.ctx, &s3.CompleteMultipartUploadInput{Bucket: f.bucket, Key: aws.String("big"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}})
	if err != nil {
		t.Fatal(err)
	}
	vid := aws.ToString(done.VersionId)
	head, err := f.cl.HeadObject(f.ctx, &s3.HeadObjectInput{Bucket: f.bucket, Key: aws.String("big"), VersionId: aws.String(vid)})
	if err != nil || head.ObjectLockMode != types.ObjectLockModeGovernance || !aws.ToTime(head.ObjectLockRetainUntilDate).Equal(until) ||
		head.ObjectLockLegalHoldStatus != types.ObjectLockLegalHoldStatusOff {
		t.Fatalf("completed upload's lock: %+v %v", head, err)
	}
	if err := f.deleteVersion(f.cl, "big", vid, false); code(err) != "AccessDenied" {
		t.Fatalf("delete of a locked multipart version: %v", err)
	}
	f.stillThere("big", vid, body)
	if err := f.deleteVersion(f.cl, "big", vid, true); err != nil {
		t.Fatal(err)
	}
	f.gone("big", vid)
}

// Debian's boto3 over HTTPS signs no payload hash, so it shows the integrity-header rule
// the Go SDK (which signs one over HTTP) never meets.
func TestBoto3ObjectLock(t *testing.T) {
	c := testcluster.StartS3(t, testcluster.S3Options{TLS: true})
	runBoto3(t, c, "boto3lock", "objectlock")
}

// A write with lock parameters and no integrity header at all (no Content-MD5, no
// x-amz-checksum-*, an unsigned payload) is refused and stores nothing, as in S3; so is a
// retention change without one. With Content-MD5 the same write goes through.
func TestObjectLockNeedsIntegrityHeader(t *testing.T) {
	f := newLockFixture(t, "lockmd5")
	until := f.clock.now().Add(time.Hour).UTC().Format(time.RFC3339)
	send := func(method, path string, body []byte, h map[string]string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(f.ctx, method, f.c.Endpoint+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range h {
			req.Header.Set(k, v)
		}
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		if err := v4.NewSigner().SignHTTP(f.ctx, aws.Credentials{AccessKeyID: f.c.AccessKey, SecretAccessKey: f.c.SecretKey},
			req, "UNSIGNED-PAYLOAD", "s3", f.c.Region, time.Now()); err != nil {
			t.Fatal(err)
		}
		return status(t, req)
	}
	body := []byte("bytes under lock")
	lock := map[string]string{"X-Amz-Object-Lock-Mode": "GOVERNANCE", "X-Amz-Object-Lock-Retain-Until-Date": until}
	if st, resp := send("PUT", "/lockmd5/k", body, lock); st != http.StatusBadRequest || !strings.Contains(resp, "<Code>InvalidRequest</Code>") {
		t.Fatalf("PUT with lock headers and no integrity header: %d %s", st, resp)
	}
	if list, err := f.cl.ListObjectVersions(f.ctx, &s3.ListObjectVersionsInput{Bucket: f.bucket}); err != nil || len(list.Versions) != 0 {
		t.Fatalf("the refused PUT stored a version: %+v %v", list, err)
	}
	sum := md5.Sum(body)
	lock["Content-Md5"] = base64.StdEncoding.EncodeToString(sum[:])
	if st, resp := send("PUT", "/lockmd5/k", body, lock); st != http.StatusOK {
		t.Fatalf("PUT with lock headers and Content-MD5: %d %s", st, resp)
	}
	head, err := f.cl.HeadObject(f.ctx, &s3.HeadObjectInput{Bucket: f.bucket, Key: aws.String("k")})
	if err != nil || head.ObjectLockMode != types.ObjectLockModeGovernance {
		t.Fatalf("stored lock: %+v %v", head, err)
	}
	vid := aws.ToString(head.VersionId)
	retention := []byte(`<Retention xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Mode>COMPLIANCE</Mode><RetainUntilDate>` +
		f.clock.now().Add(3*time.Hour).UTC().Format(time.RFC3339) + `</RetainUntilDate></Retention>`)
	if st, resp := send("PUT", "/lockmd5/k?retention&versionId="+vid, retention, nil); st != http.StatusBadRequest || !strings.Contains(resp, "<Code>InvalidRequest</Code>") {
		t.Fatalf("PutObjectRetention without an integrity header: %d %s", st, resp)
	}
	if r := f.retention("k", vid); r.Mode != types.ObjectLockRetentionModeGovernance {
		t.Fatalf("the refused retention change was applied: %+v", r)
	}
	f.stillThere("k", vid, body)
}
