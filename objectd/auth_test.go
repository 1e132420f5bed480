package objectd

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"stratus/internal/pki"
	"stratus/objectd/client"
)

// trust is a cluster CA with an identity of every kind the tests need, plus certificates
// the node must refuse.
type trust struct {
	dir            string
	node1, node2   *pki.Identity // storage nodes, certificates for 127.0.0.1
	proxy, admin   *pki.Identity
	volumed        *pki.Identity
	otherCA        tls.Certificate // a storage node's, from an unrelated CA
	expired        tls.Certificate // a storage node's from this CA, expired yesterday
	proxyC, adminC tls.Certificate // the proxy's and admin's, as a TLS client presents them
	volumedC       tls.Certificate
	node1C, node2C tls.Certificate
}

func newTrust(t *testing.T) *trust {
	t.Helper()
	tr := &trust{dir: t.TempDir()}
	ids, err := pki.Ensure(tr.dir, "test",
		pki.IssueRequest{Role: pki.RoleObjectd, Name: "n1", Hosts: []string{"127.0.0.1"}},
		pki.IssueRequest{Role: pki.RoleObjectd, Name: "n2", Hosts: []string{"127.0.0.1"}},
		pki.IssueRequest{Role: pki.RoleProxy, Name: "p1", Hosts: []string{"127.0.0.1"}}, // the impostor server uses it
		pki.IssueRequest{Role: pki.RoleAdmin, Name: "a1"},
		pki.IssueRequest{Role: pki.RoleVolumed, Name: "v1"},
	)
	if err != nil {
		t.Fatal(err)
	}
	tr.node1, tr.node2, tr.proxy, tr.admin, tr.volumed = ids[0], ids[1], ids[2], ids[3], ids[4]
	otherDir := t.TempDir()
	if _, err := pki.Ensure(otherDir, "other", pki.IssueRequest{Role: pki.RoleObjectd, Name: "n1"}); err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadCA(tr.dir)
	if err != nil {
		t.Fatal(err)
	}
	err = ca.IssueTo(tr.dir, "old", pki.IssueRequest{Role: pki.RoleObjectd, Name: "old",
		NotBefore: time.Now().Add(-48 * time.Hour), Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// pki.Load refuses an expired identity of its own, so the expired client's pair is
	// loaded as is.
	tr.otherCA = keyPair(t, otherDir, "n1")
	tr.expired = keyPair(t, tr.dir, "old")
	tr.proxyC, tr.adminC = keyPair(t, tr.dir, "p1"), keyPair(t, tr.dir, "a1")
	tr.volumedC = keyPair(t, tr.dir, "v1")
	tr.node1C, tr.node2C = keyPair(t, tr.dir, "n1"), keyPair(t, tr.dir, "n2")
	return tr
}

func keyPair(t *testing.T, dir, name string) tls.Certificate {
	t.Helper()
	f := pki.InDir(dir, name)
	c, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// presenting returns a client configuration that checks the server is a storage node of
// this cluster and presents cert (nil: no certificate at all).
func (tr *trust) presenting(cert *tls.Certificate) *tls.Config {
	c := tr.proxy.ClientTLS(pki.RoleObjectd)
	c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		if cert == nil {
			return &tls.Certificate{}, nil
		}
		return cert, nil
	}
	return c
}

// call sends one raw request and returns the response with its body read.
func call(t *testing.T, hc *http.Client, method, url string, header http.Header, body []byte) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctxT(t), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// tlsClient returns an HTTP client presenting cert (nil: none); its connections are closed
// when the test ends.
func (tr *trust) tlsClient(t *testing.T, cert *tls.Certificate) *http.Client {
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tr.presenting(cert)}}
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

// endpoint is one route of the node's API, with a request that would change the store or
// reveal what it holds if it were allowed.
type endpoint struct {
	name   string
	method string
	path   string
	header http.Header
	body   func() []byte
	// allowed are the certificates the route accepts.
	allowed []string
}

func endpoints(t *testing.T) []endpoint {
	t.Helper()
	tg := client.Target{Device: "d1", Partition: 3}
	obj := "/v1/object/d1/3/" + client.EncodeName("k")
	snapObj := "/v1/object/d1/3/" + client.EncodeName(client.SnapshotNamePrefix+"chunk/x")
	snapRoles := []string{"proxy", "node", "volumed"}
	newObj := "/v1/object/d1/3/" + client.EncodeName("new")
	content := []byte("intruder")
	putHdr := http.Header{}
	client.SetInfoHeaders(putHdr, &client.Info{Timestamp: ts(50), Length: int64(len(content)), Checksum: client.ChecksumOf(content)})
	rec := client.Record{Kind: client.KindData, Info: client.Info{Name: "pushed", Timestamp: ts(50),
		Length: int64(len(content)), Checksum: client.ChecksumOf(content)}}
	hdr, err := rec.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	missing, _ := json.Marshal(client.MissingRequest{Offers: []client.Offer{{Hash: nameHash("pushed"), Timestamp: ts(50)}}})
	objectRoles := []string{"proxy", "node"}
	// Chunk calls aim at chunk "c" (written before) and "new"; each would change or reveal
	// it if allowed, with a generation high enough to pass the fence.
	chunkRoles := []string{"volumed", "node"}
	chunk := "/d1/3/" + client.EncodeName("c")
	chunkHdr := func(kv ...string) http.Header {
		h := http.Header{client.HeaderChunkGeneration: {"9"}, client.HeaderChunkSequence: {"99"}, client.HeaderChunkOffset: {"0"}}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	block := bytes.Repeat([]byte("x"), client.ChunkBlockSize)
	frame, err := client.AppendChunkBlock(nil, client.ChunkBlock{Offset: 0, Sequence: 99, Data: block})
	if err != nil {
		t.Fatal(err)
	}
	flush, _ := json.Marshal(client.ChunkFlushRequest{Chunks: []client.ChunkRef{{Partition: 3, Name: "c"}}})
	chunkMissing, _ := json.Marshal(client.ChunkMissingRequest{Chunks: []client.ChunkOffer{{Hash: nameHash("c"), Fence: 9}}})
	return []endpoint{
		{name: "chunk write", method: "PUT", path: "/v1/chunk" + chunk, header: chunkHdr(), body: func() []byte { return block }, allowed: chunkRoles},
		{name: "chunk create", method: "PUT", path: "/v1/chunk/d1/3/" + client.EncodeName("new"), header: chunkHdr(), body: func() []byte { return block }, allowed: chunkRoles},
		{name: "chunk read", method: "GET", path: "/v1/chunk" + chunk, header: chunkHdr(client.HeaderChunkLength, "4096"), allowed: chunkRoles},
		{name: "chunk delete", method: "DELETE", path: "/v1/chunk" + chunk, header: chunkHdr(), allowed: chunkRoles},
		{name: "chunk meta", method: "GET", path: "/v1/chunk-meta" + chunk, allowed: chunkRoles},
		{name: "chunk blocks", method: "GET", path: "/v1/chunk-blocks" + chunk, allowed: chunkRoles},
		{name: "chunk zero", method: "POST", path: "/v1/chunk-zero" + chunk, header: chunkHdr(client.HeaderChunkLength, "4096"), allowed: chunkRoles},
		{name: "chunk repair", method: "POST", path: "/v1/chunk-repair" + chunk, header: chunkHdr(), body: func() []byte { return frame }, allowed: chunkRoles},
		{name: "chunk flush", method: "POST", path: "/v1/chunk-flush/d1", body: func() []byte { return flush }, allowed: chunkRoles},
		{name: "put", method: "PUT", path: newObj, header: putHdr, body: func() []byte { return content }, allowed: objectRoles},
		{name: "put over", method: "PUT", path: obj, header: putHdr, body: func() []byte { return content }, allowed: objectRoles},
		{name: "get", method: "GET", path: obj, allowed: objectRoles},
		{name: "head", method: "HEAD", path: obj, allowed: objectRoles},
		{name: "delete", method: "DELETE", path: obj, header: http.Header{client.HeaderTimestamp: {ts(50).String()}}, allowed: objectRoles},
		{name: "snapshot put", method: "PUT", path: snapObj, header: putHdr, body: func() []byte { return content }, allowed: snapRoles},
		{name: "snapshot get", method: "GET", path: snapObj, allowed: snapRoles},
		{name: "snapshot delete", method: "DELETE", path: snapObj, header: http.Header{client.HeaderTimestamp: {ts(50).String()}}, allowed: snapRoles},
		{name: "hashes", method: "GET", path: "/v1/hashes/" + tg.Device + "/3", allowed: []string{"node"}},
		{name: "missing", method: "POST", path: "/v1/missing/d1/3", body: func() []byte { return missing }, allowed: []string{"node"}},
		{name: "chunk missing", method: "POST", path: "/v1/chunk-missing/d1/3", body: func() []byte { return chunkMissing }, allowed: []string{"node"}},
		{name: "push", method: "POST", path: "/v1/push/d1/3", body: func() []byte { return append(bytes.Clone(hdr), content...) }, allowed: []string{"node"}},
		{name: "metrics", method: "GET", path: "/metrics", allowed: []string{"proxy", "node", "admin", "volumed"}},
		{name: "unknown path", method: "GET", path: "/v1/nothing", allowed: []string{"proxy", "node", "admin", "volumed"}},
	}
}

// TestCallerChecks calls every route with every kind of bad certificate and checks that
// each is refused with the right status, code and reason, and that the store is exactly
// as it was.
func TestCallerChecks(t *testing.T) {
	tr := newTrust(t)
	n := startNode(t, nil, []string{"d1"}, func(c *Config) { c.Identity = tr.node1 })
	good := tr.tlsClient(t, &tr.node2C)
	objURL := "https://" + n.addr + "/v1/object/d1/3/" + client.EncodeName("k")
	hdr := http.Header{}
	client.SetInfoHeaders(hdr, &client.Info{Timestamp: ts(1), Length: 2, Checksum: client.ChecksumOf([]byte("v1"))})
	if resp, msg := call(t, good, "PUT", objURL, hdr, []byte("v1")); resp.StatusCode != http.StatusCreated {
		t.Fatalf("put with a good certificate: %d %s", resp.StatusCode, msg)
	}
	chunkURL := "https://" + n.addr + "/v1/chunk/d1/3/" + client.EncodeName("c")
	chunkData := bytes.Repeat([]byte("c"), client.ChunkBlockSize)
	chunkHdr := http.Header{client.HeaderChunkGeneration: {"1"}, client.HeaderChunkSequence: {"1"}, client.HeaderChunkOffset: {"0"}}
	if resp, msg := call(t, good, "PUT", chunkURL, chunkHdr, chunkData); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("chunk write with a good certificate: %d %s", resp.StatusCode, msg)
	}
	before := files(t, n.dir)

	callers := []struct {
		name   string
		cert   *tls.Certificate
		status int    // for a route that does not allow the caller
		reason string // in the refusal's body
	}{
		{"no certificate", nil, http.StatusUnauthorized, "no client certificate"},
		{"other CA", &tr.otherCA, http.StatusUnauthorized, "not issued by this cluster's CA"},
		{"expired", &tr.expired, http.StatusUnauthorized, "expired"},
		{"admin", &tr.adminC, http.StatusForbidden, "may not"},
		{"proxy", &tr.proxyC, http.StatusForbidden, "may not"},
		{"volumed", &tr.volumedC, http.StatusForbidden, "may not"},
	}
	for _, c := range callers {
		hc := tr.tlsClient(t, c.cert)
		for _, ep := range endpoints(t) {
			if slices.Contains(ep.allowed, c.name) {
				continue
			}
			t.Run(c.name+"/"+ep.name, func(t *testing.T) {
				var body []byte
				if ep.body != nil {
					body = ep.body()
				}
				resp, msg := call(t, hc, ep.method, "https://"+n.addr+ep.path, ep.header, body)
				wantCode, _ := client.ErrorCode(client.ErrUnauthenticated)
				if c.status == http.StatusForbidden {
					wantCode, _ = client.ErrorCode(client.ErrForbidden)
				}
				if resp.StatusCode != c.status || resp.Header.Get(client.HeaderError) != wantCode {
					t.Fatalf("%d %s, want %d %s: %s", resp.StatusCode, resp.Header.Get(client.HeaderError), c.status, wantCode, msg)
				}
				if ep.method != "HEAD" && !strings.Contains(string(msg), c.reason) {
					t.Fatalf("reason %q does not say %q", msg, c.reason)
				}
			})
		}
	}

	// Nothing changed: the same files, and the object as written.
	if after := files(t, n.dir); !slices.Equal(after, before) {
		t.Fatalf("files changed by refused calls:\nbefore %v\nafter  %v", before, after)
	}
	if resp, b := call(t, good, "GET", objURL, nil, nil); resp.StatusCode != 200 || string(b) != "v1" ||
		resp.Header.Get(client.HeaderTimestamp) != ts(1).String() {
		t.Fatalf("k after refusals: %d %q", resp.StatusCode, b)
	}
	readHdr := http.Header{client.HeaderChunkOffset: {"0"}, client.HeaderChunkLength: {"4096"}}
	if resp, b := call(t, good, "GET", chunkURL, readHdr, nil); resp.StatusCode != 200 || !bytes.Equal(b, chunkData) ||
		resp.Header.Get(client.HeaderChunkVersion) != "1" {
		t.Fatalf("chunk c after refusals: %d, version %s", resp.StatusCode, resp.Header.Get(client.HeaderChunkVersion))
	}

	// The health check needs no certificate; any cluster certificate reads the metrics,
	// which count the refusals.
	if resp, _ := call(t, tr.tlsClient(t, nil), "GET", "https://"+n.addr+client.PathHealth, nil, nil); resp.StatusCode != 200 {
		t.Fatalf("healthz without a certificate: %d", resp.StatusCode)
	}
	resp, metrics := call(t, tr.tlsClient(t, &tr.adminC), "GET", "https://"+n.addr+client.PathMetrics, nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(metrics), `stratus_objectd_requests_total{code="403",op="push"} 3`) {
		t.Fatalf("metrics for admin: %d, refusals not counted", resp.StatusCode)
	}

	// Plain HTTP to a TLS port gets nowhere.
	if resp, err := http.Get("http://" + n.addr + client.PathHealth); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP served on a TLS port")
		}
	}
}

