package s3api_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"stratus/internal/hlc"
	"stratus/internal/testutil"
	metaclient "stratus/meta/client"
	objclient "stratus/objectd/client"
	"stratus/proxy"
)

// TestPutRacingDeleteBucketLeavesNoOrphan: writers PUT and DELETE their keys while the
// bucket is being deleted; once DeleteBucket succeeds, no index entry of the bucket is
// left, whichever way each PUT's commit raced it.
func TestPutRacingDeleteBucketLeavesNoOrphan(t *testing.T) {
	for _, versioning := range []types.BucketVersioningStatus{"", types.BucketVersioningStatusEnabled} {
		t.Run(fmt.Sprint("versioning=", versioning), func(t *testing.T) {
			c, cl, ctx := withBucket(t, "racing")
			bucket := aws.String("racing")
			if versioning != "" {
				versioningTo(t, ctx, cl, "racing", versioning)
			}
			deleted := make(chan struct{})
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Go(func() {
					for i := range 200 {
						key := aws.String(fmt.Sprintf("w%d/%d", w, i))
						_, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: key, Body: strings.NewReader("x")})
						if code(err) == "NoSuchBucket" {
							return
						}
						if err != nil {
							t.Errorf("put: %v", err)
							return
						}
						select {
						case <-deleted:
							// Indexed after the delete succeeded: an orphan, checked below.
							return
						default:
						}
						// Empty the bucket behind us, so DeleteBucket can succeed.
						if versioning == "" {
							_, err = cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: key})
						} else {
							err = deleteAllVersions(ctx, c.Meta, "racing", *key)
						}
						if err != nil && code(err) != "NoSuchBucket" {
							t.Errorf("delete: %v", err)
							return
						}
					}
				})
			}
			gone := false
			for range 2000 {
				_, err := cl.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: bucket})
				if err == nil {
					gone = true
					break
				}
				if code(err) != "BucketNotEmpty" {
					t.Fatalf("delete bucket: %v", err)
				}
				time.Sleep(time.Millisecond)
			}
			close(deleted)
			wg.Wait()
			if !gone {
				t.Fatal("the bucket was never found empty")
			}
			for _, table := range []string{metaclient.TableObjects, metaclient.TableObjectVersions, metaclient.TableUploads} {
				items, _, err := c.Meta.List(ctx, table, "racing/", "", 10)
				if err != nil || len(items) != 0 {
					t.Fatalf("%s of the deleted bucket: %d entries (%v), first %+v", table, len(items), err, items)
				}
			}
		})
	}
}

// deleteAllVersions removes every version of key straight from the index (the test's
// way to empty a versioned bucket quickly).
func deleteAllVersions(ctx context.Context, mc *metaclient.Client, bucket, key string) error {
	idx := mc.Index(bucket)
	vs, _, err := idx.ListObjectVersions(ctx, bucket, key, "", 100)
	if err != nil {
		return err
	}
	for _, v := range vs {
		if v.Key != key {
			continue
		}
		if _, err := idx.DeleteVersion(ctx, bucket, key, v.Version); err != nil && !errors.Is(err, metaclient.ErrNotFound) {
			return err
		}
	}
	return nil
}

// TestPutRefusedRightAfterDenyingPolicy: another account may PUT by the bucket policy; the
// policy is then replaced by one denying it, straight in the catalog (as another S3 server
// would), while this server still remembers the old record. The next PUT is refused and
// leaves nothing indexed, and a refused overwrite leaves the object it would have replaced
// whole.
func TestPutRefusedRightAfterDenyingPolicy(t *testing.T) {
	for _, versioning := range []types.BucketVersioningStatus{"", types.BucketVersioningStatusEnabled, types.BucketVersioningStatusSuspended} {
		t.Run(fmt.Sprint("versioning=", versioning), func(t *testing.T) {
			c, cl, ctx := withBucket(t, "guarded")
			bucket := aws.String("guarded")
			states := []types.BucketVersioningStatus{versioning}
			if versioning == types.BucketVersioningStatusSuspended {
				states = []types.BucketVersioningStatus{types.BucketVersioningStatusEnabled, versioning}
			}
			for _, st := range states {
				if st == "" {
					continue
				}
				if _, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: bucket,
					VersioningConfiguration: &types.VersioningConfiguration{Status: st}}); err != nil {
					t.Fatal(err)
				}
			}
			other := accountClient(c, c.AddAccount(t, "other"))
			allow := bucketPolicyDoc(`{"Effect":"Allow","Principal":{"AWS":"other"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::guarded/*"}`)
			if _, err := cl.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: bucket, Policy: aws.String(allow)}); err != nil {
				t.Fatal(err)
			}
			if _, err := other.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("allowed"), Body: strings.NewReader("1")}); err != nil {
				t.Fatalf("allowed put: %v", err)
			}
			b, mod, err := c.Meta.Bucket(ctx, "guarded")
			if err != nil {
				t.Fatal(err)
			}
			b.AccessPolicy = bucketPolicyDoc(`{"Effect":"Deny","Principal":{"AWS":"other"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::guarded/*"}`)
			if err := c.Meta.UpdateBucket(ctx, b, mod); err != nil {
				t.Fatal(err)
			}
			before := c.Meta.Calls()
			_, err = other.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("denied"), Body: bytes.NewReader([]byte("2"))})
			if code(err) != "AccessDenied" {
				t.Fatalf("put after the denying policy: %v, want AccessDenied", err)
			}
			// The server decided on the record it remembered (the allow) and its commit's
			// bucket check refused it: the path under test.
			if calls := c.Meta.Calls().Sub(before); calls.Applies != 1 {
				t.Fatalf("the denied put made %+v catalog calls: it was not decided on the remembered record", calls)
			}
			if _, err := other.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("allowed"), Body: bytes.NewReader([]byte("3"))}); code(err) != "AccessDenied" {
				t.Fatalf("overwrite after the denying policy: %v, want AccessDenied", err)
			}
			if err := c.Storage.ReplicateAll(ctx); err != nil {
				t.Fatal(err)
			}
			if got := getBytes(t, ctx, other, "guarded", "allowed", "", ""); string(got) != "1" {
				t.Fatalf("the object a refused overwrite would have replaced reads %q", got)
			}
			if _, err := storedEntry(t, c, "guarded", "denied"); !errors.Is(err, metaclient.ErrNotFound) {
				t.Fatalf("a refused put is indexed: %v", err)
			}
			if vs, _, err := c.Meta.Index("guarded").ListObjectVersions(ctx, "guarded", "denied", "", 10); err != nil || len(vs) != 0 {
				t.Fatalf("a refused put is in the history: %+v %v", vs, err)
			}
		})
	}
}

