package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"stratus/internal/pki"
	"stratus/meta/client"
	"stratus/meta/metatest"
)

// TestVolumeRecords: create, read, list, conditional update and delete of volumes, by a
// volumed certificate (which may write the table) and not by a proxy's.
func TestVolumeRecords(t *testing.T) {
	c := metatest.New(t, metatest.Options{Nodes: 1, Quiet: true, TLS: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := c.ClientAs(pki.RoleVolumed)

	id := client.NewVolumeID()
	if !client.ValidVolumeID(id) || client.ValidVolumeID("vol-XYZ") || client.ValidVolumeID("vol-0123456789ABCDEF") {
		t.Fatalf("volume id %q or the checks of others are wrong", id)
	}
	if err := cl.CreateVolume(ctx, client.Volume{ID: id, SizeBytes: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	if err := cl.CreateVolume(ctx, client.Volume{ID: id, SizeBytes: 1 << 30}); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("second create: %v, want ErrConflict", err)
	}
	for _, bad := range []client.Volume{
		{ID: "vol-1", SizeBytes: 1 << 30},
		{ID: client.NewVolumeID(), SizeBytes: 1000},
		{ID: client.NewVolumeID(), SizeBytes: 1 << 30, ChunkSizeBytes: 3 << 20},
		{ID: client.NewVolumeID(), SizeBytes: 1 << 30, State: "lost"},
	} {
		if err := cl.CreateVolume(ctx, bad); !errors.Is(err, client.ErrBadRequest) {
			t.Errorf("create %+v: %v, want ErrBadRequest", bad, err)
		}
	}
	v, idx, err := cl.Volume(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if v.State != client.VolumeAvailable || v.ChunkSizeBytes != client.DefaultVolumeChunkSizeBytes || v.CreatedAt.IsZero() || idx == 0 {
		t.Fatalf("stored volume %+v at %d", v, idx)
	}
	v.SizeBytes = 2 << 30
	if err := cl.UpdateVolume(ctx, v, idx); err != nil {
		t.Fatal(err)
	}
	if err := cl.UpdateVolume(ctx, v, idx); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("update at a stale mod index: %v, want ErrConflict", err)
	}
	other := client.Volume{ID: client.NewVolumeID(), SizeBytes: 4096, ChunkSizeBytes: 64 << 10}
	if err := cl.CreateVolume(ctx, other); err != nil {
		t.Fatal(err)
	}
	all, err := cl.Volumes(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("volumes: %v %+v", err, all)
	}
	if err := cl.DeleteVolume(ctx, id, idx); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("delete at a stale mod index: %v, want ErrConflict", err)
	}
	_, idx, err = cl.Volume(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.DeleteVolume(ctx, id, idx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cl.Volume(ctx, id); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("deleted volume: %v, want ErrNotFound", err)
	}

	if err := c.ClientAs(pki.RoleProxy).CreateVolume(ctx, client.Volume{ID: client.NewVolumeID(), SizeBytes: 4096}); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("create by a proxy: %v, want ErrForbidden", err)
	}
}
