package daemon

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"stratus/internal/hlc"
	"stratus/internal/testcluster"
	"stratus/internal/testutil"
	"stratus/meta/client"
	objclient "stratus/objectd/client"
	"stratus/proxy"
)

// TestImageObjects: objects written through the S3 API by an S3 client — a multipart one, a
// single-part one and one whose key is too long to be its own storage name — read back
// whole as an image's bytes; an image naming another account's bucket, or a missing
// object, is refused for good.
func TestImageObjects(t *testing.T) {
	s3 := testcluster.StartS3(t, testcluster.S3Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	u, err := url.Parse(s3.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	mn, err := minio.New(u.Host, &minio.Options{Creds: miniocreds.NewStaticV4(s3.AccessKey, s3.SecretKey, ""), Region: s3.Region})
	if err != nil {
		t.Fatal(err)
	}
	if err := mn.MakeBucket(ctx, "imgs", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	longKey := strings.Repeat("k", 1020) // "imgs/" + key is longer than a storage name may be
	objects := map[string][]byte{
		"multipart.img": testutil.Payload(11<<20+123, 1),
		"small.img":     testutil.Payload(4097, 2),
		longKey:         testutil.Payload(1000, 3),
	}
	for key, body := range objects {
		if _, err := mn.PutObject(ctx, "imgs", key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{PartSize: 5 << 20}); err != nil {
			t.Fatalf("put %.20s: %v", key, err)
		}
	}
	nodes := objclient.New(objclient.Config{Timeout: 10 * time.Second})
	t.Cleanup(nodes.CloseIdleConnections)
	px, err := proxy.New(proxy.DefaultConfig(), nodes, &hlc.Clock{}, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	px.SetRing(s3.Storage.Ring)

	for key, body := range objects {
		im := client.Image{ID: client.NewImageID(client.ImageMachine), Account: s3.Account, Bucket: "imgs", Key: key}
		e, err := resolveObject(ctx, s3.Meta, im)
		if err != nil {
			t.Fatalf("%.20s: %v", key, err)
		}
		if key == "multipart.img" && !strings.HasSuffix(e.ETag, "-3") {
			t.Fatalf("multipart.img was stored as %q, not as a three-part upload", e.ETag)
		}
		var got bytes.Buffer
		if err := copyObject(ctx, px, e, &got); err != nil {
			t.Fatalf("%.20s: %v", key, err)
		}
		if !bytes.Equal(got.Bytes(), body) {
			t.Fatalf("%.20s: read %d bytes, not the %d written", key, got.Len(), len(body))
		}
	}

	if err := s3.Meta.CreateBucket(ctx, client.Bucket{Name: "other", Owner: "someone-else"}); err != nil {
		t.Fatal(err)
	}
	for _, im := range []client.Image{
		{ID: client.NewImageID(client.ImageKernel), Account: s3.Account, Bucket: "other", Key: "small.img"},
		{ID: client.NewImageID(client.ImageKernel), Account: s3.Account, Bucket: "imgs", Key: "missing"},
		{ID: client.NewImageID(client.ImageKernel), Account: s3.Account, Bucket: "nobucket", Key: "x"},
	} {
		if _, err := resolveObject(ctx, s3.Meta, im); !errors.Is(err, errNoImage) {
			t.Errorf("image in %s/%s: %v, want errNoImage", im.Bucket, im.Key, err)
		}
	}
	// An operator's image (no account) may name any bucket.
	if _, err := resolveObject(ctx, s3.Meta, client.Image{ID: client.NewImageID(client.ImageKernel), Bucket: "imgs", Key: "small.img"}); err != nil {
		t.Errorf("operator's image: %v", err)
	}
}
