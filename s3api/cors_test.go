package s3api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"stratus/internal/testcluster"
)

var corsClient = &http.Client{Timeout: 30 * time.Second}

// do sends req and returns the response with its body read.
func do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := corsClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp, string(body)
}

// preflight sends an unsigned OPTIONS as a browser does.
func preflight(t *testing.T, c *testcluster.S3, path, origin, method, headers string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodOptions, c.Endpoint+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if method != "" {
		req.Header.Set("Access-Control-Request-Method", method)
	}
	if headers != "" {
		req.Header.Set("Access-Control-Request-Headers", headers)
	}
	return do(t, req)
}

func corsRules() *types.CORSConfiguration {
	return &types.CORSConfiguration{CORSRules: []types.CORSRule{
		{ID: aws.String("app"), AllowedOrigins: []string{"https://*.example.com"}, AllowedMethods: []string{"GET", "PUT"},
			AllowedHeaders: []string{"x-amz-*", "Content-Type"}, ExposeHeaders: []string{"ETag", "x-amz-request-id"},
			MaxAgeSeconds: aws.Int32(3000)},
		{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET", "HEAD"}},
	}}
}

func TestCORSConfiguration(t *testing.T) {
	c, cl, ctx := withBucket(t, "corscfg")
	b := aws.String("corscfg")
	if _, err := cl.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: b}); code(err) != "NoSuchCORSConfiguration" {
		t.Fatalf("CORS of a bucket without it: %v", err)
	}
	if _, err := cl.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: b, CORSConfiguration: corsRules()}); err != nil {
		t.Fatal(err)
	}
	out, err := cl.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: b})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.CORSRules) != 2 {
		t.Fatalf("rules: %+v", out.CORSRules)
	}
	r0, r1 := out.CORSRules[0], out.CORSRules[1]
	if aws.ToString(r0.ID) != "app" || strings.Join(r0.AllowedOrigins, " ") != "https://*.example.com" ||
		strings.Join(r0.AllowedMethods, " ") != "GET PUT" || strings.Join(r0.AllowedHeaders, " ") != "x-amz-* Content-Type" ||
		strings.Join(r0.ExposeHeaders, " ") != "ETag x-amz-request-id" || aws.ToInt32(r0.MaxAgeSeconds) != 3000 {
		t.Errorf("rule 0 read back as %+v", r0)
	}
	if r1.ID != nil || strings.Join(r1.AllowedOrigins, " ") != "*" || strings.Join(r1.AllowedMethods, " ") != "GET HEAD" || r1.MaxAgeSeconds != nil {
		t.Errorf("rule 1 read back as %+v", r1)
	}
	stored := func() int {
		rec, _, err := c.Meta.Bucket(ctx, "corscfg")
		if err != nil {
			t.Fatal(err)
		}
		if rec.CORS == nil {
			return 0
		}
		return len(rec.CORS.Rules)
	}

	bad := func(rule types.CORSRule) *types.CORSConfiguration {
		return &types.CORSConfiguration{CORSRules: []types.CORSRule{rule}}
	}
	for name, tc := range map[string]struct {
		cfg  *types.CORSConfiguration
		code string
	}{
		"PATCH":            {bad(types.CORSRule{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"PATCH"}}), "InvalidRequest"},
		"two wildcards":    {bad(types.CORSRule{AllowedOrigins: []string{"https://*.*.com"}, AllowedMethods: []string{"GET"}}), "InvalidRequest"},
		"header wildcards": {bad(types.CORSRule{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}, AllowedHeaders: []string{"*-*"}}), "InvalidRequest"},
		"expose wildcard":  {bad(types.CORSRule{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}, ExposeHeaders: []string{"x-*"}}), "InvalidRequest"},
	} {
		if _, err := cl.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: b, CORSConfiguration: tc.cfg}); code(err) != tc.code {
			t.Errorf("%s: %v, want %s", name, err, tc.code)
		}
	}
	// Documents the SDK will not send.
	for _, doc := range []string{"<CORSConfiguration></CORSConfiguration>", "<CORSConfiguration>",
		"<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>",
		"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>",
		"<Other><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></Other>"} {
		resp, body := do(t, signed(t, c, "PUT", "/corscfg?cors", doc, time.Now()))
		if resp.StatusCode != 400 || !strings.Contains(body, "<Code>MalformedXML</Code>") {
			t.Errorf("body %q: %d %s", doc, resp.StatusCode, body)
		}
	}
	many := &types.CORSConfiguration{}
	for range 101 {
		many.CORSRules = append(many.CORSRules, types.CORSRule{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}})
	}
	if _, err := cl.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: b, CORSConfiguration: many}); code(err) != "MalformedXML" {
		t.Errorf("101 rules: %v", err)
	}
	other := c.AddAccount(t, "other")
	ocl := sdkClient(&testcluster.S3{Endpoint: c.Endpoint, Region: c.Region, AccessKey: other.AccessKey}, other.SecretKey)
	if _, err := ocl.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: b, CORSConfiguration: bad(types.CORSRule{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}})}); code(err) != "AccessDenied" {
		t.Errorf("other account's PutBucketCors: %v", err)
	}
	if _, err := ocl.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: b}); code(err) != "AccessDenied" {
		t.Errorf("other account's GetBucketCors: %v", err)
	}
	if _, err := ocl.DeleteBucketCors(ctx, &s3.DeleteBucketCorsInput{Bucket: b}); code(err) != "AccessDenied" {
		t.Errorf("other account's DeleteBucketCors: %v", err)
	}
	if n := stored(); n != 2 {
		t.Fatalf("refused requests left %d rules stored, want 2", n)
	}
	if _, err := cl.DeleteBucketCors(ctx, &s3.DeleteBucketCorsInput{Bucket: b}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: b}); code(err) != "NoSuchCORSConfiguration" || stored() != 0 {
		t.Fatalf("after DeleteBucketCors: %v, %d rules stored", err, stored())
	}
}

