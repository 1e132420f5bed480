package s3api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"stratus/internal/hlc"
	"stratus/internal/testcluster"
)

// tagString renders a tag set as "k=v,k=v" for comparisons.
func tagString(tags []types.Tag) string {
	var parts []string
	for _, t := range tags {
		parts = append(parts, aws.ToString(t.Key)+"="+aws.ToString(t.Value))
	}
	return strings.Join(parts, ",")
}

func tagSet(kv ...string) *types.Tagging {
	tg := &types.Tagging{TagSet: []types.Tag{}}
	for i := 0; i+1 < len(kv); i += 2 {
		tg.TagSet = append(tg.TagSet, types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return tg
}

// objectTags reads an object's (or a version's) tags through the API.
func objectTags(t *testing.T, ctx context.Context, cl *s3.Client, bucket, key, version string) string {
	t.Helper()
	in := &s3.GetObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if version != "" {
		in.VersionId = aws.String(version)
	}
	out, err := cl.GetObjectTagging(ctx, in)
	if err != nil {
		t.Fatalf("GetObjectTagging %s %s: %v", key, version, err)
	}
	return tagString(out.TagSet)
}

// indexTags reads the tags stored in the index entry of a version (0: the current one).
func indexTags(t *testing.T, ctx context.Context, c *testcluster.S3, bucket, key string, version uint64) string {
	t.Helper()
	idx := c.Meta.Index(bucket)
	e, err := idx.GetObject(ctx, bucket, key)
	if version != 0 {
		e, err = idx.GetObjectVersion(ctx, bucket, key, version)
	}
	if err != nil {
		t.Fatalf("index %s/%s %d: %v", bucket, key, version, err)
	}
	var parts []string
	for _, tg := range e.Tags {
		parts = append(parts, tg.Key+"="+tg.Value)
	}
	return strings.Join(parts, ",")
}

func TestObjectTaggingRoundTripAndLimits(t *testing.T) {
	c, cl, ctx := withBucket(t, "tags")
	b := aws.String("tags")
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("a"), Body: strings.NewReader("x"),
		Tagging: aws.String("project=alpha&team=blue+green&empty")}); err != nil {
		t.Fatal(err)
	}
	if got := objectTags(t, ctx, cl, "tags", "a", ""); got != "project=alpha,team=blue green,empty=" {
		t.Fatalf("tags from x-amz-tagging: %q", got)
	}
	head, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("a")})
	if err != nil || aws.ToInt32(head.TagCount) != 3 {
		t.Fatalf("HEAD tag count: %v %v", head, err)
	}
	etag := aws.ToString(head.ETag)

	// Replace the set: the object itself is unchanged.
	long := tagSet(strings.Repeat("k", 128), strings.Repeat("é", 256), "a b_c.d:e/f=g+h-i@j", "ünï 中文", "n", "")
	if _, err := cl.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: b, Key: aws.String("a"), Tagging: long}); err != nil {
		t.Fatal(err)
	}
	want := tagString(long.TagSet)
	if got := objectTags(t, ctx, cl, "tags", "a", ""); got != want {
		t.Fatalf("tags after put: %q, want %q", got, want)
	}
	get, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("a")})
	if err != nil {
		t.Fatal(err)
	}
	get.Body.Close()
	if aws.ToInt32(get.TagCount) != 3 || aws.ToString(get.ETag) != etag {
		t.Fatalf("GET after retag: count %d etag %s (was %s)", aws.ToInt32(get.TagCount), aws.ToString(get.ETag), etag)
	}

	eleven := tagSet()
	for i := range 11 {
		eleven.TagSet = append(eleven.TagSet, types.Tag{Key: aws.String(fmt.Sprint("k", i)), Value: aws.String("v")})
	}
	for name, tc := range map[string]struct {
		tags *types.Tagging
		code string
	}{
		"11 tags":      {eleven, "BadRequest"},
		"129-char key": {tagSet(strings.Repeat("k", 129), "v"), "InvalidTag"},
		"257-char val": {tagSet("k", strings.Repeat("v", 257)), "InvalidTag"},
		"65 emoji key": {tagSet(strings.Repeat("😀", 65), "v"), "InvalidTag"}, // 130 UTF-16 units
		"aws: prefix":  {tagSet("aws:owner", "me"), "InvalidTag"},
		"AWS: prefix":  {tagSet("AWS:owner", "me"), "InvalidTag"},
		"duplicate":    {tagSet("k", "1", "k", "2"), "InvalidTag"},
		"empty key":    {tagSet("", "v"), "InvalidTag"},
		"bad char key": {tagSet("a<b", "v"), "InvalidTag"},
		"bad char val": {tagSet("k", "a;b"), "InvalidTag"},
	} {
		_, err := cl.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: b, Key: aws.String("a"), Tagging: tc.tags})
		if code(err) != tc.code {
			t.Errorf("%s: %v, want %s", name, err, tc.code)
		}
		if got := indexTags(t, ctx, c, "tags", "a", 0); got != want {
			t.Fatalf("%s changed the stored tags: %q", name, got)
		}
	}

	// A PutObject with bad tags stores nothing.
	_, err = cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("refused"), Body: strings.NewReader("x"),
		Tagging: aws.String("aws:x=1")})
	if code(err) != "InvalidTag" {
		t.Fatalf("PutObject with an aws: tag: %v", err)
	}
	_, err = cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("refused"), Body: strings.NewReader("x"),
		Tagging: aws.String("a=1&a=2")})
	if code(err) != "InvalidArgument" {
		t.Fatalf("PutObject with a duplicate header tag: %v", err)
	}
	if _, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("refused")}); code(err) != "NotFound" {
		t.Fatalf("refused PutObject stored an object: %v", err)
	}

	// Another account may neither read nor change them.
	other := c.AddAccount(t, "other")
	ocl := sdkClient(&testcluster.S3{Endpoint: c.Endpoint, Region: c.Region, AccessKey: other.AccessKey}, other.SecretKey)
	if _, err := ocl.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: b, Key: aws.String("a")}); code(err) != "AccessDenied" {
		t.Errorf("other account's GetObjectTagging: %v", err)
	}
	if _, err := ocl.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: b, Key: aws.String("a"), Tagging: tagSet("x", "y")}); code(err) != "AccessDenied" {
		t.Errorf("other account's PutObjectTagging: %v", err)
	}
	if _, err := ocl.DeleteObjectTagging(ctx, &s3.DeleteObjectTaggingInput{Bucket: b, Key: aws.String("a")}); code(err) != "AccessDenied" {
		t.Errorf("other account's DeleteObjectTagging: %v", err)
	}
	// Nor may an anonymous caller.
	for _, method := range []string{"GET", "PUT", "DELETE"} {
		req, err := http.NewRequest(method, c.Endpoint+"/tags/a?tagging",
			strings.NewReader("<Tagging><TagSet><Tag><Key>x</Key><Value>y</Value></Tag></TagSet></Tagging>"))
		if err != nil {
			t.Fatal(err)
		}
		if resp, body := do(t, req); resp.StatusCode != 403 || !strings.Contains(body, "<Code>AccessDenied</Code>") {
			t.Errorf("anonymous %s ?tagging: %d %s", method, resp.StatusCode, body)
		}
	}
	if got := indexTags(t, ctx, c, "tags", "a", 0); got != want {
		t.Fatalf("another account changed the tags: %q", got)
	}

	// Malformed bodies.
	for _, doc := range []string{"<Tagging>", "<Tagging></Tagging>", "<Other><TagSet/></Other>",
		"<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>"} {
		resp, body := do(t, signed(t, c, "PUT", "/tags/a?tagging", doc, time.Now()))
		if resp.StatusCode != 400 || !strings.Contains(body, "<Code>MalformedXML</Code>") {
			t.Errorf("body %q: %d %s", doc, resp.StatusCode, body)
		}
	}

	if _, err := cl.DeleteObjectTagging(ctx, &s3.DeleteObjectTaggingInput{Bucket: b, Key: aws.String("a")}); err != nil {
		t.Fatal(err)
	}
	if got := objectTags(t, ctx, cl, "tags", "a", ""); got != "" {
		t.Fatalf("tags after delete: %q", got)
	}
	head, err = cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("a")})
	if err != nil || head.TagCount != nil {
		t.Fatalf("HEAD after delete: %v %v", head.TagCount, err)
	}
	if _, err := cl.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: b, Key: aws.String("missing")}); code(err) != "NoSuchKey" {
		t.Fatalf("tags of a missing key: %v", err)
	}
}

