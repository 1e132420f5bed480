package s3api_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"stratus/internal/testcluster"
)

// A bucket ACL's WRITE lets another account put and delete objects, but deleting a version
// for good (DeleteObjectVersion) is the bucket owner's alone, as in S3: versioning is what
// protects the owner's data from a writer it let in.
func TestWriteGranteeCannotDeleteVersions(t *testing.T) {
	f := newLockFixture(t, "grantee-versions")
	ctx := f.ctx
	// A versioned bucket without Object Lock: nothing but the authorization step protects it.
	if _, err := f.cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("vers")}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("vers"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.cl.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("vers"),
		GrantWrite: aws.String(`id="other"`), GrantFullControl: aws.String(`id="tester"`)}); err != nil {
		t.Fatal(err)
	}
	put, err := f.cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("vers"), Key: aws.String("k"), Body: bytes.NewReader([]byte("owner's"))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.other.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("vers"), Key: aws.String("k"), VersionId: put.VersionId}); code(err) != "AccessDenied" {
		t.Fatalf("grantee's DeleteObject of a version: %v, want AccessDenied", err)
	}
	out, err := f.other.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("vers"), Delete: &types.Delete{
		Objects: []types.ObjectIdentifier{{Key: aws.String("k"), VersionId: put.VersionId}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Errors) != 1 || aws.ToString(out.Errors[0].Code) != "AccessDenied" || len(out.Deleted) != 0 {
		t.Fatalf("grantee's DeleteObjects of a version: deleted %d, errors %+v", len(out.Deleted), out.Errors)
	}
	got, err := f.cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("vers"), Key: aws.String("k"), VersionId: put.VersionId})
	if err != nil {
		t.Fatalf("the owner's version is gone: %v", err)
	}
	got.Body.Close()
	// A plain delete (a delete marker) is still the grantee's to make, and the owner's
	// version stays under it.
	if _, err := f.other.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("vers"), Key: aws.String("k")}); err != nil {
		t.Fatalf("grantee's DeleteObject: %v", err)
	}
	if _, err := f.cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("vers"), Key: aws.String("k"), VersionId: put.VersionId}); err != nil {
		t.Fatalf("owner's DeleteObject of a version: %v", err)
	}
}

// Setting a retention period or a legal hold is not something an ACL grants: another
// account writing through a WRITE grant may not plant versions the bucket owner can never
// delete.
func TestWriteGranteeCannotLockVersions(t *testing.T) {
	f := newLockFixture(t, "grantee-lock")
	ctx := f.ctx
	if _, err := f.cl.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: f.bucket,
		GrantWrite: aws.String(`id="other"`), GrantFullControl: aws.String(`id="tester"`)}); err != nil {
		t.Fatal(err)
	}
	body := []byte("planted")
	sum := md5.Sum(body)
	until := time.Now().Add(100 * 365 * 24 * time.Hour)
	_, err := f.other.PutObject(ctx, &s3.PutObjectInput{Bucket: f.bucket, Key: aws.String("p"), Body: bytes.NewReader(body),
		ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum[:])), ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(until)})
	if code(err) != "AccessDenied" {
		t.Fatalf("grantee's PutObject with COMPLIANCE retention: %v, want AccessDenied", err)
	}
	_, err = f.other.PutObject(ctx, &s3.PutObjectInput{Bucket: f.bucket, Key: aws.String("h"), Body: bytes.NewReader(body),
		ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum[:])), ObjectLockLegalHoldStatus: types.ObjectLockLegalHoldStatusOn})
	if code(err) != "AccessDenied" {
		t.Fatalf("grantee's PutObject with a legal hold: %v, want AccessDenied", err)
	}
	_, err = f.other.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: f.bucket, Key: aws.String("m"),
		ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(until)})
	if code(err) != "AccessDenied" {
		t.Fatalf("grantee's CreateMultipartUpload with retention: %v, want AccessDenied", err)
	}
	if _, err := storedEntry(t, f.c, *f.bucket, "p"); err == nil {
		t.Fatal("a refused locked write was stored")
	}
	// The grantee's plain writes still work, and the owner's locked ones too.
	if _, err := f.other.PutObject(ctx, &s3.PutObjectInput{Bucket: f.bucket, Key: aws.String("plain"), Body: bytes.NewReader(body)}); err != nil {
		t.Fatalf("grantee's plain PutObject: %v", err)
	}
	f.put("o", body, func(in *s3.PutObjectInput) {
		in.ContentMD5 = aws.String(base64.StdEncoding.EncodeToString(sum[:]))
		in.ObjectLockLegalHoldStatus = types.ObjectLockLegalHoldStatusOn
	})
}