// TestInProcessCallerChecks calls Handler directly, as the all-in-one server does through
// internal/inproc: the caller's chain in r.TLS is checked as a handshake's would be.
func TestInProcessCallerChecks(t *testing.T) {
	tr := newTrust(t)
	n := startNode(t, nil, []string{"d1"}, func(c *Config) { c.Identity = tr.node1 })
	path := "/v1/object/d1/3/" + client.EncodeName("k")
	cases := []struct {
		name string
		tls  *tls.ConnectionState
		want int
	}{
		{"no TLS state", nil, http.StatusUnauthorized},
		{"admin", tr.admin.ConnectionState(), http.StatusForbidden},
		{"proxy", tr.proxy.ConnectionState(), http.StatusNotFound}, // allowed; nothing stored
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", path, nil)
			r.TLS = tc.tls
			w := httptest.NewRecorder()
			n.srv.Handler().ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
		})
	}
}

// TestLogLimiter checks one line per key per interval, with the count of events it did not
// log.
func TestLogLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLogLimiter(time.Minute, func() time.Time { return now })
	if _, ok := l.allow("10.0.0.1", 1); !ok {
		t.Fatal("first refusal not logged")
	}
	for i := range 5 {
		if _, ok := l.allow("10.0.0.1", 1); ok {
			t.Fatalf("refusal %d within the minute logged", i)
		}
	}
	if _, ok := l.allow("10.0.0.2", 1); !ok {
		t.Fatal("another caller's first refusal not logged")
	}
	now = now.Add(time.Minute)
	if n, ok := l.allow("10.0.0.1", 1); !ok || n != 5 {
		t.Fatalf("after a minute: logged %v, suppressed %d, want true 5", ok, n)
	}
	if _, ok := l.allow("10.0.0.1", 1); ok {
		t.Fatal("logged twice in the new minute")
	}
	// A line about several events counts them all when it is held back.
	l.allow("peer", 40)
	l.allow("peer", 40)
	l.allow("peer", 2)
	now = now.Add(time.Minute)
	if n, ok := l.allow("peer", 40); !ok || n != 42 {
		t.Fatalf("after a minute: logged %v, suppressed %d, want true 42", ok, n)
	}
}

