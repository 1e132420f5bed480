package s3api_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"stratus/internal/testcluster"
	meta "stratus/meta/client"
)

func b64Sum(h hash.Hash, data []byte) string {
	h.Write(data)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// storedChecksums reads the checksums a HEAD with x-amz-checksum-mode: ENABLED returns.
func storedChecksums(t *testing.T, ctx context.Context, cl *s3.Client, bucket, key string) map[string]string {
	t.Helper()
	h, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatalf("head %s: %v", key, err)
	}
	out := map[string]string{}
	for alg, v := range map[string]*string{"CRC32": h.ChecksumCRC32, "CRC32C": h.ChecksumCRC32C, "SHA1": h.ChecksumSHA1,
		"SHA256": h.ChecksumSHA256, "CRC64NVME": h.ChecksumCRC64NVME} {
		if v != nil {
			out[alg] = *v
		}
	}
	if len(out) > 0 {
		out["type"] = string(h.ChecksumType)
	}
	return out
}

// TestChecksumsStoredAndReturned: PutObject's checksums (each algorithm, in a header over
// HTTP and in an aws-chunked trailer over HTTPS, the SDK's default CRC32 included) are
// kept, returned on GET/HEAD with checksum mode and in GetObjectAttributes, and validated
// by the SDK on GET; a wrong one stores nothing and leaves the earlier version.
func TestChecksumsStoredAndReturned(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", secure), func(t *testing.T) {
			c := testcluster.StartS3(t, testcluster.S3Options{TLS: secure})
			// What config.LoadDefaultConfig gives an SDK client: a CRC32 on every PutObject,
			// and every GET's body validated against the checksum its response carries.
			opts := s3.Options{Region: c.Region, BaseEndpoint: aws.String(c.Endpoint), UsePathStyle: true,
				Credentials:                credentials.NewStaticCredentialsProvider(c.AccessKey, c.SecretKey, ""),
				RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
				ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported}
			if secure {
				opts.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.CertPool}}}
			}
			cl := s3.New(opts)
			ctx := ctxT(t)
			b := aws.String("sums")
			if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b}); err != nil {
				t.Fatal(err)
			}
			data := payload(300<<10+7, 9)
			// The SDK's default: CRC32.
			if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("default"), Body: bytes.NewReader(data)}); err != nil {
				t.Fatal(err)
			}
			if got := storedChecksums(t, ctx, cl, "sums", "default"); got["CRC32"] != b64Sum(crc32.NewIEEE(), data) || got["type"] != "FULL_OBJECT" {
				t.Fatalf("default checksum: %v", got)
			}
			for alg, h := range map[types.ChecksumAlgorithm]hash.Hash{types.ChecksumAlgorithmCrc32c: crc32.New(crc32.MakeTable(crc32.Castagnoli)),
				types.ChecksumAlgorithmSha1: sha1.New(), types.ChecksumAlgorithmSha256: sha256.New()} {
				key := aws.String("k-" + string(alg))
				put, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: key, Body: bytes.NewReader(data), ChecksumAlgorithm: alg})
				if err != nil {
					t.Fatal(err)
				}
				want := b64Sum(h, data)
				if got := storedChecksums(t, ctx, cl, "sums", *key); got[string(alg)] != want || len(got) != 2 {
					t.Fatalf("%s: stored %v, want %s (put answered %+v)", alg, got, want, put)
				}
				// The SDK validates a GET's body against the checksum the response carries.
				get, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: key, ChecksumMode: types.ChecksumModeEnabled})
				if err != nil {
					t.Fatal(err)
				}
				back, err := io.ReadAll(get.Body)
				get.Body.Close()
				if err != nil || !bytes.Equal(back, data) {
					t.Fatalf("%s: GET with validation: %d bytes, %v", alg, len(back), err)
				}
				attrs, err := cl.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: b, Key: key,
					ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesChecksum}})
				if err != nil || attrs.Checksum == nil || attrs.Checksum.ChecksumType != types.ChecksumTypeFullObject {
					t.Fatalf("%s: attributes %+v %v", alg, attrs, err)
				}
			}
			// A range has no checksum: the SDK must not try to validate it against the object's.
			rng, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("default"), Range: aws.String("bytes=10-19"),
				ChecksumMode: types.ChecksumModeEnabled})
			if err != nil || rng.ChecksumCRC32 != nil {
				t.Fatalf("range: %+v %v", rng, err)
			}
			rng.Body.Close()
			// A wrong checksum: refused, nothing replaced.
			_, err = cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("default"), Body: strings.NewReader("other"),
				ChecksumSHA256: aws.String(b64Sum(sha256.New(), []byte("not it")))})
			if code(err) != "BadDigest" {
				t.Fatalf("a wrong sha256: %v", err)
			}
			if got := storedChecksums(t, ctx, cl, "sums", "default"); got["CRC32"] != b64Sum(crc32.NewIEEE(), data) {
				t.Fatalf("a refused put changed the object: %v", got)
			}
			if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("new"), Body: strings.NewReader("other"),
				ChecksumCRC32: aws.String(b64Sum(crc32.NewIEEE(), []byte("not it")))}); code(err) != "BadDigest" {
				t.Fatalf("a wrong crc32: %v", err)
			}
			if _, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("new")}); code(err) != "NotFound" {
				t.Fatalf("a refused put stored something: %v", err)
			}
			// The SDK really checks the checksum sent: one that does not match the bytes fails the read.
			if _, err := c.Meta.Index("sums").UpdateObject(ctx, "sums", "default", 0, func(e *meta.ObjectEntry) error {
				e.Checksum.Value = b64Sum(crc32.NewIEEE(), []byte("not it"))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			get, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("default")})
			if err == nil {
				_, err = io.ReadAll(get.Body)
				get.Body.Close()
			}
			if err == nil || !strings.Contains(err.Error(), "checksum") {
				t.Fatalf("a GET with a wrong stored checksum passed the SDK's validation: %v", err)
			}
		})
	}
}

