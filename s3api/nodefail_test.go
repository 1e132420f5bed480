package s3api_test

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"stratus/internal/testutil"
)

// TestNodeDown: with one of three storage nodes stopped, PUT, GET and LIST keep working;
// once it is back, replication gives it every object it missed.
func TestNodeDown(t *testing.T) {
	c, cl, ctx := withBucket(t, "resilient")
	b := aws.String("resilient")
	down := c.Storage.Nodes[1]
	down.Stop()
	want := map[string][]byte{}
	for i := range 20 {
		key := fmt.Sprintf("while-down/%02d", i)
		want[key] = payload(1000+i*5000, uint64(i))
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(key), Body: bytes.NewReader(want[key])}); err != nil {
			t.Fatalf("put with a node down: %v", err)
		}
	}
	for key, body := range want {
		got, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String(key)})
		if err != nil {
			t.Fatalf("get with a node down: %v", err)
		}
		data, _ := io.ReadAll(got.Body)
		got.Body.Close()
		if !bytes.Equal(data, body) {
			t.Fatalf("%s: wrong bytes", key)
		}
	}
	list, err := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b})
	if err != nil || len(list.Contents) != 20 {
		t.Fatalf("list with a node down: %v %v", list, err)
	}
	down.Restart()
	testutil.Eventually(t, time.Minute, func() error {
		if err := c.Storage.ReplicateAll(ctx); err != nil {
			return err
		}
		held := 0
		for key := range want {
			// Object bytes live under the storage name their index entry gives.
			e, err := c.Meta.Index("resilient").GetObject(ctx, "resilient", key)
			if err != nil {
				return err
			}
			if c.Storage.Holds(ctx, down, e.Data) {
				held++
			}
		}
		if held != 20 {
			return fmt.Errorf("the restarted node holds %d of 20 objects", held)
		}
		return nil
	})
}
