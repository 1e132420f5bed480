package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"stratus/internal/pki"
	"stratus/meta/client"
	"stratus/meta/metatest"
)

// TestSnapshotRecords: create, read, list, conditional update and delete of snapshots and
// of snapshot chunk counts, by a volumed certificate; proxies may not write them, storage
// nodes not even read them.
func TestSnapshotRecords(t *testing.T) {
	c := metatest.New(t, metatest.Options{Nodes: 1, Quiet: true, TLS: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := c.ClientAs(pki.RoleVolumed)

	id := client.NewSnapshotID()
	if !client.ValidSnapshotID(id) || client.ValidSnapshotID("snap-XYZ") || client.ValidSnapshotID("vol-0123456789abcdef") {
		t.Fatalf("snapshot id %q or the checks of others are wrong", id)
	}
	vol := client.NewVolumeID()
	s := client.Snapshot{ID: id, VolumeID: vol, SizeBytes: 1 << 30, ChunkSizeBytes: 4 << 20}
	if err := cl.CreateSnapshot(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := cl.CreateSnapshot(ctx, s); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("second create: %v, want ErrConflict", err)
	}
	for _, bad := range []client.Snapshot{
		{ID: "snap-1", VolumeID: vol, SizeBytes: 1 << 30, ChunkSizeBytes: 4 << 20},
		{ID: client.NewSnapshotID(), VolumeID: "vol-x", SizeBytes: 1 << 30, ChunkSizeBytes: 4 << 20},
		{ID: client.NewSnapshotID(), VolumeID: vol, SizeBytes: 1000, ChunkSizeBytes: 4 << 20},
		{ID: client.NewSnapshotID(), VolumeID: vol, SizeBytes: 1 << 30, ChunkSizeBytes: 3 << 20},
		{ID: client.NewSnapshotID(), VolumeID: vol, SizeBytes: 1 << 30, ChunkSizeBytes: 4 << 20, State: "lost"},
		{ID: client.NewSnapshotID(), VolumeID: vol, SizeBytes: 1 << 30, ChunkSizeBytes: 4 << 20, State: client.SnapshotCompleted},
		{ID: client.NewSnapshotID(), VolumeID: vol, SizeBytes: 1 << 30, ChunkSizeBytes: 4 << 20, Parent: "vol-0123456789abcdef"},
		{ID: client.NewSnapshotID(), VolumeID: vol, SizeBytes: 1 << 30, ChunkSizeBytes: 4 << 20, ChunksTotal: 1, ChunksCopied: 2},
	} {
		if err := cl.CreateSnapshot(ctx, bad); !errors.Is(err, client.ErrBadRequest) {
			t.Errorf("create %+v: %v, want ErrBadRequest", bad, err)
		}
	}
	got, idx, err := cl.Snapshot(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != client.SnapshotPending || got.CreatedAt.IsZero() || idx == 0 || got.VolumeID != vol {
		t.Fatalf("stored snapshot %+v at %d", got, idx)
	}
	got.State, got.Generation = client.SnapshotCreating, 3
	if err := cl.UpdateSnapshot(ctx, got, idx); err != nil {
		t.Fatal(err)
	}
	if err := cl.UpdateSnapshot(ctx, got, idx); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("update at a stale mod index: %v, want ErrConflict", err)
	}
	if all, err := cl.Snapshots(ctx); err != nil || len(all) != 1 || all[0].State != client.SnapshotCreating || all[0].Generation != 3 {
		t.Fatalf("snapshots: %v %+v", err, all)
	}
	_, idx, _ = cl.Snapshot(ctx, id)
	if err := cl.DeleteSnapshot(ctx, id, idx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cl.Snapshot(ctx, id); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("deleted snapshot: %v, want ErrNotFound", err)
	}

	// Chunk counts: created absent-only, then changed at the mod index read.
	sha := strings.Repeat("ab", 32)
	live := client.SnapChunk{Refs: 1, State: client.SnapChunkLive, SizeBytes: 4 << 20}
	idx, err = cl.PutSnapChunk(ctx, sha, live, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PutSnapChunk(ctx, sha, live, 0); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("second create of a count: %v, want ErrConflict", err)
	}
	rec, ridx, err := cl.SnapChunk(ctx, sha)
	if err != nil || rec != live || ridx != idx {
		t.Fatalf("count read back: %+v at %d (%v), want %+v at %d", rec, ridx, err, live, idx)
	}
	live.Refs, live.Timestamp = 2, 77
	if idx, err = cl.PutSnapChunk(ctx, sha, live, idx); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PutSnapChunk(ctx, sha, live, ridx); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("count update at a stale mod index: %v, want ErrConflict", err)
	}
	for _, bad := range []client.SnapChunk{
		{Refs: 0, State: client.SnapChunkLive},
		{Refs: 1, State: client.SnapChunkDeleting},
		{Refs: -1, State: client.SnapChunkDeleting},
		{Refs: 1, State: "gone"},
	} {
		if _, err := cl.PutSnapChunk(ctx, sha, bad, idx); !errors.Is(err, client.ErrBadRequest) {
			t.Errorf("put count %+v: %v, want ErrBadRequest", bad, err)
		}
	}
	if _, err := cl.PutSnapChunk(ctx, "ABCD", live, 0); !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("count under a key that is no SHA-256: %v, want ErrBadRequest", err)
	}
	if err := cl.DeleteSnapChunk(ctx, sha, ridx); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("count delete at a stale mod index: %v, want ErrConflict", err)
	}
	if err := cl.DeleteSnapChunk(ctx, sha, idx); err != nil {
		t.Fatal(err)
	}

	px := c.ClientAs(pki.RoleProxy)
	if err := px.CreateSnapshot(ctx, client.Snapshot{ID: client.NewSnapshotID(), VolumeID: vol, SizeBytes: 4096, ChunkSizeBytes: 64 << 10}); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("create snapshot by a proxy: %v, want ErrForbidden", err)
	}
	if _, err := px.PutSnapChunk(ctx, sha, client.SnapChunk{Refs: 1, State: client.SnapChunkLive}, 0); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("count written by a proxy: %v, want ErrForbidden", err)
	}
	if _, err := c.ClientAs(pki.RoleObjectd).Snapshots(ctx); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("snapshots listed by a storage node: %v, want ErrForbidden", err)
	}
	if _, err := c.Client().Snapshots(ctx); err != nil {
		t.Fatalf("snapshots listed by an admin: %v", err)
	}
}