func TestObjectTaggingCopyAndMultipart(t *testing.T) {
	_, cl, ctx := withBucket(t, "tagcopy")
	b := aws.String("tagcopy")
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("src"), Body: strings.NewReader("x"),
		Tagging: aws.String("a=1")}); err != nil {
		t.Fatal(err)
	}
	copyTo := func(key string, directive types.TaggingDirective, tagging string) error {
		in := &s3.CopyObjectInput{Bucket: b, Key: aws.String(key), CopySource: aws.String("tagcopy/src"), TaggingDirective: directive}
		if tagging != "" {
			in.Tagging = aws.String(tagging)
		}
		_, err := cl.CopyObject(ctx, in)
		return err
	}
	if err := copyTo("copied", "", ""); err != nil {
		t.Fatal(err)
	}
	if err := copyTo("replaced", types.TaggingDirectiveReplace, "b=2&c=3"); err != nil {
		t.Fatal(err)
	}
	if err := copyTo("cleared", types.TaggingDirectiveReplace, ""); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"copied": "a=1", "replaced": "b=2,c=3", "cleared": ""} {
		if got := objectTags(t, ctx, cl, "tagcopy", key, ""); got != want {
			t.Errorf("%s: tags %q, want %q", key, got, want)
		}
	}
	if err := copyTo("bad", "MERGE", ""); code(err) != "InvalidArgument" {
		t.Errorf("unknown tagging directive: %v", err)
	}
	if err := copyTo("bad", types.TaggingDirectiveReplace, "aws:x=1"); code(err) != "InvalidTag" {
		t.Errorf("copy with an aws: tag: %v", err)
	}
	if _, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("bad")}); code(err) != "NotFound" {
		t.Errorf("refused copies stored an object: %v", err)
	}

	// Multipart: the tags given at creation are the completed object's.
	if _, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("mp"),
		Tagging: aws.String(strings.Repeat("k", 129) + "=v")}); code(err) != "InvalidTag" {
		t.Errorf("CreateMultipartUpload with a 129-char key: %v", err)
	}
	up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("mp"),
		Tagging: aws.String("m=1&n=two")})
	if err != nil {
		t.Fatal(err)
	}
	part, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("mp"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: strings.NewReader("part")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("mp"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}}); err != nil {
		t.Fatal(err)
	}
	if got := objectTags(t, ctx, cl, "tagcopy", "mp", ""); got != "m=1,n=two" {
		t.Fatalf("multipart tags: %q", got)
	}
	head, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("mp")})
	if err != nil || aws.ToInt32(head.TagCount) != 2 {
		t.Fatalf("multipart HEAD tag count: %v %v", head, err)
	}
}

