package lifecycle_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	meta "stratus/meta/client"
)

// The removals act only on what the scanner listed: a write, delete or completion that
// came in between wins, and the removal answers ErrConflict or ErrNotFound (counted as
// skipped) without touching anything.

func TestRemovalsYieldToConcurrentChanges(t *testing.T) {
	e := start(t, nil)
	e.bucket("plain", false)
	e.bucket("vers", true)
	ctx, srv := e.ctx, e.c.Server
	bucket := func(name string) meta.Bucket {
		b, _, err := e.c.Meta.Bucket(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	body := func(b, k string) string {
		out, err := e.cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String(k)})
		if err != nil {
			t.Fatalf("get %s/%s: %v", b, k, err)
		}
		defer out.Body.Close()
		data, _ := io.ReadAll(out.Body)
		return string(data)
	}

	// Unversioned: the object was rewritten after it was listed.
	e.put("plain", "k", 1)
	listed, err := e.c.Meta.Index("plain").GetObject(ctx, "plain", "k")
	if err != nil {
		t.Fatal(err)
	}
	e.put("plain", "k", 7)
	if err := srv.ExpireObject(ctx, bucket("plain"), listed); !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("expire of a rewritten object: %v, want ErrConflict", err)
	}
	if got := body("plain", "k"); got != "xxxxxxx" {
		t.Fatalf("rewritten object reads %q", got)
	}

	// Versioned: the current version was replaced after it was listed.
	e.put("vers", "k", 1)
	listed, err = e.c.Meta.Index("vers").GetObject(ctx, "vers", "k")
	if err != nil {
		t.Fatal(err)
	}
	e.put("vers", "k", 3)
	if err := srv.ExpireObject(ctx, bucket("vers"), listed); !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("marker over a replaced version: %v, want ErrConflict", err)
	}
	if got := body("vers", "k"); got != "xxx" {
		t.Fatalf("current version reads %q", got)
	}
	// A version listed as noncurrent that has become current again (its successor was
	// deleted by ID meanwhile) is not removed.
	cur, err := e.c.Meta.Index("vers").GetObject(ctx, "vers", "k")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.ExpireVersion(ctx, bucket("vers"), cur); !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("noncurrent removal of the current version: %v, want ErrConflict", err)
	}
	if got := body("vers", "k"); got != "xxx" {
		t.Fatalf("current version reads %q after a refused removal", got)
	}

	// An upload completed after it was listed is not aborted, and its object keeps its part.
	up, err := e.cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("plain"), Key: aws.String("m")})
	if err != nil {
		t.Fatal(err)
	}
	u, err := e.c.Meta.Index("plain").Upload(ctx, "plain", "m", aws.ToString(up.UploadId))
	if err != nil {
		t.Fatal(err)
	}
	part, err := e.cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("plain"), Key: aws.String("m"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("part"))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("plain"), Key: aws.String("m"),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}}); err != nil {
		t.Fatal(err)
	}
	if err := srv.AbortUpload(ctx, u); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("abort of a completed upload: %v, want ErrNotFound", err)
	}
	if got := body("plain", "m"); got != "part" {
		t.Fatalf("completed object reads %q after the refused abort", got)
	}
}
