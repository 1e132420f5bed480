package pki

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestVerifyRefusals(t *testing.T) {
	dir := t.TempDir()
	ids, err := Ensure(dir, "test",
		IssueRequest{Role: RoleMeta, Name: "m1", Hosts: []string{"127.0.0.1"}},
		IssueRequest{Role: RoleProxy, Name: "p1"},
	)
	if err != nil {
		t.Fatal(err)
	}
	meta, proxy := ids[0], ids[1]
	if meta.Role() != RoleMeta || proxy.Role() != RoleProxy {
		t.Fatalf("roles %s %s", meta.Role(), proxy.Role())
	}
	if _, err := meta.Verify(proxy.Chain()); err != nil {
		t.Fatalf("valid peer refused: %v", err)
	}

	other, err := Ensure(t.TempDir(), "other", IssueRequest{Role: RoleProxy, Name: "p1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := meta.Verify(other[0].Chain()); !errors.Is(err, ErrUnknownCA) || !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("other CA: %v", err)
	}

	ca, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.IssueTo(dir, "old", IssueRequest{Role: RoleAdmin, Name: "old", NotBefore: time.Now().Add(-48 * time.Hour), Validity: time.Hour}); err != nil {
		t.Fatal(err)
	}
	old, err := Load(InDir(dir, "old"))
	if err == nil {
		t.Fatalf("loaded an expired identity: %v", old.Name())
	}
	if !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}

	if err := Permit(Peer{Role: RoleProxy}, "join", RoleMeta); !errors.Is(err, ErrForbidden) || Status(err) != http.StatusForbidden {
		t.Fatalf("wrong role: %v", err)
	}

	// Revocation takes effect once the CRL is reread.
	if _, err := ca.Revoke(proxy.cert.Load().Leaf.SerialNumber); err != nil {
		t.Fatal(err)
	}
	meta.nextCheck.Store(0)
	if _, err := meta.Verify(proxy.Chain()); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked: %v", err)
	}
}

func TestMutualTLS(t *testing.T) {
	ids, err := Ensure(t.TempDir(), "test",
		IssueRequest{Role: RoleObjectd, Name: "o1", Hosts: []string{"127.0.0.1"}},
		IssueRequest{Role: RoleProxy, Name: "p1"},
	)
	if err != nil {
		t.Fatal(err)
	}
	srvID, cliID := ids[0], ids[1]
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := srvID.Authorize(r, "write objects", RoleProxy)
		if err != nil {
			http.Error(w, err.Error(), Status(err))
			return
		}
		w.Write([]byte(p.Name))
	}))
	// Started by hand: StartTLS would add httptest's own certificate.
	srv.Listener = tls.NewListener(srv.Listener, srvID.ServerTLS())
	srv.Start()
	defer srv.Close()
	srv.URL = "https://" + srv.Listener.Addr().String()

	get := func(cfg *tls.Config) (int, error) {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		resp, err := c.Get(srv.URL)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := get(cliID.ClientTLS(RoleObjectd)); err != nil || code != 200 {
		t.Fatalf("good client: %d %v", code, err)
	}
	noCert := cliID.ClientTLS(RoleObjectd)
	noCert.GetClientCertificate = nil
	if code, err := get(noCert); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("no certificate: %d %v", code, err)
	}
	if _, err := get(cliID.ClientTLS(RoleMeta)); err == nil {
		t.Fatal("client accepted a server of the wrong role")
	}
}

// TestEnsureReissues: a certificate that lacks a requested host is issued again; one that
// serves is kept.
func TestEnsureReissues(t *testing.T) {
	dir := t.TempDir()
	first, err := Ensure(dir, "test", IssueRequest{Role: RoleMeta, Name: "m", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	same, err := Ensure(dir, "test", IssueRequest{Role: RoleMeta, Name: "m", Hosts: []string{"127.0.0.1"}})
	if err != nil || same[0].Chain()[0].SerialNumber.Cmp(first[0].Chain()[0].SerialNumber) != 0 {
		t.Fatalf("a serving certificate was replaced: %v", err)
	}
	moved, err := Ensure(dir, "test", IssueRequest{Role: RoleMeta, Name: "m", Hosts: []string{"127.0.0.1", "127.0.0.9"}})
	if err != nil || moved[0].Chain()[0].VerifyHostname("127.0.0.9") != nil {
		t.Fatalf("certificate not reissued for a new host: %v", err)
	}
}