func TestObjectTaggingVersioned(t *testing.T) {
	c, cl, ctx := withBucket(t, "tagver")
	b, k := aws.String("tagver"), aws.String("doc")
	if _, err := cl.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := 1; i <= 2; i++ {
		out, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: k, Body: strings.NewReader("v"), Tagging: aws.String(fmt.Sprint("v=", i))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, aws.ToString(out.VersionId))
	}
	out, err := cl.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: b, Key: k, VersionId: aws.String(ids[0]), Tagging: tagSet("old", "yes")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.VersionId) != ids[0] {
		t.Errorf("PutObjectTagging answered version %q, want %q", aws.ToString(out.VersionId), ids[0])
	}
	v0, err := hlc.Parse(ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := indexTags(t, ctx, c, "tagver", "doc", uint64(v0)); got != "old=yes" {
		t.Fatalf("stored tags of the old version: %q", got)
	}
	if got := objectTags(t, ctx, cl, "tagver", "doc", ids[0]); got != "old=yes" {
		t.Fatalf("old version's tags: %q", got)
	}
	if got := objectTags(t, ctx, cl, "tagver", "doc", ""); got != "v=2" {
		t.Fatalf("current version's tags: %q", got)
	}
	if got := indexTags(t, ctx, c, "tagver", "doc", 0); got != "v=2" {
		t.Fatalf("stored tags of the current version: %q", got)
	}
	// Retagging makes no new version.
	vs, err := cl.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: b})
	if err != nil || len(vs.Versions) != 2 {
		t.Fatalf("versions after retag: %d %v", len(vs.Versions), err)
	}

	del, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: k})
	if err != nil {
		t.Fatal(err)
	}
	marker := aws.ToString(del.VersionId)
	if _, err := cl.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: b, Key: k, VersionId: aws.String(marker), Tagging: tagSet("a", "b")}); code(err) != "MethodNotAllowed" {
		t.Errorf("tagging a delete marker: %v", err)
	}
	if _, err := cl.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: b, Key: k, VersionId: aws.String(marker)}); code(err) != "MethodNotAllowed" {
		t.Errorf("tags of a delete marker: %v", err)
	}
	if _, err := cl.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: b, Key: k, Tagging: tagSet("a", "b")}); code(err) != "NoSuchKey" {
		t.Errorf("tagging a deleted key: %v", err)
	}
	// The versions behind the marker keep their tags and can still be changed.
	if _, err := cl.DeleteObjectTagging(ctx, &s3.DeleteObjectTaggingInput{Bucket: b, Key: k, VersionId: aws.String(ids[1])}); err != nil {
		t.Fatal(err)
	}
	if got := objectTags(t, ctx, cl, "tagver", "doc", ids[1]); got != "" {
		t.Fatalf("tags after DeleteObjectTagging of a version: %q", got)
	}
	if got := objectTags(t, ctx, cl, "tagver", "doc", ids[0]); got != "old=yes" {
		t.Fatalf("the other version's tags changed: %q", got)
	}
	if _, err := cl.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: b, Key: k, VersionId: aws.String("0000000000000001")}); code(err) != "NoSuchVersion" {
		t.Errorf("tags of an unknown version: %v", err)
	}
}

