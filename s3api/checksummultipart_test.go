package s3api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"hash/crc32"
	"hash/crc64"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestMultipartChecksums: an upload created with a checksum algorithm has its parts carry
// that checksum; completing it checks the listed checksums and gives the object the
// composite checksum S3 gives (checksum of the parts' checksums, "-<parts>"), which
// HEAD, GetObjectAttributes and GET ?partNumber report. Mismatches store nothing.
func TestMultipartChecksums(t *testing.T) {
	c, cl, ctx := withBucket(t, "mpsums")
	b := aws.String("mpsums")
	up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("obj"),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256})
	if err != nil || up.ChecksumAlgorithm != types.ChecksumAlgorithmSha256 {
		t.Fatalf("create: %+v %v", up, err)
	}
	parts := [][]byte{payload(5<<20, 1), payload(1234, 2)}
	var done []types.CompletedPart
	composite := sha256.New()
	for i, p := range parts {
		n := aws.Int32(int32(i + 1))
		sum := sha256.Sum256(p)
		composite.Write(sum[:])
		out, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("obj"), UploadId: up.UploadId, PartNumber: n,
			Body: bytes.NewReader(p), ChecksumAlgorithm: types.ChecksumAlgorithmSha256})
		if err != nil || aws.ToString(out.ChecksumSHA256) != base64.StdEncoding.EncodeToString(sum[:]) {
			t.Fatalf("part %d: %+v %v", i+1, out, err)
		}
		done = append(done, types.CompletedPart{PartNumber: n, ETag: out.ETag, ChecksumSHA256: out.ChecksumSHA256})
	}
	listed, err := cl.ListParts(ctx, &s3.ListPartsInput{Bucket: b, Key: aws.String("obj"), UploadId: up.UploadId})
	if err != nil || len(listed.Parts) != 2 || aws.ToString(listed.Parts[0].ChecksumSHA256) != aws.ToString(done[0].ChecksumSHA256) {
		t.Fatalf("list parts: %+v %v", listed, err)
	}
	// A part with another algorithm than the upload's is refused.
	if _, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("obj"), UploadId: up.UploadId, PartNumber: aws.Int32(3),
		Body: strings.NewReader("x"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32}); code(err) != "InvalidRequest" {
		t.Fatalf("a crc32 part in a sha256 upload: %v", err)
	}
	// A completion that lists a wrong part checksum is refused and completes nothing.
	wrong := append([]types.CompletedPart(nil), done...)
	wrong[1].ChecksumSHA256 = done[0].ChecksumSHA256
	if _, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("obj"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: wrong}}); code(err) != "InvalidPart" {
		t.Fatalf("a wrong listed checksum: %v", err)
	}
	if _, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("obj")}); code(err) != "NotFound" {
		t.Fatalf("a refused completion stored the object: %v", err)
	}
	fin, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("obj"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	want := base64.StdEncoding.EncodeToString(composite.Sum(nil)) + "-2"
	if err != nil || aws.ToString(fin.ChecksumSHA256) != want || fin.ChecksumType != types.ChecksumTypeComposite {
		t.Fatalf("complete: %+v %v (want %s)", fin, err, want)
	}
	if got := storedChecksums(t, ctx, cl, "mpsums", "obj"); got["SHA256"] != want || got["type"] != "COMPOSITE" {
		t.Fatalf("head: %v", got)
	}
	attrs, err := cl.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: b, Key: aws.String("obj"),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesChecksum, types.ObjectAttributesObjectParts}})
	if err != nil || attrs.Checksum == nil || aws.ToString(attrs.Checksum.ChecksumSHA256) != want || attrs.ObjectParts == nil ||
		len(attrs.ObjectParts.Parts) != 2 || aws.ToString(attrs.ObjectParts.Parts[1].ChecksumSHA256) != aws.ToString(done[1].ChecksumSHA256) {
		t.Fatalf("attributes: %+v %v", attrs, err)
	}
	// GET ?partNumber returns the part's own checksum, which the SDK validates.
	strict := s3.New(s3.Options{Region: c.Region, BaseEndpoint: aws.String(c.Endpoint), UsePathStyle: true,
		Credentials: cl.Options().Credentials, ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported})
	get, err := strict.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("obj"), PartNumber: aws.Int32(2),
		ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(get.Body)
	get.Body.Close()
	if err != nil || !bytes.Equal(data, parts[1]) || aws.ToString(get.ChecksumSHA256) != aws.ToString(done[1].ChecksumSHA256) {
		t.Fatalf("part 2 with its checksum: %d bytes %+v %v", len(data), get.ChecksumSHA256, err)
	}
	// The whole object's composite checksum is not a checksum of its bytes: the SDK skips it.
	whole, err := strict.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("obj"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	data, err = io.ReadAll(whole.Body)
	whole.Body.Close()
	if err != nil || len(data) != 5<<20+1234 {
		t.Fatalf("whole object: %d bytes, %v", len(data), err)
	}

	// The SDK's upload manager with its defaults (CRC32 on every part).
	mgr := manager.NewUploader(s3.New(s3.Options{Region: c.Region, BaseEndpoint: aws.String(c.Endpoint), UsePathStyle: true,
		Credentials: cl.Options().Credentials, RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported}),
		func(u *manager.Uploader) { u.PartSize = 5 << 20 })
	big := payload(11<<20, 7)
	if _, err := mgr.Upload(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("managed"), Body: bytes.NewReader(big),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32}); err != nil {
		t.Fatal(err)
	}
	got := storedChecksums(t, ctx, cl, "mpsums", "managed")
	if !strings.HasSuffix(got["CRC32"], "-3") {
		t.Fatalf("managed upload checksum: %v", got)
	}
	// UploadPartCopy computes the part checksum its upload requires.
	cup, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("copied"),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
	if err != nil {
		t.Fatal(err)
	}
	cp, err := cl.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: b, Key: aws.String("copied"), UploadId: cup.UploadId,
		PartNumber: aws.Int32(1), CopySource: aws.String("mpsums/obj"), CopySourceRange: aws.String("bytes=0-99")})
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	if err != nil || cp.CopyPartResult == nil || aws.ToString(cp.CopyPartResult.ChecksumCRC32C) != b64Sum(crc32.New(castagnoli), parts[0][:100]) {
		t.Fatalf("upload part copy: %+v %v", cp, err)
	}
	cfin, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("copied"), UploadId: cup.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: cp.CopyPartResult.ETag}}}})
	raw, _ := base64.StdEncoding.DecodeString(aws.ToString(cp.CopyPartResult.ChecksumCRC32C))
	if err != nil || aws.ToString(cfin.ChecksumCRC32C) != b64Sum(crc32.New(castagnoli), raw)+"-1" {
		t.Fatalf("complete a copied part: %+v %v", cfin, err)
	}
	// A copy carries a checksum of its own bytes: the source's algorithm, or the one asked for.
	if _, err := cl.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("copy"), CopySource: aws.String("mpsums/obj")}); err != nil {
		t.Fatal(err)
	}
	all := sha256.Sum256(append(append([]byte(nil), parts[0]...), parts[1]...))
	if got := storedChecksums(t, ctx, cl, "mpsums", "copy"); got["SHA256"] != base64.StdEncoding.EncodeToString(all[:]) || got["type"] != "FULL_OBJECT" {
		t.Fatalf("copy of a composite: %v", got)
	}
	if _, err := cl.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("copy2"), CopySource: aws.String("mpsums/copy"),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c}); err != nil {
		t.Fatal(err)
	}
	if got := storedChecksums(t, ctx, cl, "mpsums", "copy2"); got["CRC32C"] == "" {
		t.Fatalf("copy asking for crc32c: %v", got)
	}
	runBoto3(t, c, "mpsums", "checksums")
}

