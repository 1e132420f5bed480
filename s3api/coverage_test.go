package s3api_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestSDKListingAndHeaders covers the rest of the surface through the SDK: ListObjects v1
// with markers, start-after, encoding-type=url, GetBucketLocation, response-* overrides and
// the date conditionals.
func TestSDKListingAndHeaders(t *testing.T) {
	_, cl, ctx := withBucket(t, "surface")
	b := aws.String("surface")
	loc, err := cl.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: b})
	if err != nil || loc.LocationConstraint != "" {
		t.Fatalf("location: %+v %v", loc, err)
	}
	keys := []string{"a", "b/1", "b/2", "c d", "e+f", "ü"}
	for _, k := range keys {
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(err)
		}
	}
	// v1 paging with markers, two at a time.
	var got []string
	marker := ""
	for pages := 0; pages < 10; pages++ {
		out, err := cl.ListObjects(ctx, &s3.ListObjectsInput{Bucket: b, MaxKeys: aws.Int32(2), Marker: aws.String(marker)})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			got = append(got, *o.Key)
			marker = *o.Key
		}
		if !*out.IsTruncated {
			break
		}
	}
	if strings.Join(got, ",") != strings.Join(keys, ",") {
		t.Fatalf("v1 listing: %v", got)
	}
	v1, err := cl.ListObjects(ctx, &s3.ListObjectsInput{Bucket: b, Delimiter: aws.String("/")})
	if err != nil || len(v1.CommonPrefixes) != 1 || *v1.CommonPrefixes[0].Prefix != "b/" || len(v1.Contents) != 4 {
		t.Fatalf("v1 delimiter: %+v %v", v1, err)
	}
	after, err := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b, StartAfter: aws.String("b/2")})
	if err != nil || len(after.Contents) != 3 || *after.Contents[0].Key != "c d" {
		t.Fatalf("start-after: %+v %v", after, err)
	}
	enc, err := cl.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b, EncodingType: types.EncodingTypeUrl, Prefix: aws.String("c")})
	if err != nil || len(enc.Contents) != 1 || *enc.Contents[0].Key != "c+d" { // this SDK leaves it encoded, as S3 sends it
		t.Fatalf("encoding-type=url: %+v %v", enc, err)
	}
	// response-* overrides.
	out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("a"), ResponseContentType: aws.String("text/x-override"),
		ResponseContentDisposition: aws.String(`attachment; filename="a.txt"`), ResponseCacheControl: aws.String("no-cache")})
	if err != nil {
		t.Fatal(err)
	}
	out.Body.Close()
	if *out.ContentType != "text/x-override" || *out.ContentDisposition != `attachment; filename="a.txt"` || *out.CacheControl != "no-cache" {
		t.Fatalf("overrides: %s / %s / %s", *out.ContentType, *out.ContentDisposition, *out.CacheControl)
	}
	// Date conditionals.
	future, past := time.Now().Add(time.Hour), time.Now().Add(-time.Hour)
	_, err = cl.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("a"), IfModifiedSince: aws.Time(future)})
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusNotModified {
		t.Fatalf("if-modified-since the future: %v", err)
	}
	if out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("a"), IfModifiedSince: aws.Time(past)}); err != nil {
		t.Fatalf("if-modified-since the past: %v", err)
	} else {
		out.Body.Close()
	}
	if _, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("a"), IfUnmodifiedSince: aws.Time(past)}); code(err) != "PreconditionFailed" {
		t.Fatalf("if-unmodified-since the past: %v", err)
	}
}
