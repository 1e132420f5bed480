package s3api_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"stratus/internal/testcluster"
	meta "stratus/meta/client"
)

// storedLifecycle reads the bucket record's lifecycle configuration straight from meta.
func storedLifecycle(t *testing.T, c *testcluster.S3, bucket string) *meta.Lifecycle {
	t.Helper()
	b, _, err := c.Meta.Bucket(ctxT(t), bucket)
	if err != nil {
		t.Fatal(err)
	}
	return b.Lifecycle
}

func TestLifecycleConfigRoundTripSDK(t *testing.T) {
	c, cl, ctx := withBucket(t, "lcrt")
	_, err := cl.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String("lcrt")})
	if code(err) != "NoSuchLifecycleConfiguration" {
		t.Fatalf("get before any put: %v, want NoSuchLifecycleConfiguration", err)
	}
	date := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	rules := []types.LifecycleRule{
		{ID: aws.String("logs"), Status: types.ExpirationStatusEnabled,
			Filter:     &types.LifecycleRuleFilter{Prefix: aws.String("logs/")},
			Expiration: &types.LifecycleExpiration{Days: aws.Int32(30)},
			NoncurrentVersionExpiration: &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(7),
				NewerNoncurrentVersions: aws.Int32(3)},
			AbortIncompleteMultipartUpload: &types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(2)}},
		{ID: aws.String("dated"), Status: types.ExpirationStatusDisabled,
			Filter: &types.LifecycleRuleFilter{And: &types.LifecycleRuleAndOperator{Prefix: aws.String("tmp/"),
				Tags:                  []types.Tag{{Key: aws.String("class"), Value: aws.String("scratch")}},
				ObjectSizeGreaterThan: aws.Int64(10), ObjectSizeLessThan: aws.Int64(1 << 20)}},
			Expiration: &types.LifecycleExpiration{Date: &date}},
		{ID: aws.String("markers"), Status: types.ExpirationStatusEnabled,
			Filter:     &types.LifecycleRuleFilter{},
			Expiration: &types.LifecycleExpiration{ExpiredObjectDeleteMarker: aws.Bool(true)}},
		{ID: aws.String("tagged"), Status: types.ExpirationStatusEnabled,
			Filter:     &types.LifecycleRuleFilter{Tag: &types.Tag{Key: aws.String("k"), Value: aws.String("v")}},
			Expiration: &types.LifecycleExpiration{Days: aws.Int32(1)}},
	}
	if _, err := cl.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String("lcrt"),
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: rules}}); err != nil {
		t.Fatal(err)
	}
	got, err := cl.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String("lcrt")})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Rules) != 4 {
		t.Fatalf("rules = %d, want 4", len(got.Rules))
	}
	r0, r1, r2, r3 := got.Rules[0], got.Rules[1], got.Rules[2], got.Rules[3]
	if aws.ToString(r0.ID) != "logs" || r0.Status != types.ExpirationStatusEnabled || r0.Filter == nil ||
		aws.ToString(r0.Filter.Prefix) != "logs/" || aws.ToInt32(r0.Expiration.Days) != 30 ||
		aws.ToInt32(r0.NoncurrentVersionExpiration.NoncurrentDays) != 7 ||
		aws.ToInt32(r0.NoncurrentVersionExpiration.NewerNoncurrentVersions) != 3 ||
		aws.ToInt32(r0.AbortIncompleteMultipartUpload.DaysAfterInitiation) != 2 {
		t.Errorf("rule 0 read back as %+v", r0)
	}
	if r1.Status != types.ExpirationStatusDisabled || r1.Filter == nil || r1.Filter.And == nil ||
		aws.ToString(r1.Filter.And.Prefix) != "tmp/" || len(r1.Filter.And.Tags) != 1 ||
		aws.ToString(r1.Filter.And.Tags[0].Value) != "scratch" || aws.ToInt64(r1.Filter.And.ObjectSizeGreaterThan) != 10 ||
		aws.ToInt64(r1.Filter.And.ObjectSizeLessThan) != 1<<20 || r1.Expiration == nil || !r1.Expiration.Date.Equal(date) {
		t.Errorf("rule 1 read back as %+v", r1)
	}
	if r2.Expiration == nil || !aws.ToBool(r2.Expiration.ExpiredObjectDeleteMarker) {
		t.Errorf("rule 2 read back as %+v", r2)
	}
	if r3.Filter == nil || r3.Filter.Tag == nil || aws.ToString(r3.Filter.Tag.Key) != "k" {
		t.Errorf("rule 3 read back as %+v", r3)
	}
	lc := storedLifecycle(t, c, "lcrt")
	if lc == nil || len(lc.Rules) != 4 || lc.Rules[0].Expiration.Days != 30 || !lc.Rules[1].Disabled ||
		!lc.Rules[1].Expiration.Date.Equal(date) || lc.Rules[1].Filter.SizeLessThan != 1<<20 {
		t.Fatalf("stored %+v", lc)
	}

	if _, err := cl.DeleteBucketLifecycle(ctx, &s3.DeleteBucketLifecycleInput{Bucket: aws.String("lcrt")}); err != nil {
		t.Fatal(err)
	}
	if lc := storedLifecycle(t, c, "lcrt"); lc != nil {
		t.Fatalf("after delete, stored %+v", lc)
	}
	_, err = cl.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String("lcrt")})
	if code(err) != "NoSuchLifecycleConfiguration" {
		t.Fatalf("get after delete: %v", err)
	}
	// Deleting what is not there succeeds, as in S3.
	if _, err := cl.DeleteBucketLifecycle(ctx, &s3.DeleteBucketLifecycleInput{Bucket: aws.String("lcrt")}); err != nil {
		t.Fatal(err)
	}
}