func TestBucketTagging(t *testing.T) {
	c, cl, ctx := withBucket(t, "btags")
	b := aws.String("btags")
	if _, err := cl.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: b}); code(err) != "NoSuchTagSet" {
		t.Fatalf("tags of an untagged bucket: %v", err)
	}
	set := tagSet("cost-center", "42", "env", "prod")
	if _, err := cl.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: b, Tagging: set}); err != nil {
		t.Fatal(err)
	}
	stored := func() string {
		rec, _, err := c.Meta.Bucket(ctx, "btags")
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, tg := range rec.Tags {
			parts = append(parts, tg.Key+"="+tg.Value)
		}
		return strings.Join(parts, ",")
	}
	want := "cost-center=42,env=prod"
	out, err := cl.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: b})
	if err != nil || tagString(out.TagSet) != want || stored() != want {
		t.Fatalf("bucket tags: %v %v, stored %q", out, err, stored())
	}

	fifty, fiftyOne := tagSet(), tagSet()
	for i := range 51 {
		tg := types.Tag{Key: aws.String(fmt.Sprint("k", i)), Value: aws.String("v")}
		if i < 50 {
			fifty.TagSet = append(fifty.TagSet, tg)
		}
		fiftyOne.TagSet = append(fiftyOne.TagSet, tg)
	}
	for name, tags := range map[string]*types.Tagging{"51 tags": fiftyOne, "aws: prefix": tagSet("aws:x", "1"),
		"duplicate": tagSet("a", "1", "a", "1"), "129-char key": tagSet(strings.Repeat("k", 129), "")} {
		if _, err := cl.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: b, Tagging: tags}); code(err) != "InvalidTag" {
			t.Errorf("%s: %v", name, err)
		}
	}
	other := c.AddAccount(t, "other")
	ocl := sdkClient(&testcluster.S3{Endpoint: c.Endpoint, Region: c.Region, AccessKey: other.AccessKey}, other.SecretKey)
	if _, err := ocl.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: b, Tagging: tagSet("x", "y")}); code(err) != "AccessDenied" {
		t.Errorf("other account's PutBucketTagging: %v", err)
	}
	if _, err := ocl.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: b}); code(err) != "AccessDenied" {
		t.Errorf("other account's GetBucketTagging: %v", err)
	}
	if _, err := ocl.DeleteBucketTagging(ctx, &s3.DeleteBucketTaggingInput{Bucket: b}); code(err) != "AccessDenied" {
		t.Errorf("other account's DeleteBucketTagging: %v", err)
	}
	if got := stored(); got != want {
		t.Fatalf("refused requests changed the bucket's tags: %q", got)
	}
	if _, err := cl.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: b, Tagging: fifty}); err != nil {
		t.Fatalf("50 tags: %v", err)
	}
	if got := stored(); strings.Count(got, ",") != 49 {
		t.Fatalf("50 tags stored as %q", got)
	}
	if _, err := cl.DeleteBucketTagging(ctx, &s3.DeleteBucketTaggingInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: b}); code(err) != "NoSuchTagSet" || stored() != "" {
		t.Fatalf("after DeleteBucketTagging: %v, stored %q", err, stored())
	}
	// The bucket's other settings survive a tagging change.
	rec, _, err := c.Meta.Bucket(ctx, "btags")
	if err != nil || rec.Owner != c.Account {
		t.Fatalf("bucket record after tagging: %+v %v", rec, err)
	}
}