// TestMultipartFullObjectChecksums: with x-amz-checksum-type FULL_OBJECT (and by default
// for crc64nvme) the object's checksum is the CRC of all its bytes, combined from the
// parts', which the SDK then validates on a whole GET; SHA checksums cannot be FULL_OBJECT.
func TestMultipartFullObjectChecksums(t *testing.T) {
	c, cl, ctx := withBucket(t, "fullsums")
	b := aws.String("fullsums")
	strict := s3.New(s3.Options{Region: c.Region, BaseEndpoint: aws.String(c.Endpoint), UsePathStyle: true,
		Credentials: cl.Options().Credentials, RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported})
	parts := [][]byte{payload(5<<20+3, 1), payload(5<<20, 2), payload(777, 3)}
	all := bytes.Join(parts, nil)
	for _, tc := range []struct {
		alg  types.ChecksumAlgorithm
		typ  types.ChecksumType
		want string
	}{
		{types.ChecksumAlgorithmCrc32, types.ChecksumTypeFullObject, b64Sum(crc32.NewIEEE(), all)},
		{types.ChecksumAlgorithmCrc32c, types.ChecksumTypeFullObject, b64Sum(crc32.New(crc32.MakeTable(crc32.Castagnoli)), all)},
		{types.ChecksumAlgorithmCrc64nvme, "", b64Sum(crc64.New(crc64.MakeTable(0x9A6C9329AC4BC9B5)), all)},
	} {
		key := aws.String("full-" + string(tc.alg))
		up, err := strict.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: key, ChecksumAlgorithm: tc.alg, ChecksumType: tc.typ})
		if err != nil || up.ChecksumType != types.ChecksumTypeFullObject {
			t.Fatalf("%s: create %+v %v", tc.alg, up, err)
		}
		var done []types.CompletedPart
		for i, p := range parts {
			n := aws.Int32(int32(i + 1))
			out, err := strict.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: key, UploadId: up.UploadId, PartNumber: n,
				Body: bytes.NewReader(p), ChecksumAlgorithm: tc.alg})
			if err != nil {
				t.Fatal(err)
			}
			done = append(done, types.CompletedPart{PartNumber: n, ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32,
				ChecksumCRC32C: out.ChecksumCRC32C, ChecksumCRC64NVME: out.ChecksumCRC64NVME})
		}
		fin, err := strict.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: key, UploadId: up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
		got := aws.ToString(fin.ChecksumCRC32) + aws.ToString(fin.ChecksumCRC32C) + aws.ToString(fin.ChecksumCRC64NVME)
		if err != nil || got != tc.want || fin.ChecksumType != types.ChecksumTypeFullObject {
			t.Fatalf("%s: complete %+v %v, want %s", tc.alg, fin, err, tc.want)
		}
		get, err := strict.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: key, ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(get.Body)
		get.Body.Close()
		if err != nil || !bytes.Equal(data, all) {
			t.Fatalf("%s: validated GET: %d bytes, %v", tc.alg, len(data), err)
		}
	}
	// A completion whose full-object checksum header is wrong completes nothing.
	up, err := strict.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("wrong"),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32, ChecksumType: types.ChecksumTypeFullObject})
	if err != nil {
		t.Fatal(err)
	}
	out, err := strict.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("wrong"), UploadId: up.UploadId, PartNumber: aws.Int32(1),
		Body: strings.NewReader("only part"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := strict.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("wrong"), UploadId: up.UploadId,
		ChecksumCRC32: aws.String(b64Sum(crc32.NewIEEE(), []byte("not it"))), ChecksumType: types.ChecksumTypeFullObject,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: out.ETag}}}}); code(err) != "BadDigest" {
		t.Fatalf("a wrong full-object checksum: %v", err)
	}
	if _, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("wrong")}); code(err) != "NotFound" {
		t.Fatalf("a refused completion stored the object: %v", err)
	}
	if _, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("sha"),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256, ChecksumType: types.ChecksumTypeFullObject}); code(err) != "InvalidRequest" {
		t.Fatalf("FULL_OBJECT sha256: %v", err)
	}
}