// TestTLSClient runs a proxy's calls over mutual TLS, and checks that the client reports
// refusals, on either side, as ErrUnauthenticated or ErrForbidden.
func TestTLSClient(t *testing.T) {
	tr := newTrust(t)
	n := startNode(t, nil, []string{"d1"}, func(c *Config) { c.Identity = tr.node1 })
	tg := n.target("d1", 3)
	proxy := client.New(client.Config{TLS: tr.proxy.ClientTLS(pki.RoleObjectd)})
	defer proxy.CloseIdleConnections()

	body := payload(100<<10, 1)
	if err := proxy.Put(ctxT(t), tg, client.PutRequest{Name: "k", Timestamp: ts(1), Length: int64(len(body))}, bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	o, err := proxy.Get(ctxT(t), tg, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(o.Body)
	o.Body.Close()
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("get: %d bytes, %v", len(got), err)
	}
	if info, err := proxy.Head(ctxT(t), tg, "k"); err != nil || info.Timestamp != ts(1) {
		t.Fatalf("head: %+v %v", info, err)
	}
	if err := proxy.Delete(ctxT(t), tg, "k", ts(2)); err != nil {
		t.Fatal(err)
	}
	if _, err := proxy.Head(ctxT(t), tg, "k"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("head after delete: %v", err)
	}
	if _, err := proxy.SuffixHashes(ctxT(t), tg); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("proxy reading hashes: %v, want ErrForbidden", err)
	}
	admin := client.New(client.Config{TLS: tr.admin.ClientTLS(pki.RoleObjectd)})
	defer admin.CloseIdleConnections()
	var se *client.StatusError
	if err := admin.Delete(ctxT(t), tg, "k", ts(3)); !errors.Is(err, client.ErrForbidden) || !errors.As(err, &se) || se.Status != http.StatusForbidden {
		t.Fatalf("admin delete: %v, want 403 ErrForbidden", err)
	}
	anon := client.New(client.Config{TLS: tr.presenting(nil)})
	defer anon.CloseIdleConnections()
	if _, err := anon.Head(ctxT(t), tg, "k"); !errors.Is(err, client.ErrUnauthenticated) {
		t.Fatalf("no certificate: %v, want ErrUnauthenticated", err)
	}

	// The client refuses a server that is not a storage node of this cluster: here, one
	// holding a proxy's certificate.
	impostor := startNode(t, nil, []string{"d1"}, func(c *Config) { c.Identity = tr.proxy })
	if _, err := proxy.Head(ctxT(t), impostor.target("d1", 3), "k"); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("server with a proxy certificate: %v, want ErrForbidden", err)
	}
	if err := n.cl.Delete(ctxT(t), tg, "k", ts(3)); err != nil {
		t.Fatalf("the node's own certificate: %v", err)
	}
}

