package meta_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"stratus/internal/pki"
	"stratus/meta"
	"stratus/meta/client"
	"stratus/meta/metatest"
)

// TestMutualTLS runs a three-voter cluster over mutual TLS (Raft, forwarding and the API)
// and checks who may do what.
func TestMutualTLS(t *testing.T) {
	c := metatest.New(t, metatest.Options{TLS: true, Quiet: true, Configure: func(cfg *meta.Config) {
		cfg.SecretReadsPerSecond, cfg.SecretReadBurst = 0.001, 3
	}})
	ctx := ctxT(t, 60*time.Second)
	admin, proxy, storage := c.Client(), c.ClientAs(pki.RoleProxy), c.ClientAs(pki.RoleObjectd)

	if err := admin.CreateAccount(ctx, client.Account{ID: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := admin.CreateAccessKey(ctx, client.AccessKey{ID: "AK1", Account: "alice", Secret: "s3cr3t"}); err != nil {
		t.Fatal(err)
	}
	if err := proxy.CreateBucket(ctx, client.Bucket{Name: "photos", Owner: "alice"}); err != nil {
		t.Fatalf("proxy creates a bucket: %v", err)
	}

	// A proxy may not make accounts or keys, nor change membership or export the catalog.
	if err := proxy.CreateAccount(ctx, client.Account{ID: "mallory"}); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("proxy creates an account: %v", err)
	}
	if _, err := admin.Account(ctx, "mallory"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("refused account exists: %v", err)
	}
	if err := proxy.Join(ctx, "evil", "127.0.0.1:1"); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("proxy joins a voter: %v", err)
	}
	if _, err := proxy.Backup(ctx, io.Discard); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("proxy exports the catalog: %v", err)
	}

	// Storage nodes read placement, not tenants.
	if _, _, err := storage.Ring(ctx, "default"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("storage reads rings: %v", err)
	}
	if _, _, err := storage.Bucket(ctx, "photos"); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("storage reads buckets: %v", err)
	}

	// Secrets: never through generic reads, to proxies only, at a bounded rate.
	if k, err := admin.AccessKey(ctx, "AK1"); err != nil || k.Secret != "" {
		t.Fatalf("admin reads a secret through get: %+v, %v", k, err)
	}
	if _, err := admin.AccessKeySecret(ctx, "AK1"); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("admin reads a secret: %v", err)
	}
	// Through a follower, so the call is forwarded to the leader.
	leader := c.Leader(10 * time.Second)
	follower := (leader + 1) % len(c.Nodes)
	cfg := client.DefaultConfig(c.Nodes[follower].Addr)
	cfg.TLS = c.Identity(pki.IssueRequest{Role: pki.RoleProxy, Name: "test-proxy"}).ClientTLS(pki.RoleMeta)
	viaFollower, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer viaFollower.Close()
	for i := range 3 {
		if k, err := viaFollower.AccessKeySecret(ctx, "AK1"); err != nil || k.Secret != "s3cr3t" {
			t.Fatalf("proxy reads secret %d: %+v, %v", i, k, err)
		}
	}
	if _, err := viaFollower.AccessKeySecret(ctx, "AK1"); !errors.Is(err, client.ErrTooManyRequests) {
		t.Fatalf("fourth secret read in a burst of 3: %v", err)
	}
}

// TestRefusedCertificates: callers without a valid certificate of the cluster are refused
// with a reason, and Raft connections from anything but a member are dropped.
func TestRefusedCertificates(t *testing.T) {
	c := metatest.New(t, metatest.Options{Nodes: 1, TLS: true, Quiet: true})
	ctx := ctxT(t, 30*time.Second)
	addr := c.Nodes[0].Addr

	otherDir := t.TempDir()
	if _, err := pki.Ensure(otherDir, "other", pki.IssueRequest{Role: pki.RoleAdmin, Name: "admin"}); err != nil {
		t.Fatal(err)
	}
	foreign, err := tls.LoadX509KeyPair(pki.InDir(otherDir, "admin").Cert, pki.InDir(otherDir, "admin").Key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadCA(c.PKI)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := ca.IssueTo(dir, "old", pki.IssueRequest{Role: pki.RoleAdmin, Name: "old", NotBefore: time.Now().Add(-48 * time.Hour), Validity: time.Hour}); err != nil {
		t.Fatal(err)
	}
	expired, err := tls.LoadX509KeyPair(dir+"/old.crt", dir+"/old.key")
	if err != nil {
		t.Fatal(err)
	}
	good := c.Identity(pki.IssueRequest{Role: pki.RoleAdmin, Name: "test-admin"}).ClientTLS(pki.RoleMeta)

	for _, tc := range []struct {
		name string
		tls  func() *tls.Config
	}{
		{"no certificate", func() *tls.Config { g := good.Clone(); g.GetClientCertificate = nil; return g }},
		{"another CA", func() *tls.Config {
			g := good.Clone()
			g.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &foreign, nil }
			return g
		}},
		{"expired", func() *tls.Config {
			g := good.Clone()
			g.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &expired, nil }
			return g
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := client.DefaultConfig(addr)
			cfg.TLS = tc.tls()
			cl, err := client.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if err := cl.CreateAccount(ctx, client.Account{ID: "x"}); !errors.Is(err, client.ErrUnauthenticated) {
				t.Fatalf("write: %v", err)
			}
			if _, err := cl.Status(ctx); !errors.Is(err, client.ErrUnauthenticated) {
				t.Fatalf("status: %v", err)
			}
		})
	}
	if _, err := c.Client().Account(ctx, "x"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("a refused write was applied: %v", err)
	}

	// Plain HTTP gets nothing.
	plain := client.DefaultConfig(addr)
	plain.CallTimeout, plain.RetryTimeout = time.Second, time.Second
	pc, _ := client.New(plain)
	if _, err := pc.Status(ctx); err == nil {
		t.Fatal("plain HTTP answered")
	}

	// A Raft connection with an operator's certificate is dropped after the handshake.
	rc := c.Identity(pki.IssueRequest{Role: pki.RoleAdmin, Name: "test-admin"}).ClientTLS(pki.RoleMeta)
	rc.NextProtos = []string{"stratus-raft/1"}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, rc)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("raft connection from an admin stayed open: %v", err)
	}
}