// PutBucketVersioning changes the versioning state only: a setting changed while it runs
// (the bucket's tags here; its ACL, public access block or Object Lock configuration alike)
// is not put back to what it was when the versioning request read the bucket.
func TestPutVersioningKeepsConcurrentSettings(t *testing.T) {
	c := testcluster.StartS3(t, testcluster.S3Options{})
	cl := sdkClient(c, c.SecretKey)
	ctx := ctxT(t)
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("race")}); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		status := types.BucketVersioningStatusEnabled
		if i%2 == 1 {
			status = types.BucketVersioningStatusSuspended
		}
		want := strconv.Itoa(i)
		var wg sync.WaitGroup
		var verr, terr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, verr = cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("race"),
				VersioningConfiguration: &types.VersioningConfiguration{Status: status}})
		}()
		go func() {
			defer wg.Done()
			_, terr = cl.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String("race"),
				Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("round"), Value: aws.String(want)}}}})
		}()
		wg.Wait()
		if verr != nil || terr != nil {
			t.Fatalf("round %d: versioning %v, tagging %v", i, verr, terr)
		}
		b := storedBucket(t, c, "race")
		if len(b.Tags) != 1 || b.Tags[0].Value != want {
			t.Fatalf("round %d: stored tags %+v, want round=%s: the versioning change undid the tagging", i, b.Tags, want)
		}
	}
}

// A stranger naming versions by ID learns nothing of them: a version that does not exist and
// a delete marker are AccessDenied, with no x-amz-delete-marker header, to a caller that may
// not list the bucket's versions. The owner still gets S3's own answers.
func TestVersionProbesHidden(t *testing.T) {
	c, cl, ctx := withBucket(t, "probe")
	if _, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("probe"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	put, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("probe"), Key: aws.String("k"), Body: bytes.NewReader([]byte("x"))})
	if err != nil {
		t.Fatal(err)
	}
	del, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("probe"), Key: aws.String("k")})
	if err != nil || aws.ToString(del.VersionId) == "" {
		t.Fatalf("delete marker: %v", err)
	}
	marker := aws.ToString(del.VersionId)
	missing := aws.ToString(put.VersionId)
	if _, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("probe"), Key: aws.String("k"), VersionId: put.VersionId}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/probe/k?versionId=" + marker, "/probe/k?versionId=" + missing, "/probe/k?acl&versionId=" + missing} {
		for _, method := range []string{"GET", "HEAD"} {
			if method == "HEAD" && strings.Contains(path, "?acl") {
				continue // ?acl has no HEAD: 405 whatever the version
			}
			ctx2, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			req, _ := http.NewRequestWithContext(ctx2, method, c.Endpoint+path, nil)
			resp, err := http.DefaultClient.Do(req)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Amz-Delete-Marker") != "" {
				t.Fatalf("anonymous %s %s: %d, delete marker header %q; want 403 and none", method, path, resp.StatusCode, resp.Header.Get("X-Amz-Delete-Marker"))
			}
		}
	}
	if _, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("probe"), Key: aws.String("k"), VersionId: aws.String(missing)}); code(err) != "NoSuchVersion" {
		t.Fatalf("owner's GET of a deleted version: %v, want NoSuchVersion", err)
	}
}

// The response-* overrides of a GET are for signed requests only, as in S3: anonymous,
// they would let anyone link to a public object served as text/html (or as an attachment
// of any name) from the store's own origin.
func TestAnonymousResponseOverridesRefused(t *testing.T) {
	c, cl, ctx := withBucket(t, "pub")
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("pub"), Key: aws.String("up.txt"),
		Body: bytes.NewReader([]byte("<script>x</script>")), ACL: types.ObjectCannedACLPublicRead}); err != nil {
		t.Fatal(err)
	}
	if st, _, body := anonymous(t, c, "GET", "/pub/up.txt", nil); st != 200 || string(body) != "<script>x</script>" {
		t.Fatalf("anonymous GET of the public object: %d %q", st, body)
	}
	for _, q := range []string{"response-content-type=text/html", "response-content-disposition=inline", "response-cache-control=max-age=99"} {
		st, code, _ := anonymous(t, c, "GET", "/pub/up.txt?"+q, nil)
		if st != 400 || code != "InvalidRequest" {
			t.Fatalf("anonymous GET ?%s: %d %s, want 400 InvalidRequest", q, st, code)
		}
	}
	// Signed, the override is served.
	out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("pub"), Key: aws.String("up.txt"), ResponseContentType: aws.String("text/plain; charset=x")})
	if err != nil {
		t.Fatal(err)
	}
	out.Body.Close()
	if aws.ToString(out.ContentType) != "text/plain; charset=x" {
		t.Fatalf("signed override: content type %q", aws.ToString(out.ContentType))
	}
}