// TestVolumedSnapshotObjects: a volumed certificate writes, reads and deletes objects under
// the snapshot prefix, and is refused every other name (including ones that only look like
// it) and the replication routes.
func TestVolumedSnapshotObjects(t *testing.T) {
	tr := newTrust(t)
	n := startNode(t, nil, []string{"d1"}, func(c *Config) { c.Identity = tr.node1 })
	tg := n.target("d1", 3)
	vd := client.New(client.Config{TLS: tr.volumed.ClientTLS(pki.RoleObjectd)})
	defer vd.CloseIdleConnections()

	name := client.SnapshotNamePrefix + "chunk/0123"
	body := payload(10<<10, 3)
	if err := vd.Put(ctxT(t), tg, client.PutRequest{Name: name, Timestamp: ts(1), Length: int64(len(body))}, bytes.NewReader(body)); err != nil {
		t.Fatalf("volumed put %s: %v", name, err)
	}
	o, err := vd.GetVersion(ctxT(t), tg, name, ts(1), nil)
	if err != nil {
		t.Fatalf("volumed get %s: %v", name, err)
	}
	got, err := io.ReadAll(o.Body)
	o.Body.Close()
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("volumed get %s: %d bytes, %v", name, len(got), err)
	}
	if err := vd.Delete(ctxT(t), tg, name, ts(2)); err != nil {
		t.Fatalf("volumed delete %s: %v", name, err)
	}

	// A proxy writes an S3 object; volumed may neither read, overwrite nor delete it.
	px := client.New(client.Config{TLS: tr.proxy.ClientTLS(pki.RoleObjectd)})
	defer px.CloseIdleConnections()
	if err := px.Put(ctxT(t), tg, client.PutRequest{Name: "bucket/key", Timestamp: ts(1), Length: 2}, strings.NewReader("s3")); err != nil {
		t.Fatal(err)
	}
	for _, other := range []string{"bucket/key", ".snapx/key", ".sna", "bucket/.snap/key", ".vol/vol-0123456789abcdef/0"} {
		if _, err := vd.Get(ctxT(t), tg, other, nil); !errors.Is(err, client.ErrForbidden) {
			t.Errorf("volumed get %q: %v, want ErrForbidden", other, err)
		}
		if err := vd.Put(ctxT(t), tg, client.PutRequest{Name: other, Timestamp: ts(5), Length: 1}, strings.NewReader("x")); !errors.Is(err, client.ErrForbidden) {
			t.Errorf("volumed put %q: %v, want ErrForbidden", other, err)
		}
		if err := vd.Delete(ctxT(t), tg, other, ts(5)); !errors.Is(err, client.ErrForbidden) {
			t.Errorf("volumed delete %q: %v, want ErrForbidden", other, err)
		}
	}
	if _, err := vd.SuffixHashes(ctxT(t), tg); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("volumed reading hashes: %v, want ErrForbidden", err)
	}
	o, err = px.Get(ctxT(t), tg, "bucket/key", nil)
	if err != nil {
		t.Fatalf("the S3 object after volumed's refused calls: %v", err)
	}
	got, _ = io.ReadAll(o.Body)
	o.Body.Close()
	if string(got) != "s3" || o.Timestamp != ts(1) {
		t.Fatalf("the S3 object after volumed's refused calls: %q at %v", got, o.Timestamp)
	}
}

