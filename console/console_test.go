package console

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"stratus/internal/testcluster"
)

// consoleUnderTest is a console in front of a real S3 test cluster.
type consoleUnderTest struct {
	t   *testing.T
	s3  *testcluster.S3
	srv *Server
	web *httptest.Server
	log *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startConsole(t *testing.T, tune func(*Config)) *consoleUnderTest {
	t.Helper()
	s3c := testcluster.StartS3(t, testcluster.S3Options{})
	logs := &lockedBuffer{}
	cfg := DefaultConfig()
	cfg.S3Endpoint, cfg.Region = s3c.Endpoint, s3c.Region
	cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if tune != nil {
		tune(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(srv.Handler())
	t.Cleanup(web.Close)
	return &consoleUnderTest{t: t, s3: s3c, srv: srv, web: web, log: logs}
}

// browser is a cookie-keeping client of the console.
type browser struct {
	c    *consoleUnderTest
	hc   *http.Client
	csrf string
	// forwardedFor, if set, is sent as X-Forwarded-For, as a reverse proxy would.
	forwardedFor string
}

func (c *consoleUnderTest) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{c: c, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// call makes a request with a JSON body (nil for none) and decodes the JSON answer.
func (b *browser) call(method, path string, body any, csrf string) (int, map[string]any, http.Header) {
	b.c.t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, b.c.web.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	if b.forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", b.forwardedFor)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out, resp.Header
}

func (b *browser) login(key, secret string) (int, map[string]any, http.Header) {
	st, out, h := b.call("POST", "/api/login", loginRequest{AccessKey: key, SecretKey: secret}, "")
	if st == http.StatusOK {
		b.csrf, _ = out["csrf"].(string)
	}
	return st, out, h
}

func TestLoginRefusesWrongSecretAndNeverLogsSecrets(t *testing.T) {
	c := startConsole(t, nil)
	b := c.browser()
	wrong := "wrong/secret/that/must/not/be/logged/xx"
	st, out, h := b.login(c.s3.AccessKey, wrong)
	if st != http.StatusUnauthorized || !strings.Contains(out["error"].(string), "SignatureDoesNotMatch") {
		t.Fatalf("wrong secret: %d %v", st, out)
	}
	if h.Get("Set-Cookie") != "" {
		t.Fatal("a refused login set a cookie")
	}
	if st, _, _ := b.call("GET", "/api/buckets", nil, ""); st != http.StatusUnauthorized {
		t.Fatalf("listing without a session: %d", st)
	}
	st, out, _ = b.login(c.s3.AccessKey, c.s3.SecretKey)
	if st != http.StatusOK || out["account"] != c.s3.Account || out["admin"] != false {
		t.Fatalf("login: %d %v", st, out)
	}
	raw, _ := json.Marshal(out)
	if strings.Contains(string(raw), c.s3.SecretKey) {
		t.Fatal("the login answer carries the secret")
	}
	if logs := c.log.String(); strings.Contains(logs, wrong) || strings.Contains(logs, c.s3.SecretKey) || !strings.Contains(logs, "login refused") {
		t.Fatalf("logs hold a secret or miss the refusal:\n%s", logs)
	}
}

func TestSessionCookieAndCSRF(t *testing.T) {
	c := startConsole(t, nil)
	b := c.browser()
	st, _, h := b.login(c.s3.AccessKey, c.s3.SecretKey)
	if st != http.StatusOK {
		t.Fatal(st)
	}
	resp := http.Response{Header: h}
	cookies := resp.Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode || cookies[0].Secure || len(cookies[0].Value) < 40 {
		t.Fatalf("session cookie: %+v", cookies)
	}
	for _, token := range []string{"", "not-the-token"} {
		if st, out, _ := b.call("POST", "/api/buckets", map[string]string{"name": "csrf-test"}, token); st != http.StatusForbidden {
			t.Fatalf("create with CSRF token %q: %d %v", token, st, out)
		}
	}
	if st, out, _ := b.call("POST", "/api/buckets", map[string]string{"name": "csrf-test"}, b.csrf); st != http.StatusCreated {
		t.Fatalf("create with the token: %d %v", st, out)
	}
	// The API's own refusal comes through with its message.
	if st, out, _ := b.call("DELETE", "/api/buckets/no-such-bucket", nil, b.csrf); st != http.StatusNotFound || !strings.Contains(out["error"].(string), "NoSuchBucket") {
		t.Fatalf("delete a missing bucket: %d %v", st, out)
	}
	// Another browser's token is no good in this session.
	other := c.browser()
	other.login(c.s3.AccessKey, c.s3.SecretKey)
	if st, _, _ := b.call("DELETE", "/api/buckets/csrf-test", nil, other.csrf); st != http.StatusForbidden {
		t.Fatalf("delete with another session's token: %d", st)
	}
	if st, _, _ := b.call("POST", "/api/logout", nil, b.csrf); st != http.StatusOK {
		t.Fatal(st)
	}
	if st, _, _ := b.call("GET", "/api/buckets", nil, ""); st != http.StatusUnauthorized {
		t.Fatalf("after logout: %d", st)
	}
	if c.srv.sessions.len() != 1 {
		t.Fatalf("%d sessions stored, want the other browser's only", c.srv.sessions.len())
	}

	// Over TLS the cookie is Secure.
	tlsc := startConsole(t, func(cfg *Config) { cfg.SecureCookies = true })
	_, _, h = tlsc.browser().login(tlsc.s3.AccessKey, tlsc.s3.SecretKey)
	if cs := (&http.Response{Header: h}).Cookies(); len(cs) != 1 || !cs[0].Secure {
		t.Fatalf("cookie of a TLS console: %+v", cs)
	}
}

func TestSessionExpires(t *testing.T) {
	c := startConsole(t, func(cfg *Config) { cfg.SessionTTL = time.Minute })
	now := time.Now()
	var mu sync.Mutex
	c.srv.sessions.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	b := c.browser()
	if st, _, _ := b.login(c.s3.AccessKey, c.s3.SecretKey); st != http.StatusOK {
		t.Fatal(st)
	}
	if st, _, _ := b.call("GET", "/api/buckets", nil, ""); st != http.StatusOK {
		t.Fatalf("fresh session: %d", st)
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if st, out, _ := b.call("GET", "/api/buckets", nil, ""); st != http.StatusUnauthorized || !strings.Contains(out["error"].(string), "expired") {
		t.Fatalf("expired session: %d %v", st, out)
	}
	if c.srv.sessions.len() != 0 {
		t.Fatal("the expired session is still stored")
	}
}

func TestAdminPagesOnlyForAdmin(t *testing.T) {
	c := startConsole(t, func(cfg *Config) { cfg.AdminAccount = "admin" })
	b := c.browser()
	b.login(c.s3.AccessKey, c.s3.SecretKey)
	for _, p := range []string{"/api/admin/status", "/api/admin/users"} {
		if st, _, _ := b.call("GET", p, nil, ""); st != http.StatusForbidden {
			t.Fatalf("%s for a user: %d", p, st)
		}
	}
	// Without an EC2 endpoint the compute calls say so.
	if st, out, _ := b.call("GET", "/api/volumes", nil, ""); st != http.StatusNotFound || !strings.Contains(out["error"].(string), "EC2") {
		t.Fatalf("volumes without EC2: %d %v", st, out)
	}
}

// TestUploadStreamsAndShares: a file bigger than a part goes up as a multipart upload,
// comes back byte for byte, and its share link serves it to anyone until it expires.
func TestUploadStreamsAndShares(t *testing.T) {
	c := startConsole(t, func(cfg *Config) { cfg.PartSize = 5 << 20 })
	b := c.browser()
	b.login(c.s3.AccessKey, c.s3.SecretKey)
	if st, _, _ := b.call("POST", "/api/buckets", map[string]string{"name": "uploads"}, b.csrf); st != http.StatusCreated {
		t.Fatal(st)
	}
	for _, size := range []int{1000, 11<<20 + 7} {
		data := make([]byte, size)
		rand.Read(data)
		req, _ := http.NewRequest("PUT", c.web.URL+"/api/buckets/uploads/upload?key=dir/f.bin", bytes.NewReader(data))
		req.Header.Set("X-CSRF-Token", b.csrf)
		resp, err := b.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("upload %d bytes: %d %s", size, resp.StatusCode, body)
		}
		resp, err = b.hc.Get(c.web.URL + "/api/buckets/uploads/download?key=dir/f.bin")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if sha256.Sum256(got) != sha256.Sum256(data) || !strings.Contains(resp.Header.Get("Content-Disposition"), `filename=f.bin`) {
			t.Fatalf("download of %d bytes: %d bytes back, %q", size, len(got), resp.Header.Get("Content-Disposition"))
		}
	}
	st, out, _ := b.call("GET", "/api/buckets/uploads/objects?prefix=", nil, "")
	if st != http.StatusOK || len(out["prefixes"].([]any)) != 1 || out["prefixes"].([]any)[0] != "dir/" {
		t.Fatalf("listing: %d %v", st, out)
	}
	st, out, _ = b.call("POST", "/api/buckets/uploads/share", map[string]any{"key": "dir/f.bin", "expires_seconds": 60}, b.csrf)
	if st != http.StatusOK {
		t.Fatalf("share: %d %v", st, out)
	}
	resp, err := http.Get(out["url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || n != 11<<20+7 {
		t.Fatalf("share link: %d, %d bytes", resp.StatusCode, n)
	}
	if st, _, _ := b.call("POST", "/api/buckets/uploads/share", map[string]any{"key": "dir/f.bin", "expires_seconds": 30 * 24 * 3600}, b.csrf); st != http.StatusBadRequest {
		t.Fatalf("a 30-day link: %d", st)
	}
	// Without a length the console refuses rather than buffer.
	req, _ := http.NewRequest("PUT", c.web.URL+"/api/buckets/uploads/upload?key=x", io.MultiReader(strings.NewReader("abc")))
	req.Header.Set("X-CSRF-Token", b.csrf)
	resp, err = b.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusLengthRequired {
		t.Fatalf("upload without a length: %d", resp.StatusCode)
	}
}

// TestLoginLimitsFailures: a browser that keeps guessing is refused by the console before
// S3's own limit (which counts the console's one address for everyone) is spent, and a
// login must be JSON, which no other site's form can send.
func TestLoginLimitsFailures(t *testing.T) {
	c := startConsole(t, func(cfg *Config) { cfg.LoginFailureLimit = 3 })
	b := c.browser()
	for i := range 3 {
		if st, out, _ := b.login(c.s3.AccessKey, "guess"+strconv.Itoa(i)); st != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d %v", i, st, out)
		}
	}
	st, out, h := b.login(c.s3.AccessKey, "guess3")
	if st != http.StatusTooManyRequests || h.Get("Retry-After") == "" || !strings.Contains(out["error"].(string), "too many failed logins") {
		t.Fatalf("fourth guess: %d %v", st, out)
	}
	resp, err := http.Post(c.web.URL+"/api/login", "text/plain", strings.NewReader(`{"access_key":"a","secret_key":"b"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("a form-like login: %d", resp.StatusCode)
	}
}

// TestLoginLimitsBehindAProxy: behind a trusted reverse proxy each browser's failed logins
// count against the address X-Forwarded-For names, so one guessing browser does not lock
// out another; from a peer that is not trusted the header is ignored.
func TestLoginLimitsBehindAProxy(t *testing.T) {
	for _, trusted := range []bool{true, false} {
		t.Run(fmt.Sprint("trusted=", trusted), func(t *testing.T) {
			c := startConsole(t, func(cfg *Config) {
				cfg.LoginFailureLimit = 2
				if trusted {
					cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
				}
			})
			guesser, other := c.browser(), c.browser()
			guesser.forwardedFor, other.forwardedFor = "203.0.113.7", "198.51.100.9, 127.0.0.1"
			for i := range 2 { // a key each time, so only the address limit can trip
				if st, out, _ := guesser.login("AKIDGUESS"+strconv.Itoa(i), "guess"); st != http.StatusUnauthorized {
					t.Fatalf("guess %d: %d %v", i, st, out)
				}
			}
			if st, out, _ := guesser.login("AKIDGUESS2", "guess"); st != http.StatusTooManyRequests {
				t.Fatalf("third guess: %d %v, want 429", st, out)
			}
			st, out, _ := other.login(c.s3.AccessKey, c.s3.SecretKey)
			if trusted && st != http.StatusOK {
				t.Fatalf("another browser behind the proxy: %d %v, want logged in", st, out)
			}
			if !trusted && st != http.StatusTooManyRequests {
				t.Fatalf("another browser's header from an untrusted peer: %d %v, want the peer's limit (429)", st, out)
			}
		})
	}
}

// TestPolicyPagingAndPage: a bucket policy goes in, comes back and goes away; listings
// page; the page itself is served with a policy that lets it load only its own files.
func TestPolicyPagingAndPage(t *testing.T) {
	c := startConsole(t, nil)
	b := c.browser()
	b.login(c.s3.AccessKey, c.s3.SecretKey)
	b.call("POST", "/api/buckets", map[string]string{"name": "paged"}, b.csrf)
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::paged/*"}]}`
	if st, out, _ := b.call("PUT", "/api/buckets/paged/policy", map[string]string{"policy": policy}, b.csrf); st != http.StatusOK {
		t.Fatalf("put policy: %d %v", st, out)
	}
	if st, out, _ := b.call("GET", "/api/buckets/paged/policy", nil, ""); st != http.StatusOK || !strings.Contains(out["policy"].(string), "s3:GetObject") {
		t.Fatalf("get policy: %d %v", st, out)
	}
	if st, out, _ := b.call("PUT", "/api/buckets/paged/policy", map[string]string{"policy": "{not json"}, b.csrf); st != http.StatusBadRequest || !strings.Contains(out["error"].(string), "MalformedPolicy") {
		t.Fatalf("a malformed policy: %d %v", st, out)
	}
	if st, _, _ := b.call("DELETE", "/api/buckets/paged/policy", nil, b.csrf); st != http.StatusOK {
		t.Fatal(st)
	}
	if _, out, _ := b.call("GET", "/api/buckets/paged/policy", nil, ""); out["policy"] != "" {
		t.Fatalf("policy after delete: %v", out)
	}
	for i := range 5 {
		req, _ := http.NewRequest("PUT", c.web.URL+"/api/buckets/paged/upload?key=k"+strconv.Itoa(i), strings.NewReader("x"))
		req.Header.Set("X-CSRF-Token", b.csrf)
		resp, err := b.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	var keys []string
	token := ""
	for pages := 0; pages < 10; pages++ {
		_, out, _ := b.call("GET", "/api/buckets/paged/objects?max=2&token="+token, nil, "")
		for _, o := range out["objects"].([]any) {
			keys = append(keys, o.(map[string]any)["key"].(string))
		}
		next, _ := out["next_token"].(string)
		if next == "" {
			break
		}
		token = next
	}
	if strings.Join(keys, ",") != "k0,k1,k2,k3,k4" {
		t.Fatalf("paged listing: %v", keys)
	}
	resp, err := http.Get(c.web.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "/static/app.js") || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("the page: %s %q", page, resp.Header.Get("Content-Security-Policy"))
	}
}
