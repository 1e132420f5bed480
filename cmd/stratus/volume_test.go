package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"stratus/internal/pki"
	"stratus/meta/client"
	"stratus/meta/metatest"
)

// TestVolumeCommands walks a volume through create, list, show, attach (refused, forced),
// resize, detach and delete against a real catalog with mutual TLS, checking the --json
// outputs against the convention of machine output.
func TestVolumeCommands(t *testing.T) {
	c := metatest.New(t, metatest.Options{Nodes: 1, Quiet: true, TLS: true})
	c.Leader(10 * time.Second)
	c.Identity(pki.IssueRequest{Role: pki.RoleAdmin, Name: "ops"})
	t.Setenv("STRATUS_META_ADDR", c.Nodes[0].Addr)
	t.Setenv("STRATUS_PKI_DIR", c.PKI)
	m := "--cert-name=ops"

	created := checkMachineJSON(t, mustStratus(t, "volume", "create", "--size", "10GiB", "--json", m))
	id, _ := created["id"].(string)
	if !strings.HasPrefix(id, "vol-") || created["size_bytes"] != float64(10<<30) || created["chunk_size_bytes"] != float64(4<<20) || created["state"] != "available" {
		t.Fatalf("volume create --json: %v", created)
	}
	if out := mustStratus(t, "volume", "create", "--size", "1GiB", "--chunk-size", "1MiB", m); !strings.Contains(out, "1GiB in chunks of 1MiB") {
		t.Fatalf("volume create:\n%s", out)
	}
	for _, bad := range [][]string{{"--size", "1000"}, {"--size", "1GiB", "--chunk-size", "3MiB"}, {"--size", "lots"}} {
		if _, err := stratus(t, append([]string{"volume", "create", m}, bad...)...); err == nil {
			t.Errorf("volume create %v succeeded", bad)
		}
	}

	list := checkMachineJSON(t, mustStratus(t, "volume", "list", "--json", m))
	if vols, _ := list["volumes"].([]any); len(vols) != 2 {
		t.Fatalf("volume list --json: %v", list)
	}
	if out := mustStratus(t, "volume", "list", m); !strings.Contains(out, id) || !strings.Contains(out, "10GiB") {
		t.Fatalf("volume list:\n%s", out)
	}

	att := checkMachineJSON(t, mustStratus(t, "volume", "attach", id, "--host", "h1", "--json", m))
	if att["generation"] != float64(1) || att["host"] != "h1" || att["ttl_seconds"] != float64(30) || att["nbd_uri"] != "nbd://127.0.0.1:10809/"+id {
		t.Fatalf("volume attach --json: %v", att)
	}
	if _, err := stratus(t, "volume", "attach", id, "--host", "h2", m); err == nil || !strings.Contains(err.Error(), "attached to host h1") {
		t.Fatalf("second attach: %v, want a refusal naming h1", err)
	}
	if _, err := stratus(t, "volume", "delete", id, m); err == nil || !strings.Contains(err.Error(), "in use by host h1") {
		t.Fatalf("delete while attached: %v", err)
	}
	// h2 runs a computed, whose registration names where its volumed serves NBD.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.ClientAs(pki.RoleComputed).PutComputeHost(ctx, client.ComputeHost{Host: "h2", Zone: "z", VCPUs: 1, MemoryMiB: 64,
		DomainType: "qemu", NBDAddr: "127.0.0.2:10900", HeartbeatAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	out := mustStratus(t, "volume", "attach", id, "--host", "h2", "--force", m)
	if !strings.Contains(out, "generation 2") || !strings.Contains(out, "took over from host h1") || !strings.Contains(out, "volumed of host h2") ||
		!strings.Contains(out, "nbd://127.0.0.2:10900/"+id) {
		t.Fatalf("forced attach:\n%s", out)
	}

	show := checkMachineJSON(t, mustStratus(t, "volume", "show", id, "--json", m))
	a, _ := show["attachment"].(map[string]any)
	if show["state"] != "in-use" || show["last_generation"] != float64(2) || a["host"] != "h2" || a["generation"] != float64(2) {
		t.Fatalf("volume show --json: %v", show)
	}
	if _, ok := a["lease_expires_at"].(string); !ok {
		t.Fatalf("volume show --json attachment: %v", a)
	}
	if out := mustStratus(t, "volume", "show", id, m); !strings.Contains(out, "attached to: h2") {
		t.Fatalf("volume show:\n%s", out)
	}

	if _, err := stratus(t, "volume", "resize", id, "--size", "5GiB", m); err == nil || !strings.Contains(err.Error(), "only grow") {
		t.Fatalf("shrink: %v", err)
	}
	if out := mustStratus(t, "volume", "resize", id, "--size", "20GiB", m); !strings.Contains(out, "is 20GiB") || !strings.Contains(out, "new NBD connections") {
		t.Fatalf("resize:\n%s", out)
	}

	if _, err := stratus(t, "volume", "detach", id, m); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("detach of a live lease without --force: %v", err)
	}
	if out := mustStratus(t, "volume", "detach", id, "--force", m); !strings.Contains(out, "from host h2 (generation 2)") {
		t.Fatalf("detach:\n%s", out)
	}
	var v struct {
		State          string          `json:"state"`
		LastGeneration uint64          `json:"last_generation"`
		Attachment     json.RawMessage `json:"attachment"`
	}
	if err := json.Unmarshal([]byte(mustStratus(t, "volume", "show", id, "--json", m)), &v); err != nil {
		t.Fatal(err)
	}
	if v.State != "available" || v.LastGeneration != 2 || v.Attachment != nil {
		t.Fatalf("after detach: %+v", v)
	}
	if out := mustStratus(t, "volume", "attach", id, "--host", "h1", m); !strings.Contains(out, "generation 3") {
		t.Fatalf("attach after detach:\n%s", out)
	}
	mustStratus(t, "volume", "detach", id, "--force", m)
	// It was attached, so it may hold chunks: a volumed removes them, then the record. None
	// runs here, so it stays deleting and --wait gives up.
	if out := mustStratus(t, "volume", "delete", id, m); !strings.Contains(out, "deleting "+id) {
		t.Fatalf("delete:\n%s", out)
	}
	if show := checkMachineJSON(t, mustStratus(t, "volume", "show", id, "--json", m)); show["state"] != "deleting" {
		t.Fatalf("volume show --json after delete: %v", show)
	}
	if out := mustStratus(t, "volume", "show", id, m); !strings.Contains(out, "waiting for a volumed") {
		t.Fatalf("volume show after delete:\n%s", out)
	}
	if _, err := stratus(t, "volume", "delete", id, "--wait", "--timeout", "1s", m); err == nil || !strings.Contains(err.Error(), "still deleting") {
		t.Fatalf("delete --wait with no volumed: %v", err)
	}
	// A volume never attached holds nothing: it goes at once.
	fresh := checkMachineJSON(t, mustStratus(t, "volume", "create", "--size", "1GiB", "--json", m))["id"].(string)
	if out := mustStratus(t, "volume", "delete", fresh, "--wait", m); !strings.Contains(out, "deleted "+fresh) {
		t.Fatalf("delete a fresh volume:\n%s", out)
	}
	if _, err := stratus(t, "volume", "show", fresh, m); err == nil || !strings.Contains(err.Error(), "no volume") {
		t.Fatalf("show a deleted volume: %v", err)
	}
}
