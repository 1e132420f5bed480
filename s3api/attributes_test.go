package s3api_test

import (
	"bufio"
	"crypto/md5"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"stratus/internal/testcluster"
)

// TestGetObjectAttributes: the attributes asked for, parts paged with max-parts and
// part-number-marker; refusals for a missing or unknown attribute, another account's
// bucket and a deleted key.
func TestGetObjectAttributes(t *testing.T) {
	c, cl, ctx := withBucket(t, "attrs")
	b := aws.String("attrs")
	all := uploadParts(t, ctx, cl, "attrs", "mp", payload(5<<20, 1), payload(5<<20, 2), payload(10, 3))
	every := []types.ObjectAttributes{types.ObjectAttributesEtag, types.ObjectAttributesObjectParts,
		types.ObjectAttributesStorageClass, types.ObjectAttributesObjectSize, types.ObjectAttributesChecksum}
	head, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("mp")})
	if err != nil {
		t.Fatal(err)
	}
	out, err := cl.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: b, Key: aws.String("mp"), ObjectAttributes: every,
		MaxParts: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	op := out.ObjectParts
	if "\""+aws.ToString(out.ETag)+"\"" != aws.ToString(head.ETag) || aws.ToInt64(out.ObjectSize) != int64(len(all)) ||
		out.StorageClass != types.StorageClassStandard || op == nil || aws.ToInt32(op.TotalPartsCount) != 3 ||
		!aws.ToBool(op.IsTruncated) || len(op.Parts) != 2 || aws.ToString(op.NextPartNumberMarker) != "2" ||
		aws.ToInt64(op.Parts[1].Size) != 5<<20 || out.LastModified == nil {
		t.Fatalf("attributes: %+v parts %+v", out, op)
	}
	rest, err := cl.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: b, Key: aws.String("mp"),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectParts}, PartNumberMarker: op.NextPartNumberMarker})
	if err != nil || rest.ObjectParts == nil || len(rest.ObjectParts.Parts) != 1 || aws.ToInt32(rest.ObjectParts.Parts[0].PartNumber) != 3 ||
		aws.ToInt64(rest.ObjectParts.Parts[0].Size) != 10 || aws.ToBool(rest.ObjectParts.IsTruncated) || rest.ETag != nil || rest.ObjectSize != nil {
		t.Fatalf("second page: %+v %v", rest, err)
	}

	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("one"), Body: strings.NewReader("abc")}); err != nil {
		t.Fatal(err)
	}
	one, err := cl.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: b, Key: aws.String("one"), ObjectAttributes: every})
	sum := md5.Sum([]byte("abc"))
	if err != nil || aws.ToString(one.ETag) != hex.EncodeToString(sum[:]) || one.ObjectParts != nil || aws.ToInt64(one.ObjectSize) != 3 {
		t.Fatalf("a simple object: %+v %v", one, err)
	}

	st, body := status(t, signed(t, c, http.MethodGet, "/attrs/one?attributes", "", time.Now()))
	if st != http.StatusBadRequest || !strings.Contains(body, "InvalidArgument") {
		t.Fatalf("no x-amz-object-attributes: %d %s", st, body)
	}
	if _, err := cl.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: b, Key: aws.String("one"),
		ObjectAttributes: []types.ObjectAttributes{"Colour"}}); code(err) != "InvalidArgument" {
		t.Fatalf("an unknown attribute: %v", err)
	}
	if _, err := cl.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: b, Key: aws.String("none"), ObjectAttributes: every}); code(err) != "NoSuchKey" {
		t.Fatalf("a missing key: %v", err)
	}
	if _, err := accountClient(c, c.AddAccount(t, "other")).GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: b, Key: aws.String("one"), ObjectAttributes: every}); code(err) != "AccessDenied" {
		t.Fatalf("another account: %v", err)
	}
}

// TestDeleteMarkerHeaders: x-amz-delete-marker where S3 sends it: on the DELETE that adds a
// marker, on a GET or HEAD of a key whose current version is one (404), and on a GET of
// the marker's version ID (405 MethodNotAllowed, with its Last-Modified).
func TestDeleteMarkerHeaders(t *testing.T) {
	c, cl, ctx := withBucket(t, "dmark")
	b := aws.String("dmark")
	if _, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	del, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("k")})
	if err != nil || !aws.ToBool(del.DeleteMarker) || aws.ToString(del.VersionId) == "" {
		t.Fatalf("delete: %+v %v", del, err)
	}
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		head := rawResponse(t, c, m, "/dmark/k")
		if !strings.HasPrefix(head, "HTTP/1.1 404") || !strings.Contains(head, "\r\nx-amz-delete-marker: true\r\n") {
			t.Fatalf("%s of a deleted key:\n%s", m, head)
		}
		head = rawResponse(t, c, m, "/dmark/k?versionId="+url.QueryEscape(*del.VersionId))
		if !strings.HasPrefix(head, "HTTP/1.1 405") || !strings.Contains(head, "\r\nx-amz-delete-marker: true\r\n") ||
			!strings.Contains(head, "\r\nlast-modified: ") {
			t.Fatalf("%s of the marker's version:\n%s", m, head)
		}
	}
}

// rawResponse sends a signed request with no body and returns the response head as it
// came over the wire, header names lower-cased.
func rawResponse(t *testing.T, c *testcluster.S3, method, path string) string {
	t.Helper()
	req := signed(t, c, method, path, "", time.Now())
	u, err := url.Parse(c.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	var head strings.Builder
	br := bufio.NewReader(conn)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the response head: %v (so far %q)", err, head.String())
		}
		if line == "\r\n" {
			return head.String()
		}
		if name, value, ok := strings.Cut(line, ":"); ok && head.Len() > 0 {
			line = strings.ToLower(name) + ":" + value
		}
		head.WriteString(line)
	}
}
