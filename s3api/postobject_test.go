package s3api_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
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

// postSigner signs POST policies with one key.
type postSigner struct {
	c              *testcluster.S3
	access, secret string
}

func hmacSHA256(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// policy encodes a policy expiring in ttl with conditions, and returns it with the SigV4
// fields that sign it (the credential, algorithm and date conditions included).
func (s postSigner) policy(t *testing.T, ttl time.Duration, conditions ...any) map[string]string {
	t.Helper()
	now := time.Now().UTC()
	cred := s.access + "/" + now.Format("20060102") + "/" + s.c.Region + "/s3/aws4_request"
	date := now.Format("20060102T150405Z")
	conditions = append(conditions, map[string]string{"x-amz-credential": cred}, map[string]string{"x-amz-algorithm": "AWS4-HMAC-SHA256"},
		map[string]string{"x-amz-date": date})
	doc, err := json.Marshal(map[string]any{"expiration": now.Add(ttl).Format("2006-01-02T15:04:05.000Z"), "conditions": conditions})
	if err != nil {
		t.Fatal(err)
	}
	policy := base64.StdEncoding.EncodeToString(doc)
	key := hmacSHA256([]byte("AWS4"+s.secret), now.Format("20060102"))
	for _, part := range []string{s.c.Region, "s3", "aws4_request"} {
		key = hmacSHA256(key, part)
	}
	return map[string]string{"policy": policy, "x-amz-credential": cred, "x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-date": date,
		"x-amz-signature": hex.EncodeToString(hmacSHA256(key, policy))}
}

// formField is one field of a form, in order.
type formField struct{ name, value string }

// postForm posts fields then the file (named filename) to bucket, built by mime/multipart,
// and returns the response status, Location and body. after are fields placed after the file.
func postForm(t *testing.T, c *testcluster.S3, bucket string, fields []formField, filename string, file []byte, after ...formField) (int, string, string) {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for _, f := range fields {
		if err := w.WriteField(f.name, f.value); err != nil {
			t.Fatal(err)
		}
	}
	if file != nil {
		fw, err := w.CreateFormFile("file", filename)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(file)
	}
	for _, f := range after {
		w.WriteField(f.name, f.value)
	}
	w.Close()
	req, err := http.NewRequest(http.MethodPost, c.Endpoint+"/"+bucket, &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, resp.Header.Get("Location"), string(out)
}

// fieldsOf lists a signed policy's fields and the extra ones, in a stable order.
func fieldsOf(signed map[string]string, extra ...formField) []formField {
	var out []formField
	for _, n := range []string{"policy", "x-amz-credential", "x-amz-algorithm", "x-amz-date", "x-amz-signature"} {
		out = append(out, formField{n, signed[n]})
	}
	return append(extra, out...)
}

// TestPostObject: browser form uploads, signed with SigV4 or SigV2 policies: stored with
// their metadata and answered as success_action_* ask; every refusal (expired policy,
// failed condition, extra field, size range, missing field, bad signature, another
// account, anonymous, a malformed form) stores nothing.
func TestPostObject(t *testing.T) {
	c, cl, ctx := withBucket(t, "forms")
	owner := postSigner{c, c.AccessKey, c.SecretKey}
	stored := func(key string) []byte {
		t.Helper()
		out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("forms"), Key: aws.String(key)})
		if err != nil {
			return nil
		}
		defer out.Body.Close()
		data, _ := io.ReadAll(out.Body)
		return data
	}
	conds := func(extra ...any) []any {
		return append([]any{map[string]string{"bucket": "forms"}, []any{"starts-with", "$key", "up/"},
			[]any{"content-length-range", 1, 4 << 20}}, extra...)
	}

	// Accepted: the key's ${filename}, Content-Type and metadata, 204 by default.
	file := payload(3<<20+11, 1)
	signed := owner.policy(t, time.Hour, conds(map[string]string{"Content-Type": "image/png"}, []any{"starts-with", "$x-amz-meta-color", ""})...)
	st, _, body := postForm(t, c, "forms", fieldsOf(signed, formField{"key", "up/${filename}"}, formField{"Content-Type", "image/png"},
		formField{"x-amz-meta-color", "blue"}), "photo.png", file)
	if st != http.StatusNoContent {
		t.Fatalf("post: %d %s", st, body)
	}
	head, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("forms"), Key: aws.String("up/photo.png")})
	if err != nil || aws.ToString(head.ContentType) != "image/png" || head.Metadata["color"] != "blue" {
		t.Fatalf("stored: %+v %v", head, err)
	}
	if !bytes.Equal(stored("up/photo.png"), file) {
		t.Fatal("stored bytes differ")
	}

	// success_action_status 201: the PostResponse document; 200: empty.
	signed = owner.policy(t, time.Hour, conds(map[string]string{"success_action_status": "201"})...)
	st, loc, body := postForm(t, c, "forms", fieldsOf(signed, formField{"key", "up/201"}, formField{"success_action_status", "201"}), "x", []byte("created"))
	sum := md5.Sum([]byte("created"))
	if st != http.StatusCreated || !strings.Contains(body, "<Key>up/201</Key>") || !strings.Contains(body, "<Bucket>forms</Bucket>") ||
		!strings.Contains(body, "<ETag>&#34;"+hex.EncodeToString(sum[:])+"&#34;</ETag>") || !strings.HasSuffix(loc, "/forms/up/201") {
		t.Fatalf("201: %d %s %s", st, loc, body)
	}
	signed = owner.policy(t, time.Hour, conds(map[string]string{"success_action_status": "200"})...)
	if st, _, body := postForm(t, c, "forms", fieldsOf(signed, formField{"key", "up/200"}, formField{"success_action_status", "200"}), "x", []byte("ok")); st != http.StatusOK || body != "" {
		t.Fatalf("200: %d %s", st, body)
	}
	// success_action_redirect: 303 to it, with bucket, key and ETag.
	signed = owner.policy(t, time.Hour, conds([]any{"starts-with", "$success_action_redirect", "https://example.com/"})...)
	st, loc, _ = postForm(t, c, "forms", fieldsOf(signed, formField{"key", "up/r"}, formField{"success_action_redirect", "https://example.com/done?x=1"}), "x", []byte("redirected"))
	u, _ := url.Parse(loc)
	if st != http.StatusSeeOther || u == nil || u.Host != "example.com" || u.Query().Get("key") != "up/r" || u.Query().Get("bucket") != "forms" ||
		u.Query().Get("x") != "1" || !strings.HasPrefix(u.Query().Get("etag"), `"`) {
		t.Fatalf("redirect: %d %s", st, loc)
	}

	// Refusals, each leaving its key unstored.
	refused := func(name, key string, wantStatus int, wantCode, wantText string, fields []formField, file []byte, after ...formField) {
		t.Helper()
		st, _, body := postForm(t, c, "forms", fields, "f", file, after...)
		if st != wantStatus || !strings.Contains(body, "<Code>"+wantCode+"</Code>") || !strings.Contains(body, wantText) {
			t.Fatalf("%s: %d %s", name, st, body)
		}
		if key != "" && stored(key) != nil {
			t.Fatalf("%s: %s was stored", name, key)
		}
	}
	refused("expired", "up/expired", 403, "AccessDenied", "Policy expired",
		fieldsOf(owner.policy(t, -time.Minute, conds()...), formField{"key", "up/expired"}), []byte("x"))
	refused("condition", "elsewhere", 403, "AccessDenied", "Invalid according to Policy: Policy Condition failed",
		fieldsOf(owner.policy(t, time.Hour, conds()...), formField{"key", "elsewhere"}), []byte("x"))
	refused("extra field", "up/extra", 403, "AccessDenied", "Extra input fields: x-amz-meta-size",
		fieldsOf(owner.policy(t, time.Hour, conds()...), formField{"key", "up/extra"}, formField{"x-amz-meta-size", "1"}), []byte("x"))
	refused("too large", "up/large", 400, "EntityTooLarge", "",
		fieldsOf(owner.policy(t, time.Hour, conds()...), formField{"key", "up/large"}), payload(4<<20+1, 2))
	refused("too small", "up/small", 400, "EntityTooSmall", "",
		fieldsOf(owner.policy(t, time.Hour, conds()...), formField{"key", "up/small"}), []byte{})
	refused("no key", "", 400, "InvalidArgument", "key", fieldsOf(owner.policy(t, time.Hour, conds()...)), []byte("x"))
	refused("no file", "up/nofile", 400, "InvalidArgument", "file", fieldsOf(owner.policy(t, time.Hour, conds()...), formField{"key", "up/nofile"}), nil)
	bad := owner.policy(t, time.Hour, conds()...)
	bad["x-amz-signature"] = strings.Repeat("0", 64)
	refused("bad signature", "up/badsig", 403, "SignatureDoesNotMatch", "", fieldsOf(bad, formField{"key", "up/badsig"}), []byte("x"))
	a := c.AddAccount(t, "intruder")
	refused("another account", "up/intruder", 403, "AccessDenied", "",
		fieldsOf(postSigner{c, a.AccessKey, a.SecretKey}.policy(t, time.Hour, conds()...), formField{"key", "up/intruder"}), []byte("x"))
	refused("anonymous", "up/anon", 403, "AccessDenied", "", []formField{{"key", "up/anon"}}, []byte("x"))
	refused("field after the file", "up/after", 400, "MalformedPOSTRequest", "",
		fieldsOf(owner.policy(t, time.Hour, conds()...), formField{"key", "up/after"}), []byte("x"), formField{"x-ignore-late", "1"})
	refused("bad policy", "up/badpolicy", 400, "InvalidPolicyDocument", "",
		[]formField{{"key", "up/badpolicy"}, {"policy", "bm90IGpzb24="}, {"AWSAccessKeyId", c.AccessKey}, {"signature", "eA=="}}, []byte("x"))

	// SigV2: AWSAccessKeyId and the base64 HMAC-SHA1 of the policy.
	doc := fmt.Sprintf(`{"expiration": %q, "conditions": [{"bucket": "forms"}, ["eq", "$key", "up/v2"]]}`,
		time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	policy := base64.StdEncoding.EncodeToString([]byte(doc))
	m := hmac.New(sha1.New, []byte(c.SecretKey))
	m.Write([]byte(policy))
	v2 := []formField{{"key", "up/v2"}, {"AWSAccessKeyId", c.AccessKey}, {"policy", policy}, {"signature", base64.StdEncoding.EncodeToString(m.Sum(nil))}}
	if st, _, body := postForm(t, c, "forms", v2, "f", []byte("v2 form")); st != http.StatusNoContent || string(stored("up/v2")) != "v2 form" {
		t.Fatalf("sigv2 form: %d %s", st, body)
	}
	v2[3].value = base64.StdEncoding.EncodeToString(make([]byte, 20))
	v2[0].value = "up/v2bad"
	if st, _, body := postForm(t, c, "forms", v2, "f", []byte("v2 form")); st != http.StatusForbidden || !strings.Contains(body, "SignatureDoesNotMatch") {
		t.Fatalf("sigv2 bad signature: %d %s", st, body)
	}
	if _, err := cl.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("forms"), Key: aws.String("up/v2bad")}); code(err) != "NotFound" {
		t.Fatalf("a refused sigv2 form stored something: %v", err)
	}
	runBoto3(t, c, "forms", "presignedpost")
}