// TestComputedReadsObjects: a computed certificate reads (GET, HEAD) objects, the images it
// fetches, but not snapshots, and writes and deletes only the images it saves (".image/").
func TestComputedReadsObjects(t *testing.T) {
	tr := newTrust(t)
	ids, err := pki.Ensure(tr.dir, "test", pki.IssueRequest{Role: pki.RoleComputed, Name: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, nil, []string{"d1"}, func(c *Config) { c.Identity = tr.node1 })
	tg := n.target("d1", 3)
	cd := client.New(client.Config{TLS: ids[0].ClientTLS(pki.RoleObjectd)})
	defer cd.CloseIdleConnections()
	px := client.New(client.Config{TLS: tr.proxy.ClientTLS(pki.RoleObjectd)})
	defer px.CloseIdleConnections()
	for _, name := range []string{"bucket/kernel", client.SnapshotNamePrefix + "m/1"} {
		if err := px.Put(ctxT(t), tg, client.PutRequest{Name: name, Timestamp: ts(1), Length: 3}, strings.NewReader("img")); err != nil {
			t.Fatal(err)
		}
	}
	o, err := cd.GetVersion(ctxT(t), tg, "bucket/kernel", ts(1), nil)
	if err != nil {
		t.Fatalf("computed reads an object: %v", err)
	}
	got, _ := io.ReadAll(o.Body)
	o.Body.Close()
	if string(got) != "img" {
		t.Fatalf("computed read %q", got)
	}
	if _, err := cd.Get(ctxT(t), tg, client.SnapshotNamePrefix+"m/1", nil); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("computed reads a snapshot object: %v, want ErrForbidden", err)
	}
	if err := cd.Put(ctxT(t), tg, client.PutRequest{Name: "bucket/kernel", Timestamp: ts(5), Length: 1}, strings.NewReader("x")); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("computed writes an object: %v, want ErrForbidden", err)
	}
	if err := cd.Delete(ctxT(t), tg, "bucket/kernel", ts(5)); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("computed deletes an object: %v, want ErrForbidden", err)
	}
	if _, err := cd.ChunkMeta(ctxT(t), tg, ".vol/vol-0123456789abcdef/0", 0); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("computed reads a chunk: %v, want ErrForbidden", err)
	}
	saved := client.ImageNamePrefix + "ami-0123456789abcdef0/part/0"
	if err := cd.Put(ctxT(t), tg, client.PutRequest{Name: saved, Timestamp: ts(6), Length: 4}, strings.NewReader("disk")); err != nil {
		t.Fatalf("computed writes a saved image: %v", err)
	}
	if o, err = cd.GetVersion(ctxT(t), tg, saved, ts(6), nil); err != nil {
		t.Fatalf("computed reads a saved image: %v", err)
	}
	got, _ = io.ReadAll(o.Body)
	o.Body.Close()
	if string(got) != "disk" {
		t.Fatalf("saved image read back %q", got)
	}
	if err := cd.Delete(ctxT(t), tg, saved, ts(7)); err != nil {
		t.Errorf("computed deletes a saved image: %v", err)
	}
	if err := cd.Put(ctxT(t), tg, client.PutRequest{Name: ".imagex/1", Timestamp: ts(8), Length: 1}, strings.NewReader("x")); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("computed writes beside the image prefix: %v, want ErrForbidden", err)
	}
}

// TestTLSReplication replicates between nodes that hold certificates of the same cluster.
func TestTLSReplication(t *testing.T) {
	tr := newTrust(t)
	ids := []*pki.Identity{tr.node1, tr.node2}
	i := 0
	c := newCluster(t, 3, 1, func(cfg *Config) { cfg.Identity = ids[i%2]; i++ })
	name := "replicated"
	part, prims := c.place(name)
	body := payload(10<<10, 2)
	n, tg := c.target(prims[0], part)
	mustPut(t, n, tg, name, ts(1), body)
	if rep := c.replicate(t); rep.Objects != 2 || rep.Errors != 0 {
		t.Fatalf("replication: %+v, want 2 objects pushed and no errors", rep)
	}
	c.checkReplicas(t, name, body)
}