// TestTaggedPutRefusedRightAfterDenyingTagging: a PUT with x-amz-tagging needs
// s3:PutObjectTagging too. Another account may do both by the bucket policy; the policy is
// then changed to deny tagging alone while this server remembers the old record. The
// tagged PUT is decided again at its commit, tagging included, and refused.
func TestTaggedPutRefusedRightAfterDenyingTagging(t *testing.T) {
	c, cl, ctx := withBucket(t, "tagged")
	bucket := aws.String("tagged")
	other := accountClient(c, c.AddAccount(t, "other"))
	allow := `{"Effect":"Allow","Principal":{"AWS":"other"},"Action":["s3:PutObject","s3:PutObjectTagging"],"Resource":"arn:aws:s3:::tagged/*"}`
	if _, err := cl.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: bucket, Policy: aws.String(bucketPolicyDoc(allow))}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("first"), Tagging: aws.String("a=1"), Body: strings.NewReader("1")}); err != nil {
		t.Fatalf("allowed tagged put: %v", err)
	}
	b, mod, err := c.Meta.Bucket(ctx, "tagged")
	if err != nil {
		t.Fatal(err)
	}
	b.AccessPolicy = bucketPolicyDoc(allow, `{"Effect":"Deny","Principal":{"AWS":"other"},"Action":"s3:PutObjectTagging","Resource":"arn:aws:s3:::tagged/*"}`)
	if err := c.Meta.UpdateBucket(ctx, b, mod); err != nil {
		t.Fatal(err)
	}
	_, err = other.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("second"), Tagging: aws.String("a=2"), Body: strings.NewReader("2")})
	if code(err) != "AccessDenied" {
		t.Fatalf("tagged put after tagging was denied: %v, want AccessDenied", err)
	}
	if _, err := storedEntry(t, c, "tagged", "second"); !errors.Is(err, metaclient.ErrNotFound) {
		t.Fatalf("a refused tagged put is indexed: %v", err)
	}
	if _, err := other.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("third"), Body: strings.NewReader("3")}); err != nil {
		t.Fatalf("untagged put: %v", err)
	}
}

// TestPublicACLRefusedRightAfterBlock: BlockPublicAcls is turned on straight in the
// catalog (as through another S3 server) while this server remembers the bucket without
// it. A PUT with a public canned ACL, decided on the remembered record, is not indexed:
// its commit finds the record changed, and the write is decided again on the new one
// (through one 503 the SDK retries). In every versioning state.
func TestPublicACLRefusedRightAfterBlock(t *testing.T) {
	for _, versioning := range []types.BucketVersioningStatus{"", types.BucketVersioningStatusEnabled} {
		t.Run(fmt.Sprint("versioning=", versioning), func(t *testing.T) {
			c, cl, ctx := withBucket(t, "blocked")
			bucket := aws.String("blocked")
			if versioning != "" {
				versioningTo(t, ctx, cl, "blocked", versioning)
			}
			putBytes(t, ctx, cl, "blocked", "warm", []byte("x")) // the server now remembers the record
			b, mod, err := c.Meta.Bucket(ctx, "blocked")
			if err != nil {
				t.Fatal(err)
			}
			b.PublicAccess = &metaclient.PublicAccessBlock{BlockPublicAcls: true}
			if err := c.Meta.UpdateBucket(ctx, b, mod); err != nil {
				t.Fatal(err)
			}
			_, err = cl.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("public"), ACL: types.ObjectCannedACLPublicRead,
				Body: strings.NewReader("p")})
			if code(err) != "AccessDenied" {
				t.Fatalf("public-read PUT right after BlockPublicAcls: %v, want AccessDenied", err)
			}
			if _, err := storedEntry(t, c, "blocked", "public"); !errors.Is(err, metaclient.ErrNotFound) {
				t.Fatalf("a PUT with a blocked public ACL is indexed: %v", err)
			}
		})
	}
}

