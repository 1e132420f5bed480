package s3api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"stratus/internal/hlc"
	"stratus/internal/testutil"
	"stratus/objectd/client"
	"stratus/proxy"
)

// TestResurrectedEntryRemoved: a delete removes the index entry, then tombstones the
// bytes; a write stamped before the delete whose commit lands between the two leaves an
// entry whose bytes are gone. The race is staged here by tombstoning an indexed object's
// bytes behind the index's back. A GET finds the replicas' deletion newer than the
// entry, answers 404 at once and removes the entry, so HEAD and listings agree with it.
//
// Only entries from before null versions had storage names of their own can be left so
// (a delete tombstones the name of the entry it removed, and a later commit's own name is
// never it): the test stages one, bytes at the object's own name and an entry without Data.
func TestResurrectedEntryRemoved(t *testing.T) {
	c, cl, ctx := withBucket(t, "lazarus")
	b := aws.String("lazarus")
	for _, key := range []string{"k", "other"} {
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(key), Body: strings.NewReader(key)}); err != nil {
			t.Fatal(err)
		}
	}
	nodes := client.New(client.Config{Timeout: 10 * time.Second})
	t.Cleanup(nodes.CloseIdleConnections)
	p, err := proxy.New(proxy.DefaultConfig(), nodes, &hlc.Clock{}, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	p.SetRing(c.Storage.Ring)
	idx := c.Meta.Index("lazarus")
	cur, err := idx.GetObject(ctx, "lazarus", "k")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Put(ctx, proxy.PutRequest{Name: "lazarus/k", Length: 1}, strings.NewReader("k"), func(ctx context.Context, res proxy.PutResult) error {
		cur.Data, cur.Null, cur.Version = "", false, uint64(res.Timestamp)
		return idx.PutObject(ctx, cur, false)
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Delete(ctx, "lazarus/k", nil); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	if _, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("k")}); code(err) != "NoSuchKey" {
		t.Fatalf("GET of an entry whose bytes a newer deletion removed: %v, want NoSuchKey", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("GET took %v to find the deletion", took)
	}
	if _, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("k")}); err == nil {
		t.Fatal("HEAD still finds the entry")
	}
	list, err := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b})
	if err != nil || len(list.Contents) != 1 || *list.Contents[0].Key != "other" {
		t.Fatalf("listing after the repair: %+v %v", list, err)
	}
	// A write after it is served as usual.
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: strings.NewReader("back")}); err != nil {
		t.Fatal(err)
	}
	out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	out.Body.Close()
}
