package volumed_test

import (
	"errors"
	"testing"
	"time"

	"stratus/meta/client"
	"stratus/volumed"
)

// TestEvictResizeDelete: an operator's detach refuses a live lease without force; volumes
// grow, never shrink; an attached volume cannot be deleted.
func TestEvictResizeDelete(t *testing.T) {
	_, mc, id, ctx := setup(t)
	if a, err := volumed.Evict(ctx, mc, id, false); a != nil || err != nil {
		t.Fatalf("evict from a detached volume: %+v %v", a, err)
	}
	l, err := volumed.Attach(ctx, mc, id, "a", false, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := volumed.Delete(ctx, mc, id); !errors.Is(err, volumed.ErrState) {
		t.Fatalf("delete an attached volume: %v, want ErrState", err)
	}
	v, err := volumed.Resize(ctx, mc, id, 2<<30)
	if err != nil || v.SizeBytes != 2<<30 {
		t.Fatalf("grow an attached volume: %+v %v", v, err)
	}
	if _, err := volumed.Resize(ctx, mc, id, 1<<30); !errors.Is(err, volumed.ErrShrink) {
		t.Fatalf("shrink: %v, want ErrShrink", err)
	}
	if _, err := volumed.Resize(ctx, mc, id, 2<<30+1); !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("a size that is not whole blocks: %v, want ErrBadRequest", err)
	}
	if _, err := volumed.Evict(ctx, mc, id, false); !errors.Is(err, volumed.ErrHeld) {
		t.Fatalf("evict a live lease without force: %v, want ErrHeld", err)
	}
	a, err := volumed.Evict(ctx, mc, id, true)
	if err != nil || a == nil || a.Host != "a" || a.Generation != l.Generation {
		t.Fatalf("forced evict: %+v %v", a, err)
	}
	if _, err := volumed.Renew(ctx, mc, l); !errors.Is(err, volumed.ErrFenced) {
		t.Fatalf("renew after eviction: %v, want ErrFenced", err)
	}
	// It was attached, so it may hold chunks: it is deleting until a reaper removes them.
	if gone, err := volumed.Delete(ctx, mc, id); err != nil || gone {
		t.Fatalf("delete: gone %v, %v", gone, err)
	}
	if v := stored(t, ctx, mc, id); v.State != client.VolumeDeleting {
		t.Fatalf("deleted volume: %+v", v)
	}
	if gone, err := volumed.Delete(ctx, mc, id); err != nil || gone {
		t.Fatalf("delete a deleting volume again: gone %v, %v", gone, err)
	}
}