// putLifecycleXML sends body as PutBucketLifecycleConfiguration, signed, with its
// Content-MD5, and returns the status and the response body.
func putLifecycleXML(t *testing.T, c *testcluster.S3, bucket, body string) (int, string) {
	t.Helper()
	ctx := ctxT(t)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.Endpoint+"/"+bucket+"?lifecycle", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum([]byte(body))
	req.Header.Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
	signRequest(t, c, req, []byte(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// signRequest signs req with the cluster's key (SigV4, payload hashed).
func signRequest(t *testing.T, c *testcluster.S3, req *http.Request, body []byte) {
	t.Helper()
	hash := sha256Hex(body)
	req.Header.Set("X-Amz-Content-Sha256", hash)
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.AccessKey, SecretAccessKey: c.SecretKey},
		req, hash, "s3", c.Region, time.Now())
	if err != nil {
		t.Fatal(err)
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestLifecycleConfigRefusals(t *testing.T) {
	c, cl, ctx := withBucket(t, "lcbad")
	const valid = `<LifecycleConfiguration><Rule><ID>keep</ID><Filter><Prefix>a/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>5</Days></Expiration></Rule></LifecycleConfiguration>`
	if status, body := putLifecycleXML(t, c, "lcbad", valid); status != http.StatusOK {
		t.Fatalf("valid configuration: %d %s", status, body)
	}
	rule := func(inner string) string {
		return `<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule>` + inner + `</Rule></LifecycleConfiguration>`
	}
	long := string(bytes.Repeat([]byte("i"), 256))
	for _, tc := range []struct {
		name, body, code string
		status           int
	}{
		{"not xml", "<Lifecycle", "MalformedXML", 400},
		{"no rules", `<LifecycleConfiguration></LifecycleConfiguration>`, "MalformedXML", 400},
		{"bad status", rule(`<Filter/><Status>enabled</Status><Expiration><Days>1</Days></Expiration>`), "MalformedXML", 400},
		{"no filter nor prefix", rule(`<Status>Enabled</Status><Expiration><Days>1</Days></Expiration>`), "MalformedXML", 400},
		{"filter and prefix", rule(`<Prefix>a</Prefix><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>`), "MalformedXML", 400},
		{"two filter conditions", rule(`<Filter><Prefix>a</Prefix><ObjectSizeLessThan>5</ObjectSizeLessThan></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>`), "MalformedXML", 400},
		{"days and date", rule(`<Filter/><Status>Enabled</Status><Expiration><Days>1</Days><Date>2030-01-01T00:00:00Z</Date></Expiration>`), "MalformedXML", 400},
		{"days zero", rule(`<Filter/><Status>Enabled</Status><Expiration><Days>0</Days></Expiration>`), "InvalidArgument", 400},
		{"date not midnight", rule(`<Filter/><Status>Enabled</Status><Expiration><Date>2030-01-01T10:00:00Z</Date></Expiration>`), "InvalidArgument", 400},
		{"date not iso", rule(`<Filter/><Status>Enabled</Status><Expiration><Date>20300101</Date></Expiration>`), "MalformedXML", 400},
		{"noncurrent days zero", rule(`<Filter/><Status>Enabled</Status><NoncurrentVersionExpiration><NoncurrentDays>0</NoncurrentDays></NoncurrentVersionExpiration>`), "InvalidArgument", 400},
		{"newer noncurrent too many", rule(`<Filter/><Status>Enabled</Status><NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>101</NewerNoncurrentVersions></NoncurrentVersionExpiration>`), "InvalidArgument", 400},
		{"abort days zero", rule(`<Filter/><Status>Enabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>0</DaysAfterInitiation></AbortIncompleteMultipartUpload>`), "InvalidArgument", 400},
		{"abort with tags", rule(`<Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>`), "InvalidRequest", 400},
		{"no action", rule(`<Filter/><Status>Enabled</Status>`), "InvalidRequest", 400},
		{"id too long", rule(`<ID>` + long + `</ID><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>`), "InvalidArgument", 400},
		{"size bounds crossed", rule(`<Filter><And><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan><ObjectSizeLessThan>10</ObjectSizeLessThan></And></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>`), "InvalidArgument", 400},
		{"duplicate tag keys", rule(`<Filter><And><Tag><Key>k</Key><Value>1</Value></Tag><Tag><Key>k</Key><Value>2</Value></Tag></And></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration>`), "InvalidArgument", 400},
		{"transition", rule(`<Filter/><Status>Enabled</Status><Transition><Days>1</Days><StorageClass>GLACIER</StorageClass></Transition>`), "NotImplemented", 501},
		{"duplicate ids", `<LifecycleConfiguration><Rule><ID>x</ID><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule><Rule><ID>x</ID><Filter/><Status>Enabled</Status><Expiration><Days>2</Days></Expiration></Rule></LifecycleConfiguration>`, "InvalidArgument", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := putLifecycleXML(t, c, "lcbad", tc.body)
			if status != tc.status || !bytes.Contains([]byte(body), []byte("<Code>"+tc.code+"</Code>")) {
				t.Fatalf("got %d %s, want %d %s", status, body, tc.status, tc.code)
			}
			// The refused configuration stored nothing: the valid one is still there.
			lc := storedLifecycle(t, c, "lcbad")
			if lc == nil || len(lc.Rules) != 1 || lc.Rules[0].ID != "keep" || lc.Rules[0].Expiration.Days != 5 {
				t.Fatalf("stored after refusal: %+v", lc)
			}
		})
	}
	// A configuration of more than 1,000 rules is refused too.
	many := []types.LifecycleRule{}
	for i := 0; i < 1001; i++ {
		many = append(many, types.LifecycleRule{Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{},
			Expiration: &types.LifecycleExpiration{Days: aws.Int32(1)}})
	}
	_, err := cl.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String("lcbad"),
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: many}})
	if code(err) != "MalformedXML" {
		t.Fatalf("1001 rules: %v", err)
	}
	if lc := storedLifecycle(t, c, "lcbad"); lc == nil || len(lc.Rules) != 1 {
		t.Fatalf("stored after 1001 rules: %+v", lc)
	}
}

