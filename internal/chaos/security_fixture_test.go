package chaos

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"stratus/internal/hlc"
	"stratus/internal/pki"
	metaclient "stratus/meta/client"
	objclient "stratus/objectd/client"
)

// securityFixture holds the certificates the suite presents and the state it checks.
type securityFixture struct {
	c *cluster
	// valid, otherCA, expired and revoked hold a certificate of each role: issued by this
	// cluster's CA, by another CA (a second `stratus ca init`), by this CA but expired, and
	// by this CA but on its revocation list.
	valid, otherCA, expired, revoked map[pki.Role]*tls.Certificate
	meta                             *metaclient.Client // as admin
	leader                           *metaNode
	followers                        []*metaNode

	victim        string // bucket/key of an object written through S3
	victimContent []byte
	victimTS      hlc.Timestamp
	snapshot      []byte // a catalog backup taken before the canary account was made
}

const canaryAccount = "canary"

func newSecurityFixture(t *testing.T, c *cluster) *securityFixture {
	f := &securityFixture{c: c, valid: map[pki.Role]*tls.Certificate{}, otherCA: map[pki.Role]*tls.Certificate{},
		expired: map[pki.Role]*tls.Certificate{}, revoked: map[pki.Role]*tls.Certificate{}}
	load := func(dir, name string) *tls.Certificate {
		t.Helper()
		cert, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"))
		if err != nil {
			t.Fatal(err)
		}
		return &cert
	}
	// This cluster's: the operator's admin certificate, the checker's proxy one, and one
	// each of meta, objectd and volumed that no daemon uses.
	f.valid[pki.RoleAdmin] = load(c.pkiDir, "admin")
	f.valid[pki.RoleProxy] = load(filepath.Join(c.pkiDir, "checker"), "checker")
	for _, r := range []pki.Role{pki.RoleMeta, pki.RoleObjectd, pki.RoleVolumed} {
		name := "intruder-" + string(r)
		f.valid[r] = load(c.issue(r, name, "127.0.0.1"), name)
	}
	// Another cluster's CA, with a certificate of every role.
	other := filepath.Join(c.dir, "other-ca")
	c.stratus("ca", "init", "--dir", other, "--name", "other")
	f.otherCA[pki.RoleAdmin] = load(other, "admin")
	for _, r := range []pki.Role{pki.RoleMeta, pki.RoleObjectd, pki.RoleProxy, pki.RoleVolumed} {
		name := "other-" + string(r)
		c.stratus("ca", "issue", "--dir", other, "--role", string(r), "--host", "127.0.0.1", name)
		f.otherCA[r] = load(other, name)
	}
	// Expired certificates of this CA, valid for an hour two days ago.
	ca, err := pki.LoadCA(c.pkiDir)
	if err != nil {
		t.Fatal(err)
	}
	expiredDir := filepath.Join(c.pkiDir, "expired")
	for _, r := range pki.Roles {
		name := "expired-" + string(r)
		req := pki.IssueRequest{Role: r, Name: name, Hosts: []string{"127.0.0.1"}, NotBefore: time.Now().Add(-48 * time.Hour), Validity: time.Hour}
		if err := ca.IssueTo(expiredDir, name, req); err != nil {
			t.Fatal(err)
		}
		f.expired[r] = load(expiredDir, name)
	}
	f.revoke(t, load)

	f.meta, err = metaclient.New(c.metaConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.meta.Close() })
	f.leader = c.leader()
	for _, m := range c.metas {
		if m != f.leader {
			f.followers = append(f.followers, m)
		}
	}

	// An object on the storage nodes, written through S3.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f.victimContent = []byte("the victim's content, " + strconv.FormatInt(time.Now().UnixNano(), 36))
	f.s3Put(t, ctx, "sec/victim", f.victimContent)
	if f.victim, err = c.storageName("sec/victim"); err != nil {
		t.Fatal(err)
	}
	// A quorum acknowledged it; wait for the third copy, so every primary can be checked.
	c.eventually(nil, 30*time.Second, func() error {
		var seen []hlc.Timestamp
		for _, tg := range f.targets(f.victim) {
			info, err := c.objc.Head(ctx, tg, f.victim)
			if err != nil {
				return fmt.Errorf("victim on %s: %w", tg, err)
			}
			seen = append(seen, info.Timestamp)
		}
		if slices.Min(seen) != slices.Max(seen) {
			return fmt.Errorf("primaries hold versions %v", seen)
		}
		f.victimTS = seen[0]
		return nil
	})

	// A backup, then an account it does not hold: a restore would remove the account.
	var buf bytes.Buffer
	if _, err := f.metaAt(f.leader).Backup(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	f.snapshot = buf.Bytes()
	if err := f.meta.CreateAccount(ctx, metaclient.Account{ID: canaryAccount, Name: canaryAccount}); err != nil {
		t.Fatal(err)
	}
	return f
}