// A presigned PutObject may carry x-amz-tagging as a signed header (the Go SDK) or in its
// signed query string (presigners that hoist x-amz-* headers there); the tags apply either way.
func TestObjectTaggingPresigned(t *testing.T) {
	c, cl, ctx := withBucket(t, "tagpre")
	send := func(url string, h http.Header) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPut, url, strings.NewReader("body"))
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range h {
			if !strings.EqualFold(k, "Host") {
				req.Header[k] = vs
			}
		}
		if resp, body := do(t, req); resp.StatusCode != 200 {
			t.Fatalf("presigned PUT: %d %s", resp.StatusCode, body)
		}
	}
	ps, err := s3.NewPresignClient(cl).PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tagpre"),
		Key: aws.String("header"), Tagging: aws.String("via=header")})
	if err != nil {
		t.Fatal(err)
	}
	send(ps.URL, ps.SignedHeader)

	req, err := http.NewRequest(http.MethodPut, c.Endpoint+"/tagpre/query?X-Amz-Expires=300&x-amz-tagging="+url.QueryEscape("via=query&n=1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	creds := aws.Credentials{AccessKeyID: c.AccessKey, SecretAccessKey: c.SecretKey}
	u, h, err := v4.NewSigner().PresignHTTP(ctx, creds, req, "UNSIGNED-PAYLOAD", "s3", c.Region, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	send(u, h)
	for key, want := range map[string]string{"header": "via=header", "query": "via=query,n=1"} {
		if got := objectTags(t, ctx, cl, "tagpre", key, ""); got != want {
			t.Errorf("tags of a presigned PUT (%s): %q, want %q", key, got, want)
		}
	}
}

// A tagging body that does not match its Content-MD5 is refused, and nothing is stored.
func TestObjectTaggingBadDigest(t *testing.T) {
	c, cl, ctx := withBucket(t, "tagmd5")
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tagmd5"), Key: aws.String("k"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	doc := "<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>"
	req := signed(t, c, "PUT", "/tagmd5/k?tagging", doc, time.Now())
	req.Header.Set("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg==") // the MD5 of nothing
	if resp, body := do(t, req); resp.StatusCode != 400 || !strings.Contains(body, "<Code>BadDigest</Code>") {
		t.Fatalf("mismatched Content-MD5: %d %s", resp.StatusCode, body)
	}
	if got := indexTags(t, ctx, c, "tagmd5", "k", 0); got != "" {
		t.Fatalf("a refused body stored tags %q", got)
	}
	if resp, body := do(t, signed(t, c, "PUT", "/tagmd5/k?tagging", doc, time.Now())); resp.StatusCode != 200 {
		t.Fatalf("the same body without Content-MD5: %d %s", resp.StatusCode, body)
	}
	if got := indexTags(t, ctx, c, "tagmd5", "k", 0); got != "a=b" {
		t.Fatalf("stored tags %q", got)
	}
}
