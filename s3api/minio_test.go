package s3api_test

import (
	"bytes"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"stratus/internal/testcluster"
)

// TestMinioGo drives the cluster with minio-go, which signs uploads over plain HTTP with
// streaming chunk signatures (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) and sends large objects
// as multipart uploads.
func TestMinioGo(t *testing.T) {
	c := testcluster.StartS3(t, testcluster.S3Options{})
	u, _ := url.Parse(c.Endpoint)
	mc, err := minio.New(u.Host, &minio.Options{Creds: miniocreds.NewStaticV4(c.AccessKey, c.SecretKey, ""), Region: c.Region})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	if err := mc.MakeBucket(ctx, "minio-bucket", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{0, 10 << 10, 20<<20 + 1} {
		body := payload(size, uint64(size)+3)
		name := "obj/" + strings.Repeat("x", size%7)
		// Unknown length makes minio-go stream with chunk signatures or multipart.
		info, err := mc.PutObject(ctx, "minio-bucket", name, bytes.NewReader(body), int64(size),
			minio.PutObjectOptions{ContentType: "application/x-minio", UserMetadata: map[string]string{"k": "v"}, PartSize: 5 << 20})
		if err != nil {
			t.Fatalf("put %d bytes: %v", size, err)
		}
		if info.Size != int64(size) {
			t.Fatalf("put size %d", info.Size)
		}
		obj, err := mc.GetObject(ctx, "minio-bucket", name, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(obj)
		obj.Close()
		if err != nil || !bytes.Equal(data, body) {
			t.Fatalf("get %d bytes: %d back, %v", size, len(data), err)
		}
		st, err := mc.StatObject(ctx, "minio-bucket", name, minio.StatObjectOptions{})
		if err != nil || st.ContentType != "application/x-minio" || st.UserMetadata["K"] != "v" {
			t.Fatalf("stat: %+v %v", st, err)
		}
	}
	// A ranged read.
	opts := minio.GetObjectOptions{}
	opts.SetRange(5, 9)
	obj, err := mc.GetObject(ctx, "minio-bucket", "obj/"+strings.Repeat("x", (10<<10)%7), opts)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(obj)
	obj.Close()
	if len(data) != 5 {
		t.Fatalf("range read %d bytes", len(data))
	}
	// Listing and removal.
	n := 0
	for o := range mc.ListObjects(ctx, "minio-bucket", minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		n++
	}
	if n != 3 {
		t.Fatalf("listed %d objects", n)
	}
	objs := make(chan minio.ObjectInfo, 3)
	for o := range mc.ListObjects(ctx, "minio-bucket", minio.ListObjectsOptions{Recursive: true}) {
		objs <- o
	}
	close(objs)
	for e := range mc.RemoveObjects(ctx, "minio-bucket", objs, minio.RemoveObjectsOptions{}) {
		t.Fatalf("remove objects: %v", e.Err)
	}
	if err := mc.RemoveBucket(ctx, "minio-bucket"); err != nil {
		t.Fatal(err)
	}
	// Presigned GET of a missing bucket object fails cleanly.
	_, err = mc.StatObject(ctx, "minio-bucket", "gone", minio.StatObjectOptions{})
	var me minio.ErrorResponse
	if !errors.As(err, &me) || me.StatusCode != 404 {
		t.Fatalf("stat in a deleted bucket: %v", err)
	}
}