// revoke issues a certificate of each role, revokes them all with `stratus ca revoke`,
// copies the CA's crl.pem into every daemon's directory, as an operator would, and waits
// until every meta and storage node refuses them (they reread the list within
// pki.ReloadInterval).
func (f *securityFixture) revoke(t *testing.T, load func(dir, name string) *tls.Certificate) {
	c := f.c
	dir := filepath.Join(c.pkiDir, "revoked")
	args := []string{"ca", "revoke", "--dir", c.pkiDir}
	for _, r := range pki.Roles {
		name := "revoked-" + string(r)
		c.stratus("ca", "issue", "--dir", c.pkiDir, "--role", string(r), "--host", "127.0.0.1", "--out", dir, name)
		f.revoked[r] = load(dir, name)
		args = append(args, filepath.Join(dir, name+".crt"))
	}
	c.stratus(args...)
	crl, err := os.ReadFile(filepath.Join(c.pkiDir, pki.CRLFile))
	if err != nil {
		t.Fatal(err)
	}
	var daemons []string
	for _, m := range c.metas {
		daemons = append(daemons, m.id)
	}
	for _, n := range c.nodes {
		daemons = append(daemons, n.name)
	}
	for i := range c.proxies {
		daemons = append(daemons, fmt.Sprintf("p%d", i))
	}
	for _, name := range daemons {
		if err := pki.WriteFiles(filepath.Join(c.pkiDir, name), map[string][]byte{pki.CRLFile: crl}); err != nil {
			t.Fatal(err)
		}
	}
	servers := map[string]pki.Role{}
	for _, m := range c.metas {
		servers[m.addr] = pki.RoleMeta
	}
	for _, n := range c.nodes {
		servers[n.addr] = pki.RoleObjectd
	}
	start := time.Now()
	for addr, role := range servers {
		c.eventually(nil, 3*pki.ReloadInterval, func() error {
			r, err := f.call(addr, role, f.revoked[pki.RoleAdmin], request{method: http.MethodGet, path: "/metrics"})
			if err != nil {
				return err
			}
			if r.status != http.StatusUnauthorized {
				return fmt.Errorf("%s %s serves a revoked certificate: %d", role, addr, r.status)
			}
			return nil
		})
	}
	t.Logf("every node refuses revoked certificates %.1fs after crl.pem was copied", time.Since(start).Seconds())
}

// metaAt returns an admin client of meta node m alone.
func (f *securityFixture) metaAt(m *metaNode) *metaclient.Client {
	mc, err := metaclient.New(f.c.metaConfig(m.addr))
	if err != nil {
		f.c.t.Fatal(err)
	}
	return mc
}

func (f *securityFixture) s3Put(t *testing.T, ctx context.Context, key string, content []byte) {
	t.Helper()
	if _, err := f.c.s3(0).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(content)}); err != nil {
		t.Fatalf("S3 put %s: %v", key, err)
	}
}

func (f *securityFixture) s3Get(ctx context.Context, key string) ([]byte, error) {
	out, err := f.c.s3(1).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// target returns the i-th primary of name in the current ring.
func (f *securityFixture) target(name string, i int) objclient.Target {
	return f.targets(name)[i]
}

func (f *securityFixture) targets(name string) []objclient.Target {
	r := f.c.ring()
	part := r.Partition(name)
	var ts []objclient.Target
	for _, d := range r.Primaries(part, nil) {
		ts = append(ts, objclient.Target{Host: d.Host, Device: d.Name, Partition: uint32(part)})
	}
	return ts
}

// credential is one way of calling: a certificate (nil: none) and the refusal it must get.
type credential struct {
	name   string
	cert   *tls.Certificate
	status int    // 401 or 403; 0 for a caller the endpoint serves
	code   string // wire code of the refusal
	reason string // what the refusal's message must say
}

// credentials lists the callers to try on an endpoint that serves allowed and refuses
// wrong: none, another CA's, an expired and a revoked certificate (each of role allowed, so
// that only the certificate's origin, age or revocation is wrong), each wrong role, and, if
// control, allowed itself, to show that the same request is served to the right caller.
func (f *securityFixture) credentials(allowed pki.Role, wrong []pki.Role, control bool) []credential {
	cs := []credential{
		{name: "no-cert", status: http.StatusUnauthorized, code: "unauthenticated", reason: "no client certificate"},
		{name: "other-ca-" + string(allowed), cert: f.otherCA[allowed], status: http.StatusUnauthorized, code: "unauthenticated", reason: "not issued by this cluster's CA"},
		{name: "expired-" + string(allowed), cert: f.expired[allowed], status: http.StatusUnauthorized, code: "unauthenticated", reason: "expired"},
		{name: "revoked-" + string(allowed), cert: f.revoked[allowed], status: http.StatusUnauthorized, code: "unauthenticated", reason: "revoked"},
	}
	for _, r := range wrong {
		cs = append(cs, credential{name: "role-" + string(r), cert: f.valid[r], status: http.StatusForbidden, code: "forbidden", reason: "may not"})
	}
	if control {
		cs = append(cs, credential{name: "allowed-" + string(allowed), cert: f.valid[allowed]})
	}
	return cs
}

// request is one HTTP call to make.
type request struct {
	method string
	path   string
	body   []byte
	header http.Header
}

// reply is what came back.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// call sends req to addr over a new TLS connection that presents cert (nil: none) and
// requires the server to hold a certificate of role server from this cluster's CA.
func (f *securityFixture) call(addr string, server pki.Role, cert *tls.Certificate, req request) (reply, error) {
	cfg := f.c.admin.ClientTLS(server) // for its roots and server check only
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		if cert == nil {
			return &tls.Certificate{}, nil
		}
		return cert, nil
	}
	// A transport of its own, so no connection is shared between certificates. Not
	// DisableKeepAlives: a server that refuses a request with "Connection: close" before
	// reading its body closes the connection without draining it, and the client may see
	// the reset of its write instead of the refusal.
	tr := &http.Transport{TLSClientConfig: cfg, ResponseHeaderTimeout: 10 * time.Second,
		DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, "https://"+addr+req.path, body)
	if err != nil {
		return reply{}, err
	}
	for k, vs := range req.header {
		hr.Header[k] = vs
	}
	resp, err := (&http.Client{Transport: tr}).Do(hr)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return reply{status: resp.StatusCode, header: resp.Header, body: data}, err
}