// TestChecksumTrailer: an aws-chunked body with its checksum in a trailer (unsigned
// trailer mode, as SDKs send it) keeps that checksum; a wrong trailer stores nothing.
func TestChecksumTrailer(t *testing.T) {
	c, cl, ctx := withBucket(t, "trailers")
	data := payload(70<<10, 3)
	send := func(key, trailerValue string) (int, string) {
		var body bytes.Buffer
		for off := 0; off < len(data); off += 64 << 10 {
			chunk := data[off:min(off+64<<10, len(data))]
			fmt.Fprintf(&body, "%x\r\n%s\r\n", len(chunk), chunk)
		}
		fmt.Fprintf(&body, "0\r\nx-amz-checksum-sha1:%s\r\n\r\n", trailerValue)
		req, err := http.NewRequest(http.MethodPut, c.Endpoint+"/trailers/"+key, bytes.NewReader(body.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		const mode = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
		req.Header.Set("X-Amz-Content-Sha256", mode)
		req.Header.Set("Content-Encoding", "aws-chunked")
		req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(data)))
		req.Header.Set("X-Amz-Trailer", "x-amz-checksum-sha1")
		req.Header.Set("X-Amz-Sdk-Checksum-Algorithm", "SHA1")
		creds := aws.Credentials{AccessKeyID: c.AccessKey, SecretAccessKey: c.SecretKey}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, mode, "s3", c.Region, time.Now()); err != nil {
			t.Fatal(err)
		}
		return status(t, req)
	}
	want := b64Sum(sha1.New(), data)
	if st, body := send("good", want); st != http.StatusOK {
		t.Fatalf("good trailer: %d %s", st, body)
	}
	if got := storedChecksums(t, ctx, cl, "trailers", "good"); got["SHA1"] != want {
		t.Fatalf("trailer checksum kept: %v", got)
	}
	if st, body := send("bad", b64Sum(sha1.New(), []byte("x"))); st != http.StatusBadRequest || !strings.Contains(body, "BadDigest") {
		t.Fatalf("bad trailer: %d %s", st, body)
	}
	if _, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("trailers"), Key: aws.String("bad")}); code(err) != "NotFound" {
		t.Fatalf("a refused trailer stored something: %v", err)
	}
}