// TestPostObjectAccess: a form upload is authorized like a PUT. Anonymous forms (no policy)
// write only where the bucket lets everyone; a signed form's acl field is the object's ACL.
func TestPostObjectAccess(t *testing.T) {
	c, cl, ctx := withBucket(t, "drop")
	owner := postSigner{c, c.AccessKey, c.SecretKey}
	if st, _, body := postForm(t, c, "drop", []formField{{"key", "anon/1"}}, "f", []byte("x")); st != 403 || !strings.Contains(body, "<Code>AccessDenied</Code>") {
		t.Fatalf("anonymous form to a private bucket: %d %s", st, body)
	}
	if _, err := cl.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("drop"), ACL: types.BucketCannedACLPublicReadWrite}); err != nil {
		t.Fatal(err)
	}
	if st, _, body := postForm(t, c, "drop", []formField{{"key", "anon/1"}}, "f", []byte("dropped")); st != http.StatusNoContent {
		t.Fatalf("anonymous form to a public-read-write bucket: %d %s", st, body)
	}
	if out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("drop"), Key: aws.String("anon/1")}); err != nil {
		t.Fatalf("the owner reads the anonymous upload: %v", err)
	} else {
		data, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(data) != "dropped" {
			t.Fatalf("anonymous upload holds %q", data)
		}
	}
	// A signed form with acl=public-read: anyone may read the object.
	signed := owner.policy(t, time.Hour, map[string]string{"bucket": "drop"}, []any{"eq", "$key", "pub/1"}, map[string]string{"acl": "public-read"})
	if st, _, body := postForm(t, c, "drop", fieldsOf(signed, formField{"key", "pub/1"}, formField{"acl", "public-read"}), "f", []byte("shown")); st != http.StatusNoContent {
		t.Fatalf("signed form with acl=public-read: %d %s", st, body)
	}
	resp, err := http.Get(c.Endpoint + "/drop/pub/1")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(data) != "shown" {
		t.Fatalf("anonymous GET of the public-read upload: %d %q", resp.StatusCode, data)
	}
}