// TestSuspendedKeepsOneNullVersion: with versioning suspended, PUTs (also concurrent ones)
// and DELETEs leave at most one null version in the history, and exactly one after a PUT.
func TestSuspendedKeepsOneNullVersion(t *testing.T) {
	c, cl, ctx := withBucket(t, "onenull")
	bucket, key := aws.String("onenull"), aws.String("k")
	setVersioning := func(st types.BucketVersioningStatus) {
		t.Helper()
		if _, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: bucket,
			VersioningConfiguration: &types.VersioningConfiguration{Status: st}}); err != nil {
			t.Fatal(err)
		}
	}
	put := func(body string) {
		t.Helper()
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: key, Body: strings.NewReader(body)}); err != nil {
			t.Error(err)
		}
	}
	nulls := func() (n int) {
		t.Helper()
		vs, _, err := c.Meta.Index("onenull").ListObjectVersions(ctx, "onenull", "k", "", 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			if (v.Data == "" || v.Null) && !v.DeleteMarker {
				n++
			}
		}
		return n
	}
	setVersioning(types.BucketVersioningStatusEnabled)
	put("versioned")
	setVersioning(types.BucketVersioningStatusSuspended)
	for round := range 3 {
		put(fmt.Sprint("null ", round))
		if n := nulls(); n != 1 {
			t.Fatalf("round %d: %d null versions after a PUT, want 1", round, n)
		}
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() { put(fmt.Sprint("concurrent ", round, i)) })
		}
		wg.Wait()
		if n := nulls(); n != 1 {
			t.Fatalf("round %d: %d null versions after concurrent PUTs, want 1", round, n)
		}
		if _, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: key}); err != nil {
			t.Fatal(err)
		}
		if n := nulls(); n != 0 {
			t.Fatalf("round %d: %d null versions under a delete marker, want 0", round, n)
		}
	}
	put("last")
	out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: key, VersionId: aws.String("null")})
	if err != nil {
		t.Fatalf("the null version: %v", err)
	}
	out.Body.Close()
}

// TestDeleteBucketRefusedWithUploadInProgress: an upload in progress keeps the bucket;
// once aborted, the bucket goes.
func TestDeleteBucketRefusedWithUploadInProgress(t *testing.T) {
	_, cl, ctx := withBucket(t, "pending")
	bucket := aws.String("pending")
	up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: bucket}); code(err) != "BucketNotEmpty" {
		t.Fatalf("delete with an upload in progress: %v, want BucketNotEmpty", err)
	}
	if _, err := cl.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: bucket, Key: aws.String("big"), UploadId: up.UploadId}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: bucket}); err != nil {
		t.Fatalf("delete after the abort: %v", err)
	}
}

// TestOverwriteDropsMultipartParts: a PUT over a multipart object learns its parts from the
// entry its commit replaced, and drops them.
func TestOverwriteDropsMultipartParts(t *testing.T) {
	c, cl, ctx := withBucket(t, "mpover")
	bucket, key := aws.String("mpover"), aws.String("big")
	up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	var done []types.CompletedPart
	for n, size := range []int{5 << 20, 1000} {
		out, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: key, UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(n + 1)), Body: bytes.NewReader(payload(size, uint64(n)))})
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(n + 1)), ETag: out.ETag})
	}
	if _, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: key, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}); err != nil {
		t.Fatal(err)
	}
	e, err := storedEntry(t, c, "mpover", "big")
	if err != nil || e.Parts == nil || e.Parts.Upload != *up.UploadId || e.Parts.Numbers != nil {
		t.Fatalf("completed entry: parts %+v, %v", e.Parts, err)
	}
	nodes := objclient.New(objclient.Config{Timeout: 10 * time.Second})
	t.Cleanup(nodes.CloseIdleConnections)
	p, err := proxy.New(proxy.DefaultConfig(), nodes, &hlc.Clock{}, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	p.SetRing(c.Storage.Ring)
	part := func(n int) error {
		obj, err := p.Get(ctx, fmt.Sprintf(".mpu/mpover/%s/%d", *up.UploadId, n), 0, nil)
		if err == nil {
			obj.Body.Close()
		}
		return err
	}
	for n := 1; n <= 2; n++ {
		if err := part(n); err != nil {
			t.Fatalf("part %d before the overwrite: %v", n, err)
		}
	}
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: key, Body: strings.NewReader("small")}); err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 2; n++ {
		if err := part(n); !errors.Is(err, proxy.ErrNotFound) {
			t.Fatalf("part %d after the overwrite: %v, want not found", n, err)
		}
	}
}
