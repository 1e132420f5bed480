package volumed_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"stratus/internal/pki"
	"stratus/internal/testutil"
	"stratus/meta/client"
	"stratus/meta/metatest"
	"stratus/volumed"
)

// setup starts a one-node catalog with mutual TLS and returns a client with a volumed
// certificate and a new available volume.
func setup(t *testing.T) (*metatest.Cluster, *client.Client, string, context.Context) {
	t.Helper()
	c := metatest.New(t, metatest.Options{Nodes: 1, Quiet: true, TLS: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	mc := c.ClientAs(pki.RoleVolumed)
	id := client.NewVolumeID()
	if err := mc.CreateVolume(ctx, client.Volume{ID: id, SizeBytes: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	return c, mc, id, ctx
}

// stored reads the volume and checks the invariants the lease keeps.
func stored(t *testing.T, ctx context.Context, mc *client.Client, id string) client.Volume {
	t.Helper()
	v, _, err := mc.Volume(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if (v.Attachment != nil) != (v.State == client.VolumeInUse) && v.State != client.VolumeDeleting {
		t.Fatalf("state %s with attachment %+v", v.State, v.Attachment)
	}
	if v.Attachment != nil && v.Attachment.Generation != v.LastGeneration {
		t.Fatalf("attachment generation %d, last generation %d", v.Attachment.Generation, v.LastGeneration)
	}
	return v
}

// TestAttachConcurrent: of many hosts attaching at once exactly one wins; every other is
// told who holds the volume and until when.
func TestAttachConcurrent(t *testing.T) {
	_, mc, id, ctx := setup(t)
	const hosts = 16
	leases := make([]volumed.Lease, hosts)
	errs := make([]error, hosts)
	var wg sync.WaitGroup
	for i := range hosts {
		wg.Go(func() {
			leases[i], errs[i] = volumed.Attach(ctx, mc, id, fmt.Sprintf("host%d", i), false, time.Minute)
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		if err == nil {
			if winner >= 0 {
				t.Fatalf("hosts %d and %d both attached", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("no host attached: %v", errs)
	}
	w := leases[winner]
	if w.Generation != 1 || w.Host != fmt.Sprintf("host%d", winner) || w.Previous != nil {
		t.Fatalf("winning lease %+v", w)
	}
	for i, err := range errs {
		if i == winner {
			continue
		}
		var held *volumed.HeldError
		if !errors.As(err, &held) || !errors.Is(err, volumed.ErrHeld) || held.Host != w.Host || held.Generation != 1 || !held.LeaseExpiresAt.Equal(w.ExpiresAt) {
			t.Fatalf("host%d: %v, want HeldError naming %s", i, err, w.Host)
		}
	}
	v := stored(t, ctx, mc, id)
	if v.State != client.VolumeInUse || v.Attachment.Host != w.Host || v.LastGeneration != 1 {
		t.Fatalf("stored %+v", v)
	}
}

// TestTakeoverFencesOldHolder walks the lease through refusal, forced takeover, a fenced
// renew and detach, and a fresh attach; generations only grow.
func TestTakeoverFencesOldHolder(t *testing.T) {
	_, mc, id, ctx := setup(t)
	a, err := volumed.Attach(ctx, mc, id, "a", false, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := volumed.Attach(ctx, mc, id, "b", false, time.Minute); !errors.Is(err, volumed.ErrHeld) {
		t.Fatalf("second attach while the lease is live: %v, want ErrHeld", err)
	}
	if _, err := volumed.Attach(ctx, mc, id, "a", false, time.Minute); !errors.Is(err, volumed.ErrHeld) {
		t.Fatalf("the holder attaching again: %v, want ErrHeld", err)
	}
	a2, err := volumed.Renew(ctx, mc, a)
	if err != nil || a2.Generation != a.Generation || a2.ExpiresAt.Before(a.ExpiresAt) {
		t.Fatalf("renew: %+v %v", a2, err)
	}

	b, err := volumed.Attach(ctx, mc, id, "b", true, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if b.Generation != 2 || b.Previous == nil || b.Previous.Host != "a" || b.Previous.Generation != 1 {
		t.Fatalf("forced takeover: %+v", b)
	}
	if _, err := volumed.Renew(ctx, mc, a2); !errors.Is(err, volumed.ErrFenced) {
		t.Fatalf("renew after takeover: %v, want ErrFenced", err)
	}
	if err := volumed.Detach(ctx, mc, a2); !errors.Is(err, volumed.ErrFenced) {
		t.Fatalf("detach by the fenced holder: %v, want ErrFenced", err)
	}
	if v := stored(t, ctx, mc, id); v.Attachment.Host != "b" || v.LastGeneration != 2 {
		t.Fatalf("after the fenced holder's calls: %+v", v)
	}

	if err := volumed.Detach(ctx, mc, b); err != nil {
		t.Fatal(err)
	}
	v := stored(t, ctx, mc, id)
	if v.State != client.VolumeAvailable || v.Attachment != nil || v.LastGeneration != 2 {
		t.Fatalf("after detach: %+v", v)
	}
	if _, err := volumed.Renew(ctx, mc, b); !errors.Is(err, volumed.ErrFenced) {
		t.Fatalf("renew after detach: %v, want ErrFenced", err)
	}
	c, err := volumed.Attach(ctx, mc, id, "a", false, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if c.Generation != 3 || c.Previous != nil {
		t.Fatalf("attach after detach: %+v, want generation 3", c)
	}
}

// TestLeaseExpiry: once a lease expires, another host attaches without force, and the old
// holder is fenced.
func TestLeaseExpiry(t *testing.T) {
	_, mc, id, ctx := setup(t)
	a, err := volumed.Attach(ctx, mc, id, "a", false, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var b volumed.Lease
	testutil.Eventually(t, 10*time.Second, func() error {
		b, err = volumed.Attach(ctx, mc, id, "b", false, time.Minute)
		if err != nil && time.Now().After(a.ExpiresAt.Add(5*time.Second)) {
			t.Fatalf("attach long after the expiry: %v", err)
		}
		if err != nil && !errors.Is(err, volumed.ErrHeld) {
			t.Fatalf("attach: %v", err)
		}
		return err
	})
	if time.Now().Before(a.ExpiresAt) {
		t.Fatalf("attached at %s, before the lease expired at %s", time.Now(), a.ExpiresAt)
	}
	if b.Generation != 2 || b.Previous == nil || b.Previous.Host != "a" {
		t.Fatalf("attach after expiry: %+v", b)
	}
	if _, err := volumed.Renew(ctx, mc, a); !errors.Is(err, volumed.ErrFenced) {
		t.Fatalf("renew of the expired, replaced lease: %v, want ErrFenced", err)
	}
}

// TestKeep: Keep renews the lease until it is taken over, then reports the loss.
func TestKeep(t *testing.T) {
	_, mc, id, ctx := setup(t)
	// The TTL leaves each renewal (every TTL/3) ample time under -race on a busy machine.
	a, err := volumed.Attach(ctx, mc, id, "a", false, 900*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	renewed := make(chan volumed.Lease, 100)
	done := make(chan error, 1)
	go func() { done <- volumed.Keep(ctx, mc, a, func(l volumed.Lease) { renewed <- l }) }()
	// Renewed well past the first expiry, and the catalog says so.
	last := a
	for last.ExpiresAt.Before(a.ExpiresAt.Add(time.Second)) {
		select {
		case last = <-renewed:
		case err := <-done:
			t.Fatalf("keep stopped: %v", err)
		}
	}
	if _, err := volumed.Attach(ctx, mc, id, "b", false, time.Minute); !errors.Is(err, volumed.ErrHeld) {
		t.Fatalf("attach while kept: %v, want ErrHeld", err)
	}
	if _, err := volumed.Attach(ctx, mc, id, "b", true, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, volumed.ErrFenced) {
		t.Fatalf("keep after takeover: %v, want ErrFenced", err)
	}

	// Cancelling the context stops Keep without error.
	c, err := volumed.Attach(ctx, mc, id, "c", true, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	kctx, cancel := context.WithCancel(ctx)
	go func() { done <- volumed.Keep(kctx, mc, c, nil) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("keep after cancel: %v", err)
	}
}

// TestKeepExpires: with meta unreachable, Keep reports the lease expired at its expiry.
func TestKeepExpires(t *testing.T) {
	c, mc, id, ctx := setup(t)
	a, err := volumed.Attach(ctx, mc, id, "a", false, 600*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	c.Stop(0)
	err = volumed.Keep(ctx, mc, a, nil)
	if !errors.Is(err, volumed.ErrExpired) {
		t.Fatalf("keep without meta: %v, want ErrExpired", err)
	}
	if time.Now().Before(a.ExpiresAt) {
		t.Fatalf("reported expired at %s, before the expiry %s", time.Now(), a.ExpiresAt)
	}
}

// TestAttachRefused: a missing volume, bad input, a volume out of generations, one in a
// state that cannot be attached.
func TestAttachRefused(t *testing.T) {
	_, mc, id, ctx := setup(t)
	if _, err := volumed.Attach(ctx, mc, client.NewVolumeID(), "a", false, time.Minute); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("attach a missing volume: %v", err)
	}
	if _, err := volumed.Attach(ctx, mc, id, "", false, time.Minute); !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("attach without a host: %v", err)
	}
	v, idx, err := mc.Volume(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	v.LastGeneration = volumed.MaxGeneration
	if err := mc.UpdateVolume(ctx, v, idx); err != nil {
		t.Fatal(err)
	}
	if _, err := volumed.Attach(ctx, mc, id, "a", false, time.Minute); !errors.Is(err, volumed.ErrState) {
		t.Fatalf("attach past the last generation: %v, want ErrState", err)
	}
	if v, idx, err = mc.Volume(ctx, id); err != nil {
		t.Fatal(err)
	}
	v.State = client.VolumeDeleting
	if err := mc.UpdateVolume(ctx, v, idx); err != nil {
		t.Fatal(err)
	}
	if _, err := volumed.Attach(ctx, mc, id, "a", true, time.Minute); !errors.Is(err, volumed.ErrState) {
		t.Fatalf("attach a deleting volume: %v, want ErrState", err)
	}
}