// TestPostObjectTagging: a form's tagging field (a Tagging document, covered by the policy
// like any field) tags the object; a malformed or invalid one stores nothing.
func TestPostObjectTagging(t *testing.T) {
	c, cl, ctx := withBucket(t, "tagforms")
	owner := postSigner{c, c.AccessKey, c.SecretKey}
	post := func(key, tagging string) (int, string) {
		t.Helper()
		signed := owner.policy(t, time.Minute, map[string]string{"bucket": "tagforms"}, []any{"eq", "$key", key}, []any{"eq", "$tagging", tagging})
		st, _, body := postForm(t, c, "tagforms", fieldsOf(signed, formField{"key", key}, formField{"tagging", tagging}), "f", []byte("tagged"))
		return st, body
	}
	doc := `<Tagging><TagSet><Tag><Key>team</Key><Value>blue</Value></Tag><Tag><Key>tier</Key><Value>2</Value></Tag></TagSet></Tagging>`
	if st, body := post("t/ok", doc); st != http.StatusNoContent {
		t.Fatalf("POST with tagging: %d %s", st, body)
	}
	out, err := cl.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("tagforms"), Key: aws.String("t/ok")})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tag := range out.TagSet {
		got[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	if len(got) != 2 || got["team"] != "blue" || got["tier"] != "2" {
		t.Fatalf("tags %v", got)
	}
	for key, tc := range map[string]struct{ doc, code string }{
		"t/malformed": {"<Tagging><TagSet>", "MalformedXML"},
		"t/aws":       {`<Tagging><TagSet><Tag><Key>aws:x</Key><Value>1</Value></Tag></TagSet></Tagging>`, "InvalidTag"},
	} {
		st, body := post(key, tc.doc)
		if st != http.StatusBadRequest || !strings.Contains(body, "<Code>"+tc.code+"</Code>") {
			t.Errorf("%s: %d %s, want 400 %s", key, st, body, tc.code)
		}
		if _, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("tagforms"), Key: aws.String(key)}); err == nil {
			t.Errorf("%s: a refused POST stored the object", key)
		}
	}
}