func TestCORSPreflight(t *testing.T) {
	c, cl, ctx := withBucket(t, "corspre")
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("nocors")}); err != nil {
		t.Fatal(err)
	}
	// Without a configuration every preflight is refused.
	if resp, body := preflight(t, c, "/corspre/k", "https://app.example.com", "GET", ""); resp.StatusCode != 403 ||
		!strings.Contains(body, "<Code>AccessForbidden</Code>") {
		t.Fatalf("preflight before any configuration: %d %s", resp.StatusCode, body)
	}
	if _, err := cl.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: aws.String("corspre"), CORSConfiguration: corsRules()}); err != nil {
		t.Fatal(err)
	}

	// The first rule: a wildcard origin, its methods, headers matched without regard to case.
	resp, body := preflight(t, c, "/corspre/some/key", "https://app.example.com", "PUT", "X-Amz-Date, content-type,x-amz-meta-a")
	h := resp.Header
	if resp.StatusCode != 200 || h.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		h.Get("Access-Control-Allow-Methods") != "GET, PUT" ||
		h.Get("Access-Control-Allow-Headers") != "x-amz-date, content-type, x-amz-meta-a" ||
		h.Get("Access-Control-Expose-Headers") != "ETag, x-amz-request-id" || h.Get("Access-Control-Max-Age") != "3000" ||
		!strings.Contains(h.Get("Vary"), "Origin") || h.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("allowed preflight: %d %v %s", resp.StatusCode, h, body)
	}
	// On the bucket itself too.
	if resp, _ := preflight(t, c, "/corspre", "https://app.example.com", "GET", ""); resp.StatusCode != 200 {
		t.Fatalf("bucket preflight: %d", resp.StatusCode)
	}
	// An origin the first rule does not match falls to the second, which allows any origin.
	resp, _ = preflight(t, c, "/corspre/k", "https://other.test", "GET", "")
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
		resp.Header.Get("Access-Control-Allow-Methods") != "GET, HEAD" || resp.Header.Get("Access-Control-Max-Age") != "" {
		t.Fatalf("preflight matched by '*': %d %v", resp.StatusCode, resp.Header)
	}

	for name, tc := range map[string]struct{ origin, method, headers string }{
		"method not allowed":        {"https://app.example.com", "DELETE", ""},
		"method of another rule":    {"https://other.test", "PUT", ""},
		"header not allowed":        {"https://app.example.com", "PUT", "x-amz-date, x-custom"},
		"origin without subdomain":  {"https://example.com", "PUT", ""},
		"origin of another scheme":  {"http://app.example.com", "PUT", ""},
		"header of the second rule": {"https://other.test", "GET", "content-type"},
	} {
		resp, body := preflight(t, c, "/corspre/k", tc.origin, tc.method, tc.headers)
		if resp.StatusCode != 403 || !strings.Contains(body, "<Code>AccessForbidden</Code>") ||
			!strings.Contains(body, "CORSResponse: This CORS request is not allowed") ||
			!strings.Contains(body, "<Method>"+tc.method+"</Method><ResourceType>OBJECT</ResourceType>") ||
			resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: %d %v %s", name, resp.StatusCode, resp.Header, body)
		}
	}
	if resp, body := preflight(t, c, "/corspre/k", "", "GET", ""); resp.StatusCode != 400 || !strings.Contains(body, "Origin request header needed") {
		t.Errorf("preflight without Origin: %d %s", resp.StatusCode, body)
	}
	if resp, body := preflight(t, c, "/corspre/k", "https://app.example.com", "PATCH", ""); resp.StatusCode != 400 || !strings.Contains(body, "<Code>BadRequest</Code>") {
		t.Errorf("preflight for PATCH: %d %s", resp.StatusCode, body)
	}
	if resp, body := preflight(t, c, "/nocors/k", "https://app.example.com", "GET", ""); resp.StatusCode != 403 || !strings.Contains(body, "CORS is not enabled") {
		t.Errorf("preflight on a bucket without CORS: %d %s", resp.StatusCode, body)
	}
	if resp, body := preflight(t, c, "/missing/k", "https://app.example.com", "GET", ""); resp.StatusCode != 404 || !strings.Contains(body, "NoSuchBucket") {
		t.Errorf("preflight on a missing bucket: %d %s", resp.StatusCode, body)
	}
}

