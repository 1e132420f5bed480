package s3api_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestListEncodingURL: with encoding-type=url, every listing encodes keys, prefixes,
// delimiters and markers as S3 does (form encoding that keeps "/" and "*"), which the Go
// SDK hands over as they came and a form decoder maps back; boto3 decodes them itself.
func TestListEncodingURL(t *testing.T) {
	c, cl, ctx := withBucket(t, "encoded")
	b := aws.String("encoded")
	if _, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	keys := []string{"a b/c~d", "a b/x", "e+f*g", "t(1)&ü"}
	for _, k := range keys {
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{"a b/c~d": "a+b/c%7Ed", "a b/x": "a+b/x", "e+f*g": "e%2Bf*g", "t(1)&ü": "t%281%29%26%C3%BC"}
	for raw, enc := range want {
		if back, err := url.QueryUnescape(enc); err != nil || back != raw {
			t.Fatalf("%q does not decode back to %q: %q %v", enc, raw, back, err)
		}
	}
	url := types.EncodingTypeUrl

	v2, err := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b, EncodingType: url, StartAfter: aws.String("a b/c~d")})
	if err != nil || len(v2.Contents) != 3 || *v2.Contents[0].Key != want["a b/x"] || *v2.Contents[1].Key != want["e+f*g"] ||
		*v2.Contents[2].Key != want["t(1)&ü"] || aws.ToString(v2.StartAfter) != want["a b/c~d"] || v2.EncodingType != url {
		t.Fatalf("v2: %+v %v", v2, err)
	}
	v2d, err := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b, EncodingType: url, Delimiter: aws.String(" "), Prefix: aws.String("a")})
	if err != nil || len(v2d.CommonPrefixes) != 1 || *v2d.CommonPrefixes[0].Prefix != "a+" || aws.ToString(v2d.Delimiter) != "+" {
		t.Fatalf("v2 delimiter: %+v %v", v2d, err)
	}
	v1, err := cl.ListObjects(ctx, &s3.ListObjectsInput{Bucket: b, EncodingType: url, Delimiter: aws.String("~"),
		Marker: aws.String("a b/"), MaxKeys: aws.Int32(1)})
	if err != nil || len(v1.CommonPrefixes) != 1 || *v1.CommonPrefixes[0].Prefix != "a+b/c%7E" ||
		aws.ToString(v1.Marker) != "a+b/" || aws.ToString(v1.NextMarker) != "a+b/c%7E" || aws.ToString(v1.Delimiter) != "%7E" {
		t.Fatalf("v1: %+v %v", v1, err)
	}
	vers, err := cl.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b, EncodingType: url, Prefix: aws.String("e+"),
		KeyMarker: aws.String("a b/x")})
	if err != nil || len(vers.Versions) != 1 || *vers.Versions[0].Key != want["e+f*g"] || aws.ToString(vers.Prefix) != "e%2B" ||
		aws.ToString(vers.KeyMarker) != want["a b/x"] || vers.EncodingType != url {
		t.Fatalf("versions: %+v %v", vers, err)
	}
	for _, k := range []string{"u p/1", "u p/2"} {
		if _, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
	}
	ups, err := cl.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: b, EncodingType: url, Prefix: aws.String("u "),
		MaxUploads: aws.Int32(1)})
	if err != nil || len(ups.Uploads) != 1 || *ups.Uploads[0].Key != "u+p/1" || aws.ToString(ups.Prefix) != "u+" ||
		aws.ToString(ups.NextKeyMarker) != "u+p/1" || ups.EncodingType != url {
		t.Fatalf("uploads: %+v %v", ups, err)
	}
	// Without encoding-type the names come as they are.
	plain, err := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b, Prefix: aws.String("t")})
	if err != nil || len(plain.Contents) != 1 || *plain.Contents[0].Key != "t(1)&ü" || plain.EncodingType != "" {
		t.Fatalf("plain: %+v %v", plain, err)
	}
	if _, err := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b, EncodingType: "base64"}); code(err) != "InvalidArgument" {
		t.Fatalf("an unknown encoding: %v", err)
	}
	runBoto3(t, c, "encoded", "listencoding")
}

// TestListUploadsDelimiter: ListMultipartUploads rolls keys up to the delimiter into
// common prefixes, which count against max-uploads and page like keys.
func TestListUploadsDelimiter(t *testing.T) {
	_, cl, ctx := withBucket(t, "updelim")
	b := aws.String("updelim")
	for _, k := range []string{"dir/a", "dir/b", "dir/sub/c", "top", "x y/1"} {
		if _, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
	}
	var uploads, prefixes []string
	keyMarker, idMarker := "", ""
	for pages := 0; pages < 10; pages++ {
		out, err := cl.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: b, Delimiter: aws.String("/"), MaxUploads: aws.Int32(2),
			KeyMarker: aws.String(keyMarker), UploadIdMarker: aws.String(idMarker), EncodingType: types.EncodingTypeUrl})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Uploads)+len(out.CommonPrefixes) > 2 || aws.ToString(out.Delimiter) != "/" {
			t.Fatalf("page: %+v", out)
		}
		for _, u := range out.Uploads {
			uploads = append(uploads, *u.Key)
		}
		for _, p := range out.CommonPrefixes {
			prefixes = append(prefixes, *p.Prefix)
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		keyMarker, idMarker = aws.ToString(out.NextKeyMarker), aws.ToString(out.NextUploadIdMarker)
	}
	if strings.Join(uploads, ",") != "top" || strings.Join(prefixes, ",") != "dir/,x+y/" {
		t.Fatalf("uploads %v, prefixes %v", uploads, prefixes)
	}
	sub, err := cl.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: b, Delimiter: aws.String("/"), Prefix: aws.String("dir/")})
	if err != nil || len(sub.Uploads) != 2 || len(sub.CommonPrefixes) != 1 || *sub.CommonPrefixes[0].Prefix != "dir/sub/" {
		t.Fatalf("under dir/: %+v %v", sub, err)
	}
}
