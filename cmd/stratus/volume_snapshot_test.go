package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"stratus/internal/pki"
	"stratus/internal/testutil"
	"stratus/meta/client"
	"stratus/meta/metatest"
)

// TestVolumeSnapshotCommands walks snapshots through create (with and without --wait, and
// timing out while no volumed takes the request), list, show, volume create --snapshot and
// delete (refused while a volume was made from it), against a real catalog with mutual TLS.
// A goroutine plays the volumed's part through the records: it takes pending snapshots up
// and completes them.
func TestVolumeSnapshotCommands(t *testing.T) {
	c := metatest.New(t, metatest.Options{Nodes: 1, Quiet: true, TLS: true})
	c.Leader(10 * time.Second)
	c.Identity(pki.IssueRequest{Role: pki.RoleAdmin, Name: "ops"})
	t.Setenv("STRATUS_META_ADDR", c.Nodes[0].Addr)
	t.Setenv("STRATUS_PKI_DIR", c.PKI)
	m := "--cert-name=ops"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	mc := c.ClientAs(pki.RoleVolumed)

	vol := checkMachineJSON(t, mustStratus(t, "volume", "create", "--size", "1GiB", "--chunk-size", "1MiB", "--json", m))["id"].(string)

	// Nobody serves the volume yet: the request stays pending and the command says so.
	_, err := stratus(t, "volume", "snapshot", "create", vol, "--timeout", "300ms", m)
	if err == nil || !strings.Contains(err.Error(), "still pending") {
		t.Fatalf("snapshot create with no volumed: %v, want a timeout saying it is still pending", err)
	}
	if _, err := stratus(t, "volume", "snapshot", "create", "vol-0000000000000000", m); err == nil || !strings.Contains(err.Error(), "no volume") {
		t.Fatalf("snapshot of a missing volume: %v", err)
	}

	// The volumed's part: take every pending snapshot up (creating), then complete it.
	serve, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for serve.Err() == nil {
			snaps, _ := mc.Snapshots(serve)
			for _, s := range snaps {
				_, idx, err := mc.Snapshot(serve, s.ID)
				if err != nil {
					continue
				}
				switch s.State {
				case client.SnapshotPending:
					s.State, s.Generation, s.ChunksTotal = client.SnapshotCreating, 1, 1024
				case client.SnapshotCreating:
					s.State, s.ChunksCopied, s.StoredBytes = client.SnapshotCompleted, 1024, 3<<20
					s.Manifest, s.ManifestTimestamp, s.CompletedAt = ".snap/manifest/"+s.ID, 77, time.Now().UTC()
				default:
					continue
				}
				mc.UpdateSnapshot(serve, s, idx)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	defer func() { stop(); <-done }()

	taken := checkMachineJSON(t, mustStratus(t, "volume", "snapshot", "create", vol, "--json", m))
	id, _ := taken["id"].(string)
	if !client.ValidSnapshotID(id) || taken["volume_id"] != vol || taken["size_bytes"] != float64(1<<30) || taken["chunk_size_bytes"] != float64(1<<20) {
		t.Fatalf("snapshot create --json: %v", taken)
	}
	if st := taken["state"]; st != "creating" && st != "completed" {
		t.Fatalf("snapshot create returned in state %v, want it taken up", st)
	}
	out := mustStratus(t, "volume", "snapshot", "create", vol, "--wait", m)
	if !strings.Contains(out, "completed: 3MiB stored, 1024 chunks") {
		t.Fatalf("snapshot create --wait:\n%s", out)
	}

	list := checkMachineJSON(t, mustStratus(t, "volume", "snapshot", "list", "--json", m))
	if snaps, _ := list["snapshots"].([]any); len(snaps) != 3 {
		t.Fatalf("snapshot list --json: %v, want the pending one and the two taken", list)
	}
	if l := checkMachineJSON(t, mustStratus(t, "volume", "snapshot", "list", "--volume", "vol-0000000000000000", "--json", m)); len(l["snapshots"].([]any)) != 0 {
		t.Fatalf("snapshot list of another volume: %v", l)
	}
	if out := mustStratus(t, "volume", "snapshot", "list", m); !strings.Contains(out, id) || !strings.Contains(out, "1024/1024") {
		t.Fatalf("snapshot list:\n%s", out)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if s, _, err := mc.Snapshot(ctx, id); err != nil || s.State != client.SnapshotCompleted {
			return fmt.Errorf("snapshot %s is %s (%v)", id, s.State, err)
		}
		return nil
	})
	show := checkMachineJSON(t, mustStratus(t, "volume", "snapshot", "show", id, "--json", m))
	if show["state"] != "completed" || show["manifest"] != ".snap/manifest/"+id || show["stored_bytes"] != float64(3<<20) {
		t.Fatalf("snapshot show --json: %v", show)
	}
	if ts, ok := show["manifest_timestamp"].(string); !ok || ts == "" {
		t.Fatalf("snapshot show --json: manifest_timestamp %v, want a string", show["manifest_timestamp"])
	}
	if out := mustStratus(t, "volume", "snapshot", "show", id, m); !strings.Contains(out, "state:       completed") || !strings.Contains(out, "volume:      "+vol) {
		t.Fatalf("snapshot show:\n%s", out)
	}
	if _, err := stratus(t, "volume", "snapshot", "show", "snap-0000000000000000", m); err == nil || !strings.Contains(err.Error(), "no snapshot") {
		t.Fatalf("show of a missing snapshot: %v", err)
	}

	// Volumes from the snapshot: its size by default, larger on request, never smaller.
	clone := checkMachineJSON(t, mustStratus(t, "volume", "create", "--snapshot", id, "--json", m))
	if clone["from_snapshot"] != id || clone["size_bytes"] != float64(1<<30) || clone["chunk_size_bytes"] != float64(1<<20) || clone["state"] != "available" {
		t.Fatalf("volume create --snapshot --json: %v", clone)
	}
	if out := mustStratus(t, "volume", "create", "--snapshot", id, "--size", "2GiB", m); !strings.Contains(out, "2GiB in chunks of 1MiB, from snapshot "+id) {
		t.Fatalf("volume create --snapshot --size 2GiB:\n%s", out)
	}
	for _, bad := range [][]string{{"--snapshot", id, "--size", "512MiB"}, {"--snapshot", id, "--chunk-size", "4MiB"}, {"--snapshot", "snap-0000000000000000"}, {}} {
		if _, err := stratus(t, append([]string{"volume", "create", m}, bad...)...); err == nil {
			t.Errorf("volume create %v succeeded", bad)
		}
	}

	// Deletion is refused while volumes were made from it, and names them.
	_, err = stratus(t, "volume", "snapshot", "delete", id, m)
	if err == nil || !strings.Contains(err.Error(), clone["id"].(string)) {
		t.Fatalf("snapshot delete with clones: %v, want a refusal naming %s", err, clone["id"])
	}
	for _, v := range checkMachineJSON(t, mustStratus(t, "volume", "list", "--json", m))["volumes"].([]any) {
		if v := v.(map[string]any); v["from_snapshot"] == id {
			mustStratus(t, "volume", "delete", v["id"].(string), m)
		}
	}
	if out := mustStratus(t, "volume", "snapshot", "delete", id, m); !strings.Contains(out, "deleting "+id) {
		t.Fatalf("snapshot delete:\n%s", out)
	}
	if s, _, _ := mc.Snapshot(ctx, id); s.State != client.SnapshotDeleting {
		t.Fatalf("after snapshot delete: %s, want deleting", s.State)
	}
	if _, err := stratus(t, "volume", "create", "--snapshot", id, m); err == nil || !strings.Contains(err.Error(), "deleting") {
		t.Fatalf("volume from a snapshot being deleted: %v", err)
	}
}