// endpoint is an internal HTTP endpoint and how to check that a refused call changed nothing.
type endpoint struct {
	name    string
	allowed pki.Role   // a role it serves (for the other-CA, expired and control calls)
	wrong   []pki.Role // roles it refuses
	control bool       // also call it as allowed (false where that would harm the cluster)
	// request builds the call; key is unique per subtest, for names it creates.
	request func(key string) request
	// unchanged checks, after a refused call, that nothing it asked for happened and that
	// the reply gave nothing away.
	unchanged func(t *testing.T, key string, r reply)
	// served checks the control call's reply.
	served func(t *testing.T, key string, r reply)
}

// subtestKey turns a subtest name into a key for names the call creates.
func subtestKey(t *testing.T) string {
	name := t.Name()
	if i := strings.Index(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	return strings.ToLower(strings.NewReplacer("/", "-", " ", "-").Replace(name))
}

// checkRefusal checks a refused reply's status, wire code and reason. Meta answers JSON
// with the code; storage nodes put the code in a header and the reason in a text body
// (HEAD replies carry no body).
func checkRefusal(t *testing.T, cr credential, r reply, method string) {
	t.Helper()
	if r.status != cr.status {
		t.Fatalf("status %d, want %d; body %q", r.status, cr.status, truncate(r.body))
	}
	msg := string(r.body)
	if code := r.header.Get(objclient.HeaderError); code != "" {
		if code != cr.code {
			t.Errorf("%s = %q, want %q", objclient.HeaderError, code, cr.code)
		}
	} else {
		var er metaclient.ErrorResponse
		if err := json.Unmarshal(r.body, &er); err != nil {
			t.Fatalf("reply is neither a storage node's nor meta's error: %q", truncate(r.body))
		}
		if er.Code != cr.code {
			t.Errorf("code %q, want %q", er.Code, cr.code)
		}
		msg = er.Message
	}
	if method == http.MethodHead {
		return
	}
	if !strings.Contains(msg, cr.reason) {
		t.Errorf("refusal %q does not say %q", msg, cr.reason)
	}
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// run calls each endpoint at addr with every credential, each as its own subtest.
func (f *securityFixture) run(t *testing.T, addr string, server pki.Role, eps []endpoint) {
	for _, ep := range eps {
		t.Run(ep.name, func(t *testing.T) {
			for _, cr := range f.credentials(ep.allowed, ep.wrong, ep.control) {
				t.Run(cr.name, func(t *testing.T) {
					key := subtestKey(t)
					req := ep.request(key)
					r, err := f.call(addr, server, cr.cert, req)
					if err != nil {
						t.Fatalf("%s %s: %v", req.method, req.path, err)
					}
					if cr.status == 0 {
						if r.status >= 300 && !(ep.name == "unknown-path" && r.status == http.StatusNotFound) {
							t.Fatalf("served caller got %d: %q", r.status, truncate(r.body))
						}
						if ep.served != nil {
							ep.served(t, key, r)
						}
						return
					}
					checkRefusal(t, cr, r, req.method)
					if ep.unchanged != nil {
						ep.unchanged(t, key, r)
					}
				})
			}
		})
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (f *securityFixture) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}
