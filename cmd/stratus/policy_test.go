package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stratus/internal/pki"
	"stratus/meta/metatest"
)

// TestPolicyCommands creates, lists and switches storage policies against a real catalog,
// and publishes an EC policy's ring, refusing one with the wrong replica count.
func TestPolicyCommands(t *testing.T) {
	c := metatest.New(t, metatest.Options{Nodes: 1, Quiet: true, TLS: true})
	c.Leader(10 * time.Second)
	c.Identity(pki.IssueRequest{Role: pki.RoleAdmin, Name: "ops"})
	t.Setenv("STRATUS_META_ADDR", c.Nodes[0].Addr)
	t.Setenv("STRATUS_PKI_DIR", c.PKI)
	m := "--cert-name=ops"
	mustStratus(t, "policy", "create", "ec-4-2", "ec", "4", "2", m)
	mustStratus(t, "policy", "create", "replicated-3", "replicated", "3", "--ring", "default", "--default", m)
	for _, bad := range [][]string{
		{"policy", "create", "ec-4-2", "ec", "4", "2"}, // exists
		{"policy", "create", "ec-0-2", "ec", "0", "2"}, // k
		{"policy", "create", "x", "mirrored", "2"},     // type
		{"policy", "create", "x", "ec", "4"},           // arity
		{"policy", "create", "Bad", "replicated", "3"}, // name
		{"policy", "set-default", "missing"},           // no such policy
	} {
		if _, err := stratus(t, append(bad, m)...); err == nil {
			t.Errorf("%v succeeded", bad)
		}
	}
	out := mustStratus(t, "policy", "list", m)
	for _, want := range []string{"ec-4-2        ec", "k=4 m=2 segment=1048576", "replicated-3", "default"} {
		if !strings.Contains(out, want) {
			t.Fatalf("policy list lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(lineOf(out, "replicated-3"), "yes") || strings.Contains(lineOf(out, "ec-4-2"), "yes") {
		t.Fatalf("default not shown on replicated-3 alone:\n%s", out)
	}
	mustStratus(t, "policy", "set-default", "ec-4-2", m)
	if out := mustStratus(t, "policy", "list", m); !strings.Contains(lineOf(out, "ec-4-2"), "yes") || strings.Contains(lineOf(out, "replicated-3"), "yes") {
		t.Fatalf("after set-default:\n%s", out)
	}

	// The EC policy's ring: six devices on three hosts, six "replicas".
	dir := t.TempDir()
	ringFile := func(name string, replicas int) string {
		b := filepath.Join(dir, name+".builder")
		mustStratus(t, "ring", "create", b, "6", fmt.Sprint(replicas), "1")
		for h := 1; h <= 3; h++ {
			for _, d := range []string{"sda", "sdb"} {
				mustStratus(t, "ring", "add", b, fmt.Sprintf("r1z1-10.0.0.%d:6200/%s", h, d), "100")
			}
		}
		mustStratus(t, "ring", "rebalance", b, "--seed", "1")
		out := filepath.Join(dir, name+".ring")
		mustStratus(t, "ring", "write-ring", b, out)
		return out
	}
	if _, err := stratus(t, "ring", "publish", ringFile("three", 3), "--ring", "ec-4-2", m); err == nil || !strings.Contains(err.Error(), "needs 6") {
		t.Fatalf("publishing a 3-replica ring for ec-4-2: %v", err)
	}
	// A bucket on the policy: refused until its ring is published, then created.
	mustStratus(t, "user", "create", "alice", m)
	if _, err := stratus(t, "bucket", "create", "archive", "--owner", "alice", "--policy", "ec-4-2", m); err == nil || !strings.Contains(err.Error(), "not published") {
		t.Fatalf("bucket on an EC policy without its ring: %v", err)
	}
	mustStratus(t, "ring", "publish", ringFile("six", 6), "--ring", "ec-4-2", m)
	mustStratus(t, "bucket", "create", "archive", "--owner", "alice", "--policy", "ec-4-2", m)
	mustStratus(t, "bucket", "create", "plain", "--owner", "alice", "--policy", "default", m)
	for _, bad := range [][]string{
		{"bucket", "create", "archive", "--owner", "alice"},                      // exists
		{"bucket", "create", "Bad_Name", "--owner", "alice"},                     // S3 name rules
		{"bucket", "create", "other", "--owner", "nobody"},                       // no such account
		{"bucket", "create", "other", "--owner", "alice", "--policy", "missing"}, // no such policy
	} {
		if _, err := stratus(t, append(bad, m)...); err == nil {
			t.Errorf("%v succeeded", bad)
		}
	}
	out = mustStratus(t, "bucket", "list", m)
	if !strings.Contains(lineOf(out, "archive"), "ec-4-2") || !strings.Contains(lineOf(out, "plain"), "default") {
		t.Fatalf("bucket list:\n%s", out)
	}
}

func lineOf(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix+" ") {
			return l
		}
	}
	return ""
}
