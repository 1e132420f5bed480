package chaos

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
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

// TestSecurity is the acceptance test of the cluster's mutual TLS. Against a real
// multi-process cluster it calls every internal HTTP endpoint of meta (leader and follower)
// and of a storage node with no certificate, another CA's, an expired and a revoked one of
// this CA, and valid ones of roles the endpoint refuses; each must be refused (401/403, with
// a reply that says why) and leave the catalog and the storage nodes as they were. The
// same calls with a certificate the endpoint serves show that the requests were good. It
// also checks that generic reads never return a secret, that Raft takes only meta
// certificates, and that storage nodes refuse versions dated beyond their clock skew bound.
func TestSecurity(t *testing.T) {
	c := startCluster(t, clusterOptions{nodes: 3})
	f := newSecurityFixture(t, c)
	t.Run("meta", f.testMeta)
	t.Run("objectd", f.testObjectd)
	t.Run("healthz", f.testHealth)
	t.Run("secrets", f.testSecrets)
	t.Run("raft", f.testRaft)
	t.Run("future-timestamps", f.testFutureTimestamps)
}

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
	// each of meta and objectd that no daemon uses.
	f.valid[pki.RoleAdmin] = load(c.pkiDir, "admin")
	f.valid[pki.RoleProxy] = load(filepath.Join(c.pkiDir, "checker"), "checker")
	for _, r := range []pki.Role{pki.RoleMeta, pki.RoleObjectd} {
		name := "intruder-" + string(r)
		f.valid[r] = load(c.issue(r, name, "127.0.0.1"), name)
	}
	// Another cluster's CA, with a certificate of every role.
	other := filepath.Join(c.dir, "other-ca")
	c.stratus("ca", "init", "--dir", other, "--name", "other")
	f.otherCA[pki.RoleAdmin] = load(other, "admin")
	for _, r := range []pki.Role{pki.RoleMeta, pki.RoleObjectd, pki.RoleProxy} {
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
	f.victim = bucket + "/sec/victim"
	f.victimContent = []byte("the victim's content, " + strconv.FormatInt(time.Now().UnixNano(), 36))
	f.s3Put(t, ctx, "sec/victim", f.victimContent)
	info, err := c.objc.Head(ctx, f.target(f.victim, 0), f.victim)
	if err != nil {
		t.Fatalf("head the victim on its first primary: %v", err)
	}
	f.victimTS = info.Timestamp

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

// absent checks that table holds no key, reading as admin from the leader.
func (f *securityFixture) absent(t *testing.T, table, key string) {
	t.Helper()
	if it, err := f.meta.Get(f.ctx(t), table, key); !errors.Is(err, metaclient.ErrNotFound) {
		t.Errorf("%s/%s after a refused write: %v (value %q)", table, key, err, it.Value)
	}
}

// members checks that the meta membership is still m1, m2, m3, all voters.
func (f *securityFixture) members(t *testing.T) {
	t.Helper()
	st, err := f.metaAt(f.leader).Status(f.ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range st.Members {
		if m.Suffrage != "Voter" {
			t.Errorf("member %s is %s", m.ID, m.Suffrage)
		}
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	if want := []string{"m1", "m2", "m3"}; !slices.Equal(ids, want) {
		t.Errorf("members %v after a refused call, want %v", ids, want)
	}
}

// noItems checks that a refused read's reply holds no record.
func noItems(t *testing.T, _ string, r reply) {
	t.Helper()
	for _, field := range []string{`"item"`, `"items"`, `"events"`, `"value"`} {
		if bytes.Contains(r.body, []byte(field)) {
			t.Errorf("refused read returned %s: %q", field, truncate(r.body))
		}
	}
}

func (f *securityFixture) metaEndpoints() []endpoint {
	account := func(key string) metaclient.Op {
		return metaclient.Op{Kind: metaclient.OpPut, Table: metaclient.TableAccounts, Key: key,
			Value: mustJSON(metaclient.Account{ID: key, Name: key, CreatedAt: time.Now().UTC()}), Cond: metaclient.CondAbsent}
	}
	bucketOp := func(key string) metaclient.Op {
		return metaclient.Op{Kind: metaclient.OpPut, Table: metaclient.TableBuckets, Key: key,
			Value: mustJSON(metaclient.Bucket{Name: key, Owner: "chaos", CreatedAt: time.Now().UTC()}), Cond: metaclient.CondAbsent}
	}
	post := func(path string, v any) request {
		return request{method: http.MethodPost, path: path, body: mustJSON(v), header: http.Header{"Content-Type": {"application/json"}}}
	}
	get := func(path string) request { return request{method: http.MethodGet, path: path} }
	noSecret := func(t *testing.T, _ string, r reply) {
		t.Helper()
		if bytes.Contains(r.body, []byte(f.c.secretKey)) {
			t.Errorf("reply holds the secret key: %q", truncate(r.body))
		}
	}
	return []endpoint{{
		name: "apply", allowed: pki.RoleAdmin, wrong: []pki.Role{pki.RoleProxy, pki.RoleObjectd}, control: true,
		request: func(key string) request {
			return post(metaclient.PathApply, metaclient.ApplyRequest{ID: metaclient.NewRequestID(), Ops: []metaclient.Op{account(key)}})
		},
		unchanged: func(t *testing.T, key string, _ reply) { f.absent(t, metaclient.TableAccounts, key) },
		served: func(t *testing.T, key string, _ reply) {
			if _, err := f.meta.Account(f.ctx(t), key); err != nil {
				t.Errorf("account %s after a served apply: %v", key, err)
			}
		},
	}, {
		// The batch's first request writes a table proxies may write, its second one they
		// may not: the whole batch is refused.
		name: "apply-batch", allowed: pki.RoleAdmin, wrong: []pki.Role{pki.RoleProxy, pki.RoleObjectd}, control: true,
		request: func(key string) request {
			return post(metaclient.PathApplyBatch, metaclient.ApplyBatchRequest{Requests: []metaclient.ApplyRequest{
				{ID: metaclient.NewRequestID(), Ops: []metaclient.Op{bucketOp(key)}},
				{ID: metaclient.NewRequestID(), Ops: []metaclient.Op{account(key)}},
			}})
		},
		unchanged: func(t *testing.T, key string, _ reply) {
			f.absent(t, metaclient.TableBuckets, key)
			f.absent(t, metaclient.TableAccounts, key)
		},
		served: func(t *testing.T, key string, r reply) {
			var resp metaclient.ApplyBatchResponse
			if err := json.Unmarshal(r.body, &resp); err != nil || len(resp.Results) != 2 || resp.Results[0].Error != nil || resp.Results[1].Error != nil {
				t.Errorf("served batch: %v %q", err, truncate(r.body))
			}
			if _, err := f.meta.Account(f.ctx(t), key); err != nil {
				t.Errorf("account %s after a served batch: %v", key, err)
			}
		},
	}, {
		name: "get", allowed: pki.RoleAdmin, wrong: []pki.Role{pki.RoleObjectd}, control: true,
		request: func(string) request {
			return post(metaclient.PathGet, metaclient.GetRequest{Table: metaclient.TableBuckets, Key: bucket})
		},
		unchanged: noItems,
		served: func(t *testing.T, _ string, r reply) {
			var resp metaclient.GetResponse
			if err := json.Unmarshal(r.body, &resp); err != nil || resp.Item.Key != bucket {
				t.Errorf("served get: %v %q", err, truncate(r.body))
			}
		},
	}, {
		name: "list", allowed: pki.RoleAdmin, wrong: []pki.Role{pki.RoleObjectd}, control: true,
		request: func(string) request {
			return post(metaclient.PathList, metaclient.ListRequest{Table: metaclient.TableAccessKeys})
		},
		unchanged: noItems,
		served: func(t *testing.T, key string, r reply) {
			var resp metaclient.ListResponse
			if err := json.Unmarshal(r.body, &resp); err != nil || len(resp.Items) == 0 {
				t.Errorf("served list: %v %q", err, truncate(r.body))
			}
			noSecret(t, key, r)
		},
	}, {
		name: "watch", allowed: pki.RoleAdmin, wrong: []pki.Role{pki.RoleObjectd}, control: true,
		request: func(string) request {
			return post(metaclient.PathWatch, metaclient.WatchRequest{Table: metaclient.TableAccounts, WaitSeconds: 0.1})
		},
		unchanged: noItems,
	}, {
		// A voter that does not exist would cost the cluster its quorum margin.
		name: "join", allowed: pki.RoleAdmin, wrong: []pki.Role{pki.RoleProxy, pki.RoleObjectd},
		request: func(key string) request {
			return post(metaclient.PathJoin, metaclient.JoinRequest{ID: key, Addr: "127.0.0.99:7400"})
		},
		unchanged: func(t *testing.T, _ string, _ reply) { f.members(t) },
	}, {
		name: "remove", allowed: pki.RoleAdmin, wrong: []pki.Role{pki.RoleProxy, pki.RoleObjectd},
		request: func(string) request {
			return post(metaclient.PathRemove, metaclient.RemoveRequest{ID: f.followers[1].id})
		},
		unchanged: func(t *testing.T, _ string, _ reply) { f.members(t) },
	}, {
		// Every role may read the status: only certificates themselves are refused.
		name: "status", allowed: pki.RoleAdmin, control: true,
		request: func(string) request { return get(metaclient.PathStatus) },
		unchanged: func(t *testing.T, _ string, r reply) {
			if bytes.Contains(r.body, []byte(`"members"`)) {
				t.Errorf("refused status returned it: %q", truncate(r.body))
			}
		},
	}, {
		name: "snapshot", allowed: pki.RoleAdmin, wrong: []pki.Role{pki.RoleProxy, pki.RoleObjectd}, control: true,
		request: func(string) request { return get(metaclient.PathSnapshot) },
		unchanged: func(t *testing.T, _ string, r reply) {
			if len(r.body) > 4<<10 {
				t.Errorf("refused snapshot returned %d bytes", len(r.body))
			}
		},
		served: func(t *testing.T, key string, r reply) {
			if len(r.body) < 1<<10 {
				t.Errorf("served snapshot of %d bytes", len(r.body))
			}
			noSecret(t, key, r)
		},
	}, {
		// A restore of the backup taken before the canary account would remove it.
		name: "restore", allowed: pki.RoleAdmin, wrong: []pki.Role{pki.RoleProxy, pki.RoleObjectd},
		request: func(string) request {
			return request{method: http.MethodPost, path: metaclient.PathRestore, body: f.snapshot}
		},
		unchanged: func(t *testing.T, _ string, _ reply) {
			if _, err := f.meta.Account(f.ctx(t), canaryAccount); err != nil {
				t.Errorf("account %s after a refused restore: %v", canaryAccount, err)
			}
		},
	}, {
		name: "secret", allowed: pki.RoleProxy, wrong: []pki.Role{pki.RoleAdmin, pki.RoleObjectd}, control: true,
		request: func(string) request {
			return post(metaclient.PathSecret, metaclient.SecretRequest{AccessKey: f.c.accessKey})
		},
		unchanged: noSecret,
		served: func(t *testing.T, _ string, r reply) {
			var k metaclient.AccessKey
			if err := json.Unmarshal(r.body, &k); err != nil || k.Secret != f.c.secretKey {
				t.Errorf("served secret call: %v (the secret %s)", err, map[bool]string{true: "matches", false: "does not match"}[k.Secret == f.c.secretKey])
			}
		},
	}, {
		// Any cluster certificate may read metrics.
		name: "metrics", allowed: pki.RoleAdmin, control: true,
		request: func(string) request { return get("/metrics") },
		unchanged: func(t *testing.T, _ string, r reply) {
			if bytes.Contains(r.body, []byte("stratus_meta")) {
				t.Errorf("refused metrics call returned them: %q", truncate(r.body))
			}
		},
	}}
}

// testMeta calls every meta endpoint on the leader and on a follower (which must refuse
// before it forwards anything to the leader as itself).
func (f *securityFixture) testMeta(t *testing.T) {
	eps := f.metaEndpoints()
	for _, n := range []struct {
		name string
		m    *metaNode
	}{{"leader", f.leader}, {"follower", f.followers[0]}} {
		t.Run(n.name, func(t *testing.T) { f.run(t, n.m.addr, pki.RoleMeta, eps) })
	}
}

func (f *securityFixture) objectdEndpoints() []endpoint {
	victimTarget := f.target(f.victim, 0)
	objectPath := func(t objclient.Target, name string) string {
		return fmt.Sprintf("/v1/object/%s/%d/%s", t.Device, t.Partition, objclient.EncodeName(name))
	}
	partPath := func(verb string, t objclient.Target) string {
		return fmt.Sprintf("/v1/%s/%s/%d", verb, t.Device, t.Partition)
	}
	intruder := func(key string) string { return bucket + "/sec/" + key }
	// intruderTarget is where a call creating intruder(key) goes: its partition, on the
	// node called (which serves any partition of its devices).
	intruderTarget := func(key string) objclient.Target {
		return objclient.Target{Host: victimTarget.Host, Device: victimTarget.Device, Partition: uint32(f.c.ring().Partition(intruder(key)))}
	}
	// nowhere checks that neither the node called nor any primary holds the name.
	nowhere := func(t *testing.T, key string, _ reply) {
		t.Helper()
		name := intruder(key)
		for _, tg := range append(f.targets(name), intruderTarget(key)) {
			if info, err := f.c.objc.Head(f.ctx(t), tg, name); !errors.Is(err, objclient.ErrNotFound) {
				t.Errorf("%s on %s after a refused write: %v (version %v)", name, tg, err, info.Timestamp)
			}
		}
	}
	stored := func(t *testing.T, key string, _ reply) {
		t.Helper()
		name := intruder(key)
		if _, err := f.c.objc.Head(f.ctx(t), intruderTarget(key), name); err != nil {
			t.Errorf("%s after a served write: %v", name, err)
		}
	}
	// victimIntact checks that the victim's first primary still serves its content and
	// version, and that its reply gave nothing of it away.
	victimIntact := func(t *testing.T, _ string, r reply) {
		t.Helper()
		if bytes.Contains(r.body, f.victimContent) || r.header.Get(objclient.HeaderChecksum) != "" {
			t.Errorf("refused call returned the victim's content or metadata")
		}
		obj, err := f.c.objc.Get(f.ctx(t), victimTarget, f.victim, nil)
		if err != nil {
			t.Fatalf("victim after a refused call: %v", err)
		}
		defer obj.Body.Close()
		data, err := io.ReadAll(obj.Body)
		if err != nil || !bytes.Equal(data, f.victimContent) || obj.Info.Timestamp != f.victimTS {
			t.Errorf("victim after a refused call: %v, version %v (want %v), content intact %v", err, obj.Info.Timestamp, f.victimTS, bytes.Equal(data, f.victimContent))
		}
	}
	notJSON := func(t *testing.T, _ string, r reply) {
		t.Helper()
		if bytes.HasPrefix(bytes.TrimSpace(r.body), []byte("{")) {
			t.Errorf("refused call answered JSON: %q", truncate(r.body))
		}
	}
	content := []byte("an intruder's content")
	putRequest := func(key string) request {
		name := intruder(key)
		return request{method: http.MethodPut, path: objectPath(intruderTarget(key), name), body: content, header: http.Header{
			objclient.HeaderTimestamp: {hlc.FromTime(time.Now()).String()},
			objclient.HeaderLength:    {strconv.Itoa(len(content))},
			objclient.HeaderChecksum:  {objclient.ChecksumOf(content).String()},
		}}
	}
	objectRefused := []pki.Role{pki.RoleAdmin, pki.RoleMeta}
	replicationRefused := []pki.Role{pki.RoleProxy, pki.RoleAdmin}
	return []endpoint{{
		name: "put", allowed: pki.RoleProxy, wrong: objectRefused, control: true,
		request: putRequest, unchanged: nowhere, served: stored,
	}, {
		name: "get", allowed: pki.RoleProxy, wrong: objectRefused, control: true,
		request: func(string) request {
			return request{method: http.MethodGet, path: objectPath(victimTarget, f.victim)}
		},
		unchanged: victimIntact,
		served: func(t *testing.T, _ string, r reply) {
			if !bytes.Equal(r.body, f.victimContent) {
				t.Errorf("served get returned %q", truncate(r.body))
			}
		},
	}, {
		name: "head", allowed: pki.RoleProxy, wrong: objectRefused, control: true,
		request: func(string) request {
			return request{method: http.MethodHead, path: objectPath(victimTarget, f.victim)}
		},
		unchanged: victimIntact,
		served: func(t *testing.T, _ string, r reply) {
			if r.header.Get(objclient.HeaderTimestamp) != f.victimTS.String() {
				t.Errorf("served head: version %q", r.header.Get(objclient.HeaderTimestamp))
			}
		},
	}, {
		// A tombstone dated now would delete the victim; the control deletes another name.
		name: "delete", allowed: pki.RoleProxy, wrong: objectRefused, control: true,
		request: func(key string) request {
			tg, name := victimTarget, f.victim
			if strings.HasSuffix(key, "allowed-"+string(pki.RoleProxy)) {
				name = intruder(key)
				tg = intruderTarget(key)
			}
			return request{method: http.MethodDelete, path: objectPath(tg, name),
				header: http.Header{objclient.HeaderTimestamp: {hlc.FromTime(time.Now()).String()}}}
		},
		unchanged: victimIntact,
	}, {
		name: "hashes", allowed: pki.RoleObjectd, wrong: replicationRefused, control: true,
		request: func(string) request {
			return request{method: http.MethodGet, path: partPath("hashes", victimTarget)}
		},
		unchanged: notJSON,
		served: func(t *testing.T, _ string, r reply) {
			var h objclient.SuffixHashes
			if err := json.Unmarshal(r.body, &h); err != nil || len(h) == 0 {
				t.Errorf("served hashes: %v %q", err, truncate(r.body))
			}
		},
	}, {
		// An offer answered would make the node promise the version to the caller for a
		// while, and its other primaries skip it.
		name: "missing", allowed: pki.RoleObjectd, wrong: replicationRefused, control: true,
		request: func(key string) request {
			sum := md5.Sum([]byte(intruder(key)))
			return request{method: http.MethodPost, path: partPath("missing", victimTarget), body: mustJSON(objclient.MissingRequest{
				Offers: []objclient.Offer{{Hash: hex.EncodeToString(sum[:]), Timestamp: hlc.FromTime(time.Now())}}})}
		},
		unchanged: notJSON,
		served: func(t *testing.T, _ string, r reply) {
			var resp objclient.MissingResponse
			if err := json.Unmarshal(r.body, &resp); err != nil || len(resp.Want) != 1 {
				t.Errorf("served missing: %v %q", err, truncate(r.body))
			}
		},
	}, {
		name: "push", allowed: pki.RoleObjectd, wrong: replicationRefused, control: true,
		request: func(key string) request {
			name := intruder(key)
			return request{method: http.MethodPost, path: partPath("push", intruderTarget(key)),
				body: pushBody(name, hlc.FromTime(time.Now()), content)}
		},
		unchanged: nowhere,
		served: func(t *testing.T, key string, r reply) {
			var res objclient.PushResult
			if err := json.Unmarshal(r.body, &res); err != nil || res.Stored != 1 {
				t.Errorf("served push: %v %q", err, truncate(r.body))
			}
			stored(t, key, r)
		},
	}, {
		// Any cluster certificate may read metrics.
		name: "metrics", allowed: pki.RoleAdmin, control: true,
		request: func(string) request { return request{method: http.MethodGet, path: objclient.PathMetrics} },
		unchanged: func(t *testing.T, _ string, r reply) {
			if bytes.Contains(r.body, []byte("stratus_objectd")) {
				t.Errorf("refused metrics call returned them: %q", truncate(r.body))
			}
		},
	}, {
		// A path the node does not serve: a stranger is not told which paths exist.
		name: "unknown-path", allowed: pki.RoleAdmin, control: true,
		request: func(string) request { return request{method: http.MethodGet, path: "/v1/nothing-here"} },
	}}
}

// pushBody is a push stream of one data record.
func pushBody(name string, ts hlc.Timestamp, content []byte) []byte {
	rec := objclient.Record{Kind: objclient.KindData, Info: objclient.Info{Name: name, Timestamp: ts,
		Length: int64(len(content)), Checksum: objclient.ChecksumOf(content)}}
	hdr, err := rec.MarshalBinary()
	if err != nil {
		panic(err)
	}
	return append(hdr, content...)
}

// testObjectd calls every endpoint of the victim's first primary, through its link (the
// address in the ring).
func (f *securityFixture) testObjectd(t *testing.T) {
	f.run(t, f.target(f.victim, 0).Host, pki.RoleObjectd, f.objectdEndpoints())
}

// testHealth checks that the health checks need no certificate and say nothing more.
func (f *securityFixture) testHealth(t *testing.T) {
	for _, tc := range []struct {
		role pki.Role
		addr string
	}{
		{pki.RoleMeta, f.leader.addr}, {pki.RoleObjectd, f.target(f.victim, 0).Host},
	} {
		t.Run(string(tc.role), func(t *testing.T) {
			r, err := f.call(tc.addr, tc.role, nil, request{method: http.MethodGet, path: "/healthz"})
			if err != nil {
				t.Fatal(err)
			}
			if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != "ok" {
				t.Errorf("healthz without a certificate: %d %q", r.status, truncate(r.body))
			}
		})
	}
}

// testSecrets checks that no generic read returns a secret: not the operator's key list, not
// a proxy's, not a follower's stale read, not a backup; only the secret call does.
func (f *securityFixture) testSecrets(t *testing.T) {
	c := f.c
	checkItems := func(t *testing.T, items []metaclient.Item) {
		t.Helper()
		if len(items) == 0 {
			t.Fatal("no access keys listed")
		}
		for _, it := range items {
			var k metaclient.AccessKey
			if err := json.Unmarshal(it.Value, &k); err != nil {
				t.Fatalf("access key %s: %v", it.Key, err)
			}
			if k.Secret != "" || bytes.Contains(it.Value, []byte(c.secretKey)) {
				t.Errorf("access key %s listed with its secret", it.Key)
			}
		}
	}
	proxyCfg := c.metaConfig()
	proxyCfg.TLS = c.checkerID.ClientTLS(pki.RoleMeta)
	asProxy, err := metaclient.New(proxyCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer asProxy.Close()
	follower := f.metaAt(f.followers[0])
	defer follower.Close()

	for _, tc := range []struct {
		name string
		mc   *metaclient.Client
		opts []metaclient.ReadOption
	}{
		{"list-as-admin", f.meta, nil},
		{"list-as-proxy", asProxy, nil},
		{"stale-list-on-follower", follower, []metaclient.ReadOption{metaclient.Stale()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items, _, err := tc.mc.List(f.ctx(t), metaclient.TableAccessKeys, "", "", 0, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			checkItems(t, items)
			it, err := tc.mc.Get(f.ctx(t), metaclient.TableAccessKeys, c.accessKey, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			checkItems(t, []metaclient.Item{it})
		})
	}
	t.Run("key-list-command", func(t *testing.T) {
		out := c.stratus("key", "list", "--meta", c.metaList())
		if !strings.Contains(out, c.accessKey) || strings.Contains(out, c.secretKey) {
			t.Errorf("stratus key list: lists the key %v, shows the secret %v:\n%s",
				strings.Contains(out, c.accessKey), strings.Contains(out, c.secretKey), out)
		}
	})
	t.Run("backup", func(t *testing.T) {
		if bytes.Contains(f.snapshot, []byte(c.secretKey)) {
			t.Error("a catalog backup holds the secret in the clear")
		}
	})
	t.Run("secret-call-as-proxy", func(t *testing.T) {
		k, err := asProxy.AccessKeySecret(f.ctx(t), c.accessKey)
		if err != nil || k.Secret != c.secretKey {
			t.Errorf("secret call as a proxy: %v (matches %v)", err, k.Secret == c.secretKey)
		}
	})
	t.Run("secret-call-as-admin", func(t *testing.T) {
		if _, err := f.meta.AccessKeySecret(f.ctx(t), c.accessKey); !errors.Is(err, metaclient.ErrForbidden) {
			t.Errorf("secret call as admin: %v, want ErrForbidden", err)
		}
	})
}

// raftProto is the ALPN protocol a meta node routes to Raft.
const raftProto = "stratus-raft/1"

// testRaft opens Raft connections to the leader: a meta certificate's stays open, any other
// (or none) is dropped right after the handshake.
func (f *securityFixture) testRaft(t *testing.T) {
	cases := []struct {
		name    string
		cert    *tls.Certificate
		dropped bool
	}{
		{"no-cert", nil, true},
		{"other-ca-meta", f.otherCA[pki.RoleMeta], true},
		{"expired-meta", f.expired[pki.RoleMeta], true},
		{"revoked-meta", f.revoked[pki.RoleMeta], true},
		{"role-admin", f.valid[pki.RoleAdmin], true},
		{"role-proxy", f.valid[pki.RoleProxy], true},
		{"role-objectd", f.valid[pki.RoleObjectd], true},
		{"allowed-meta", f.valid[pki.RoleMeta], false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := f.c.admin.ClientTLS(pki.RoleMeta)
			cfg.NextProtos = []string{raftProto}
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				if tc.cert == nil {
					return &tls.Certificate{}, nil
				}
				return tc.cert, nil
			}
			d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 2 * time.Second}, Config: cfg}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, err := d.DialContext(ctx, "tcp", f.leader.addr)
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			defer conn.Close()
			if p := conn.(*tls.Conn).ConnectionState().NegotiatedProtocol; p != raftProto {
				t.Fatalf("negotiated %q, want %q", p, raftProto)
			}
			// A refused connection is closed at once; an accepted one waits for an RPC.
			wait := 5 * time.Second
			if !tc.dropped {
				wait = 500 * time.Millisecond
			}
			conn.SetReadDeadline(time.Now().Add(wait))
			_, err = conn.Read(make([]byte, 1))
			var ne net.Error
			timedOut := errors.As(err, &ne) && ne.Timeout()
			switch {
			case tc.dropped && (err == nil || timedOut):
				t.Errorf("connection not dropped within %v (read: %v)", wait, err)
			case !tc.dropped && !timedOut:
				t.Errorf("a meta certificate's Raft connection was dropped: %v", err)
			}
		})
	}
}

// testFutureTimestamps writes and deletes the victim with a timestamp an hour ahead, with
// valid certificates, on every primary: each refuses it. Then a write through S3 wins.
func (f *securityFixture) testFutureTimestamps(t *testing.T) {
	c := f.c
	future := hlc.FromTime(time.Now().Add(time.Hour))
	objectdCfg := objclient.Config{Timeout: 5 * time.Second}
	id, err := pki.Load(pki.InDir(filepath.Join(c.pkiDir, "intruder-objectd"), "intruder-objectd"))
	if err != nil {
		t.Fatal(err)
	}
	objectdCfg.TLS = id.ClientTLS(pki.RoleObjectd)
	clients := []struct {
		role pki.Role
		cl   *objclient.Client
	}{{pki.RoleProxy, c.objc}, {pki.RoleObjectd, objclient.New(objectdCfg)}}
	body := []byte("from the future")
	for _, tg := range f.targets(f.victim) {
		for _, cl := range clients {
			t.Run(fmt.Sprintf("put-as-%s-on-%s", cl.role, tg.Host), func(t *testing.T) {
				sum := objclient.ChecksumOf(body)
				err := cl.cl.Put(f.ctx(t), tg, objclient.PutRequest{Name: f.victim, Timestamp: future, Length: int64(len(body)), Checksum: &sum}, bytes.NewReader(body))
				if !errors.Is(err, objclient.ErrFutureTimestamp) {
					t.Errorf("future put: %v, want ErrFutureTimestamp", err)
				}
			})
			t.Run(fmt.Sprintf("delete-as-%s-on-%s", cl.role, tg.Host), func(t *testing.T) {
				if err := cl.cl.Delete(f.ctx(t), tg, f.victim, future); !errors.Is(err, objclient.ErrFutureTimestamp) {
					t.Errorf("future delete: %v, want ErrFutureTimestamp", err)
				}
			})
		}
		t.Run("push-tombstone-on-"+tg.Host, func(t *testing.T) {
			rec := objclient.Record{Kind: objclient.KindTombstone, Info: objclient.Info{Name: f.victim, Timestamp: future}}
			hdr, err := rec.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			res, err := clients[1].cl.Push(f.ctx(t), tg, func(w io.Writer) error { _, err := w.Write(hdr); return err })
			if err != nil || res.Refused != 1 || res.Stored != 0 {
				t.Errorf("future tombstone pushed: %+v, %v; want it refused", res, err)
			}
		})
	}
	t.Run("victim-intact", func(t *testing.T) {
		for _, tg := range f.targets(f.victim) {
			info, err := c.objc.Head(f.ctx(t), tg, f.victim)
			if err != nil || info.Timestamp != f.victimTS {
				t.Errorf("victim on %s: version %v, %v; want %v", tg, info.Timestamp, err, f.victimTS)
			}
		}
		got, err := f.s3Get(f.ctx(t), "sec/victim")
		if err != nil || !bytes.Equal(got, f.victimContent) {
			t.Errorf("S3 get of the victim: %v, content intact %v", err, bytes.Equal(got, f.victimContent))
		}
	})
	t.Run("later-s3-write-wins", func(t *testing.T) {
		next := make([]byte, 64)
		rand.Read(next)
		f.s3Put(t, f.ctx(t), "sec/victim", next)
		got, err := f.s3Get(f.ctx(t), "sec/victim")
		if err != nil || !bytes.Equal(got, next) {
			t.Fatalf("S3 get after the new write: %v, new content %v", err, bytes.Equal(got, next))
		}
		// Every primary converges on the new version, which is not from the future.
		c.eventually(nil, 30*time.Second, func() error {
			for _, tg := range f.targets(f.victim) {
				obj, err := c.objc.Get(f.ctx(t), tg, f.victim, nil)
				if err != nil {
					return fmt.Errorf("%s: %w", tg, err)
				}
				data, err := io.ReadAll(obj.Body)
				obj.Body.Close()
				if err != nil || !bytes.Equal(data, next) {
					return fmt.Errorf("%s holds version %v, not the new write (%v)", tg, obj.Info.Timestamp, err)
				}
				if obj.Info.Timestamp.Time().After(time.Now().Add(time.Minute)) {
					return fmt.Errorf("%s holds version %v, from the future", tg, obj.Info.Timestamp)
				}
			}
			return nil
		})
	})
}
