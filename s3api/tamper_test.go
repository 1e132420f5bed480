package s3api_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
)

// flipper relays TCP connections to target and flips one byte of each request body, at
// offset bytes past the end of the headers: a bit error or an attacker on the wire.
func flipper(t *testing.T, target string, offset int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, s)
			mu.Unlock()
			wg.Go(func() { io.Copy(c, s); c.Close() })
			wg.Go(func() {
				defer s.Close()
				var seen []byte
				flipped := false
				buf := make([]byte, 32<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						chunk := buf[:n]
						if !flipped {
							start := len(seen)
							seen = append(seen, chunk...)
							if i := bytes.Index(seen, []byte("\r\n\r\n")); i >= 0 && len(seen) > i+4+offset {
								pos := i + 4 + offset - start
								if pos >= 0 && pos < n {
									chunk[pos] ^= 0x01
									flipped = true
								}
							}
						}
						if _, werr := s.Write(chunk); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			})
		}
	})
	return ln.Addr().String()
}

// TestTamperedChunkSignature: a streaming-signed upload (minio-go over HTTP) whose body is
// changed in flight is refused by its chunk signature, and nothing is stored.
func TestTamperedChunkSignature(t *testing.T) {
	c, cl, ctx := withBucket(t, "wire")
	u, _ := url.Parse(c.Endpoint)
	relay := flipper(t, u.Host, 300) // inside the first chunk's data
	mc, err := minio.New(relay, &minio.Options{Creds: miniocreds.NewStaticV4(c.AccessKey, c.SecretKey, ""), Region: c.Region})
	if err != nil {
		t.Fatal(err)
	}
	body := payload(200<<10, 42)
	_, err = mc.PutObject(ctx, "wire", "tampered", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{DisableMultipart: true})
	var me minio.ErrorResponse
	if !errors.As(err, &me) || me.Code != "SignatureDoesNotMatch" {
		t.Fatalf("tampered streaming upload: %v", err)
	}
	if _, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("wire"), Key: aws.String("tampered")}); err == nil {
		t.Fatal("a tampered upload was stored")
	}
}
