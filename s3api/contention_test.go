package s3api_test

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestHotKeyContention has eight clients PUT, GET and DELETE five keys as fast as they can,
// with no fault injected: every request must succeed (no retries: the SDK tries once), and
// every key's history must be linearizable. S3API_CONTENTION_SECONDS sets how long (default
// 4).
func TestHotKeyContention(t *testing.T) {
	dur := 4 * time.Second
	if v := os.Getenv("S3API_CONTENTION_SECONDS"); v != "" {
		d, err := time.ParseDuration(v + "s")
		if err != nil {
			t.Fatal(err)
		}
		dur = d
	}
	c, _, ctx := withBucket(t, "hot")
	cl := s3.New(s3.Options{Region: c.Region, BaseEndpoint: aws.String(c.Endpoint), UsePathStyle: true,
		Credentials: sdkClient(c, c.SecretKey).Options().Credentials, RetryMaxAttempts: 1})
	const clients, keys = 8, 5
	base := time.Now()
	stop := base.Add(dur)
	var mu sync.Mutex
	var history []histOp
	var failures []string
	var wg sync.WaitGroup
	for id := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(id), 7))
			for seq := 0; time.Now().Before(stop); seq++ {
				o := histOp{key: fmt.Sprintf("k%d", rng.IntN(keys))}
				in := aws.String(o.key)
				var err error
				o.start = time.Since(base)
				switch n := rng.IntN(10); {
				case n < 4:
					o.kind, o.value = opPut, fmt.Sprintf("c%d-%d", id, seq)
					_, err = cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("hot"), Key: in, Body: strings.NewReader(o.value)})
				case n < 9:
					o.kind = opGet
					var out *s3.GetObjectOutput
					if out, err = cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("hot"), Key: in}); err == nil {
						var b []byte
						b, err = io.ReadAll(out.Body)
						out.Body.Close()
						o.value = string(b)
					} else if nsk := (*types.NoSuchKey)(nil); errors.As(err, &nsk) {
						err = nil
					}
				default:
					o.kind = opDel
					_, err = cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("hot"), Key: in})
				}
				o.end = time.Since(base)
				mu.Lock()
				if err != nil {
					failures = append(failures, fmt.Sprintf("%c %s: %v", o.kind, o.key, err))
				} else {
					history = append(history, o)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	failed := map[byte]int{}
	for _, f := range failures {
		failed[f[0]]++
	}
	t.Logf("%d operations in %v; failed: %d PUT, %d GET, %d DELETE", len(history)+len(failures), dur, failed['P'], failed['G'], failed['D'])
	for i, f := range failures {
		if i == 10 {
			t.Errorf("… and %d more", len(failures)-i)
			break
		}
		t.Error(f)
	}
	for _, v := range checkHistory(history, 10) {
		t.Error("not linearizable: " + v)
	}
}
