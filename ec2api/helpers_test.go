package ec2api

import (
	"context"
	"crypto/sha256"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"

	"stratus/internal/pki"
	"stratus/internal/testutil"
	meta "stratus/meta/client"
	"stratus/meta/metatest"
)

const testRegion = "eu-test-1"

// testKey is an account's access key in a test env.
type testKey struct{ ID, Secret string }

// env is an EC2 API server over a one-voter meta catalog with mutual TLS, reached over
// loopback, with two accounts (alice, bob) that each have a key.
type env struct {
	t     *testing.T
	URL   string
	Admin *meta.Client // the operator's client, to look behind the API
	Keys  map[string]testKey
	// Meta is the catalog (nil in an env built beside an S3 cluster).
	Meta *metatest.Cluster
}

func newEnv(t *testing.T) *env {
	t.Helper()
	mc := metatest.New(t, metatest.Options{Nodes: 1, TLS: true, Quiet: true})
	admin := mc.Client()
	e := &env{t: t, Admin: admin, Meta: mc, Keys: map[string]testKey{
		"alice": {"AKALICE0000000000001", "alice-secret-0123456789abcdefghijklmnopq"},
		"bob":   {"AKBOB000000000000002", "bob-secret-0123456789abcdefghijklmnopqrst"},
	}}
	ctx := context.Background()
	for account, k := range e.Keys {
		if err := admin.CreateAccount(ctx, meta.Account{ID: account, Name: account}); err != nil {
			t.Fatal(err)
		}
		if err := admin.CreateAccessKey(ctx, meta.AccessKey{ID: k.ID, Account: account, Secret: k.Secret}); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := New(Config{Region: testRegion, Logger: testutil.Logger(t)}, mc.ClientAs(pki.RoleEC2API))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); hs.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
		<-done
	})
	e.URL = "http://" + ln.Addr().String()
	return e
}

// sdk returns an aws-sdk-go-v2 EC2 client signing as account, without retries.
func (e *env) sdk(account string) *ec2.Client {
	k := e.Keys[account]
	return ec2.New(ec2.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(e.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(k.ID, k.Secret, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Timeout: 10 * time.Second},
	})
}

// ctx is a context bounded for one test step.
func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

// wantCode fails unless err is an EC2 API error with code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want EC2 error %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("error code = %s (%s), want %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
}

// raw sends form as a POST signed by key (for region and service ec2, at now) and returns
// the status and body. A zero key sends it unsigned.
func (e *env) raw(key testKey, region string, now time.Time, form string) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.URL+"/", strings.NewReader(form))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if key.ID != "" {
		sum := fmt.Sprintf("%x", sha256.Sum256([]byte(form)))
		err := v4.NewSigner().SignHTTP(e.ctx(), aws.Credentials{AccessKeyID: key.ID, SecretAccessKey: key.Secret}, req, sum, "ec2", region, now)
		if err != nil {
			e.t.Fatal(err)
		}
	}
	return e.do(req)
}

func (e *env) do(req *http.Request) (int, []byte) {
	e.t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, body
}

// errorBody is the EC2 error document.
type errorBody struct {
	XMLName xml.Name `xml:"Response"`
	Code    string   `xml:"Errors>Error>Code"`
	Message string   `xml:"Errors>Error>Message"`
	ReqID   string   `xml:"RequestID"`
}

// wantError fails unless status and body are the EC2 error code with status.
func wantError(t *testing.T, status int, body []byte, wantStatus int, code string) {
	t.Helper()
	var eb errorBody
	if err := xml.Unmarshal(body, &eb); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if status != wantStatus || eb.Code != code || eb.ReqID == "" || eb.Message == "" {
		t.Fatalf("got %d %s (%q, request %q), want %d %s", status, eb.Code, eb.Message, eb.ReqID, wantStatus, code)
	}
}

// form builds a form body from name, value pairs.
func form(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v.Encode()
}

// signRequest signs req as key over payload (which need not be req's body).
func signRequest(t *testing.T, e *env, req *http.Request, key testKey, payload string) {
	t.Helper()
	sum := fmt.Sprintf("%x", sha256.Sum256([]byte(payload)))
	if err := v4.NewSigner().SignHTTP(e.ctx(), aws.Credentials{AccessKeyID: key.ID, SecretAccessKey: key.Secret}, req, sum, "ec2", testRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
}