func TestLifecycleConfigOtherAccount(t *testing.T) {
	c, cl, ctx := withBucket(t, "lcown")
	if _, err := cl.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String("lcown"),
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{{ID: aws.String("mine"),
			Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{}, Expiration: &types.LifecycleExpiration{Days: aws.Int32(9)}}}}}); err != nil {
		t.Fatal(err)
	}
	other := c.AddAccount(t, "other")
	oc := sdkClient(&testcluster.S3{Endpoint: c.Endpoint, Region: c.Region, AccessKey: other.AccessKey}, other.SecretKey)
	_, err := oc.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String("lcown"),
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{{ID: aws.String("theirs"),
			Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{}, Expiration: &types.LifecycleExpiration{Days: aws.Int32(1)}}}}})
	if code(err) != "AccessDenied" {
		t.Fatalf("other account's put: %v, want AccessDenied", err)
	}
	if _, err := oc.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String("lcown")}); code(err) != "AccessDenied" {
		t.Fatalf("other account's get: %v, want AccessDenied", err)
	}
	if _, err := oc.DeleteBucketLifecycle(ctx, &s3.DeleteBucketLifecycleInput{Bucket: aws.String("lcown")}); code(err) != "AccessDenied" {
		t.Fatalf("other account's delete: %v, want AccessDenied", err)
	}
	// Anonymous callers are refused as well.
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		req, _ := http.NewRequestWithContext(ctx, method, c.Endpoint+"/lcown?lifecycle", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !bytes.Contains(body, []byte("<Code>AccessDenied</Code>")) {
			t.Fatalf("anonymous %s: %d %s", method, resp.StatusCode, body)
		}
	}
	lc := storedLifecycle(t, c, "lcown")
	if lc == nil || len(lc.Rules) != 1 || lc.Rules[0].ID != "mine" || lc.Rules[0].Expiration.Days != 9 {
		t.Fatalf("stored after the other account's attempts: %+v", lc)
	}
	// No such bucket is NoSuchBucket, for anyone.
	if _, err := cl.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String("nobucket")}); code(err) != "NoSuchBucket" {
		t.Fatalf("get on a missing bucket: %v", err)
	}
}

func TestLifecycleConfigBoto3(t *testing.T) {
	c, _, _ := withBucket(t, "lcboto")
	runBoto3(t, c, "lcboto", "lifecycle")
	lc := storedLifecycle(t, c, "lcboto")
	if lc == nil || len(lc.Rules) != 2 || lc.Rules[0].Filter.Form != "legacy" || lc.Rules[0].Filter.Prefix != "old/" {
		t.Fatalf("stored after the boto3 script: %+v", lc)
	}
}