func TestCORSHeadersOnRequests(t *testing.T) {
	c, cl, ctx := withBucket(t, "corsreal")
	b := aws.String("corsreal")
	if _, err := cl.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: b, CORSConfiguration: corsRules()}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("page"), Body: strings.NewReader("hello")}); err != nil {
		t.Fatal(err)
	}
	get := func(path, origin string) (*http.Response, string) {
		req := signed(t, c, "GET", path, "", time.Now())
		if origin != "" {
			req.Header.Set("Origin", origin) // browsers add it; it is not signed
		}
		return do(t, req)
	}
	resp, body := get("/corsreal/page", "https://app.example.com")
	if resp.StatusCode != 200 || body != "hello" || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		resp.Header.Get("Access-Control-Expose-Headers") != "ETag, x-amz-request-id" || !strings.Contains(resp.Header.Get("Vary"), "Origin") {
		t.Fatalf("GET with Origin: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	// An error answer carries them too, so the page can read it.
	resp, body = get("/corsreal/missing", "https://app.example.com")
	if resp.StatusCode != 404 || !strings.Contains(body, "NoSuchKey") || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Fatalf("404 with Origin: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	resp, _ = get("/corsreal/page", "https://other.test")
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("GET from any origin: %d %v", resp.StatusCode, resp.Header)
	}
	// No Origin, no CORS headers; a method no rule allows for the origin, none either.
	resp, _ = get("/corsreal/page", "")
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.Header.Get("Vary") != "" {
		t.Fatalf("GET without Origin: %d %v", resp.StatusCode, resp.Header)
	}
	req := signed(t, c, "DELETE", "/corsreal/page", "", time.Now())
	req.Header.Set("Origin", "https://app.example.com")
	resp, _ = do(t, req)
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("DELETE with an Origin no rule allows it for: %d %v", resp.StatusCode, resp.Header)
	}
	// A preflight is answered whoever asks; the request it precedes still needs a signature.
	anon, err := http.NewRequest("GET", c.Endpoint+"/corsreal/page", nil)
	if err != nil {
		t.Fatal(err)
	}
	anon.Header.Set("Origin", "https://app.example.com")
	resp, body = do(t, anon)
	if resp.StatusCode != 403 || !strings.Contains(body, "AccessDenied") || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Fatalf("anonymous GET with Origin: %d %v %s", resp.StatusCode, resp.Header, body)
	}
}
