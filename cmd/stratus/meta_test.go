package main

import (
	"testing"
	"time"

	"stratus/internal/pki"
	"stratus/meta/metatest"
)

// TestMetaStatusJSON: meta status --json parses, follows the convention of machine output,
// and names the node, its leader and the members.
func TestMetaStatusJSON(t *testing.T) {
	c := metatest.New(t, metatest.Options{Nodes: 1, Quiet: true, TLS: true})
	c.Leader(10 * time.Second)
	c.Identity(pki.IssueRequest{Role: pki.RoleAdmin, Name: "ops"})
	out := mustStratus(t, "meta", "status", "--json", "--meta", c.Nodes[0].Addr, "--pki-dir", c.PKI, "--cert-name=ops")
	v := checkMachineJSON(t, out)
	members, _ := v["members"].([]any)
	if v["state"] != "Leader" || v["leader_id"] != v["id"] || len(members) != 1 {
		t.Fatalf("meta status --json:\n%s", out)
	}
	m, _ := members[0].(map[string]any)
	if m["leader"] != true || m["suffrage"] != "Voter" {
		t.Fatalf("meta status --json member:\n%s", out)
	}
}
