package main

import (
	"strings"
	"testing"
	"time"

	"stratus/internal/pki"
	"stratus/meta/metatest"
)

// TestUserAndKeyCommands runs the account commands against a real single-node catalog.
func TestUserAndKeyCommands(t *testing.T) {
	c := metatest.New(t, metatest.Options{Nodes: 1, Quiet: true, TLS: true})
	c.Leader(10 * time.Second)
	c.Identity(pki.IssueRequest{Role: pki.RoleAdmin, Name: "ops"})
	// The catalog and the certificate from the environment alone.
	t.Setenv("STRATUS_META_ADDR", c.Nodes[0].Addr)
	t.Setenv("STRATUS_PKI_DIR", c.PKI)
	m := "--cert-name=ops"
	out := mustStratus(t, "user", "create", "alice", m)
	if !strings.Contains(out, "account:     alice") || !strings.Contains(out, "secret key:") {
		t.Fatalf("user create:\n%s", out)
	}
	if _, err := stratus(t, "user", "create", "alice", m); err == nil {
		t.Fatal("creating an existing account succeeded")
	}
	if out := mustStratus(t, "user", "list", m); !strings.Contains(out, "alice") {
		t.Fatalf("user list:\n%s", out)
	}
	second := mustStratus(t, "key", "create", "alice", m)
	id := ""
	for _, line := range strings.Split(second, "\n") {
		if v, ok := strings.CutPrefix(line, "access key:  "); ok {
			id = v
		}
	}
	keys := mustStratus(t, "key", "list", "alice", m)
	if id == "" || strings.Count(keys, "alice") != 2 || !strings.Contains(keys, id) || strings.Contains(keys, "secret") {
		t.Fatalf("key list (must never show secrets):\n%s", keys)
	}
	mustStratus(t, "key", "revoke", id, m)
	if keys := mustStratus(t, "key", "list", "alice", m); strings.Contains(keys, id) {
		t.Fatalf("revoked key still listed:\n%s", keys)
	}
	if _, err := stratus(t, "key", "create", "bob", m); err == nil {
		t.Fatal("a key for a missing account was created")
	}
	mustStratus(t, "user", "delete", "alice", m)
	if out := mustStratus(t, "user", "list", m); strings.Contains(out, "alice") {
		t.Fatalf("deleted account still listed:\n%s", out)
	}

	// A proxy's certificate is not an operator's, and a missing one says how to get one.
	c.Identity(pki.IssueRequest{Role: pki.RoleProxy, Name: "px"})
	if _, err := stratus(t, "user", "list", "--cert-name=px"); err == nil || !strings.Contains(err.Error(), "needs role admin") {
		t.Fatalf("user list with a proxy certificate: %v", err)
	}
	if _, err := stratus(t, "user", "list", "--pki-dir", t.TempDir()); err == nil || !strings.Contains(err.Error(), "stratus ca issue") {
		t.Fatalf("user list without a certificate: %v", err)
	}
}
