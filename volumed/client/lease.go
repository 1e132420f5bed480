package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	meta "stratus/meta/client"
)

// DefaultLeaseTTL is how long a lease lasts unless renewed. Longer survives longer meta
// outages; shorter lets another host take a dead host's volumes sooner without --force.
const DefaultLeaseTTL = 30 * time.Second

// MaxGeneration is the highest generation a volume can be attached with: chunk write
// sequences are generation<<32 | n, so a generation must fit in 32 bits.
const MaxGeneration = 1<<32 - 1

// Lease is a held attachment lease. It is a value: Renew returns the renewed one.
type Lease struct {
	VolumeID   string    `json:"volume_id"`
	Host       string    `json:"host"`
	Generation uint64    `json:"generation"`
	ExpiresAt  time.Time `json:"expires_at"`
	AttachedAt time.Time `json:"attached_at"`
	// TTL is how far each renewal moves ExpiresAt.
	TTL time.Duration `json:"-"`
	// Previous is the attachment this one replaced (an expired lease, or a live one taken
	// with force); nil if the volume was detached.
	Previous *meta.VolumeAttachment `json:"previous,omitempty"`
}

// Live reports whether a is a lease that has not expired at now.
func Live(a *meta.VolumeAttachment, now time.Time) bool {
	return a != nil && now.Before(a.LeaseExpiresAt)
}

// Attach makes host the holder of volumeID's lease for ttl, with a generation one higher
// than any issued before. If another host holds a live lease it returns a *HeldError naming
// it, unless force: then it takes the lease over, and the new generation fences the old
// holder at every storage node it writes to (the old holder may still be running; its
// writes are refused from then on wherever the new holder has written). An expired lease is
// taken without force. A volume that is creating, deleting or in error is not attachable
// (ErrState); a missing one is meta.ErrNotFound.
//
// A host that already holds the lease is refused like any other: a second attach means a
// second writer (a restarted daemon uses force, or waits for the expiry).
func Attach(ctx context.Context, mc *meta.Client, volumeID, host string, force bool, ttl time.Duration) (Lease, error) {
	if host == "" || ttl <= 0 {
		return Lease{}, fmt.Errorf("attach volume %s: %w: needs a host and a positive ttl (got %q, %s)", volumeID, meta.ErrBadRequest, host, ttl)
	}
	for {
		v, idx, err := mc.Volume(ctx, volumeID)
		if err != nil {
			return Lease{}, fmt.Errorf("attach volume %s: %w", volumeID, err)
		}
		if v.State != meta.VolumeAvailable && v.State != meta.VolumeInUse {
			return Lease{}, fmt.Errorf("attach volume %s: %w: it is %s", volumeID, ErrState, v.State)
		}
		now := time.Now()
		if prev := v.Attachment; Live(prev, now) && !force {
			return Lease{}, &HeldError{VolumeID: volumeID, Host: prev.Host, Generation: prev.Generation, LeaseExpiresAt: prev.LeaseExpiresAt}
		}
		if v.LastGeneration >= MaxGeneration {
			return Lease{}, fmt.Errorf("attach volume %s: %w: all %d generations were used", volumeID, ErrState, uint64(MaxGeneration))
		}
		l := Lease{VolumeID: volumeID, Host: host, Generation: v.LastGeneration + 1, ExpiresAt: now.Add(ttl).UTC(),
			AttachedAt: now.UTC(), TTL: ttl, Previous: v.Attachment}
		v.LastGeneration = l.Generation
		v.State = meta.VolumeInUse
		v.Attachment = &meta.VolumeAttachment{Host: host, Generation: l.Generation, LeaseExpiresAt: l.ExpiresAt, AttachedAt: l.AttachedAt}
		err = mc.UpdateVolume(ctx, v, idx)
		if errors.Is(err, meta.ErrConflict) {
			continue // changed since we read it: decide again on the new record
		}
		if err != nil {
			return Lease{}, fmt.Errorf("attach volume %s: %w", volumeID, err)
		}
		return l, nil
	}
}

// update reads l's volume, checks that l still holds it, applies change and writes it back
// conditionally, retrying from the read when the record changed in between.
func update(ctx context.Context, mc *meta.Client, l Lease, change func(*meta.Volume)) error {
	for {
		v, idx, err := mc.Volume(ctx, l.VolumeID)
		if errors.Is(err, meta.ErrNotFound) {
			return fmt.Errorf("%w: volume %s was deleted", ErrFenced, l.VolumeID)
		}
		if err != nil {
			return err
		}
		if a := v.Attachment; a == nil || a.Generation != l.Generation {
			if a == nil {
				return fmt.Errorf("%w: volume %s was detached (generation %d was ours)", ErrFenced, l.VolumeID, l.Generation)
			}
			return fmt.Errorf("%w: volume %s is held by host %s at generation %d (ours was %d)", ErrFenced, l.VolumeID, a.Host, a.Generation, l.Generation)
		}
		change(&v)
		err = mc.UpdateVolume(ctx, v, idx)
		if !errors.Is(err, meta.ErrConflict) {
			return err
		}
	}
}

// Renew moves l's expiry to now + l.TTL and returns the renewed lease. It fails with
// ErrFenced if the volume's generation is no longer l's: the caller was fenced. A lease
// renewed after its expiry, before anyone else attached, is simply held again.
func Renew(ctx context.Context, mc *meta.Client, l Lease) (Lease, error) {
	next := l
	err := update(ctx, mc, l, func(v *meta.Volume) {
		next.ExpiresAt = time.Now().Add(l.TTL).UTC()
		v.Attachment.LeaseExpiresAt = next.ExpiresAt
	})
	if err != nil {
		return l, fmt.Errorf("renew lease of volume %s: %w", l.VolumeID, err)
	}
	return next, nil
}

// Detach gives l up: the volume becomes available, keeping its LastGeneration; a deleting
// volume (l was a reaper's claim) stays deleting. ErrFenced if l no longer holds it (nothing
// is changed then).
func Detach(ctx context.Context, mc *meta.Client, l Lease) error {
	err := update(ctx, mc, l, func(v *meta.Volume) {
		v.Attachment = nil
		if v.State != meta.VolumeDeleting {
			v.State = meta.VolumeAvailable
		}
	})
	if err != nil {
		return fmt.Errorf("detach volume %s: %w", l.VolumeID, err)
	}
	return nil
}

// Evict detaches whoever holds volumeID, for an operator: it refuses a live lease with a
// *HeldError unless force, and returns the attachment it removed (nil if the volume was not
// attached). Evicting a live holder does not fence it by itself; the next Attach does.
func Evict(ctx context.Context, mc *meta.Client, volumeID string, force bool) (*meta.VolumeAttachment, error) {
	for {
		v, _, err := mc.Volume(ctx, volumeID)
		if err != nil {
			return nil, fmt.Errorf("detach volume %s: %w", volumeID, err)
		}
		a := v.Attachment
		if a == nil {
			return nil, nil
		}
		if Live(a, time.Now()) && !force {
			return nil, &HeldError{VolumeID: volumeID, Host: a.Host, Generation: a.Generation, LeaseExpiresAt: a.LeaseExpiresAt}
		}
		err = Detach(ctx, mc, Lease{VolumeID: volumeID, Host: a.Host, Generation: a.Generation})
		if errors.Is(err, ErrFenced) {
			continue // attached or detached again meanwhile: look again
		}
		return a, err
	}
}

// Keep renews l every l.TTL/3 until ctx is done (it returns nil then, without detaching) or
// the lease is lost: ErrFenced when another generation holds the volume, ErrExpired when no
// renewal succeeded before the lease expired. After an error the caller must stop writing
// the volume. renewed, if not nil, is called with each renewed lease, from Keep's goroutine.
func Keep(ctx context.Context, mc *meta.Client, l Lease, renewed func(Lease)) error {
	interval := l.TTL / 3
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		// A renewal that lands after the expiry would hold a lease others may already have
		// taken without force; give up on it at the expiry instead.
		rctx, cancel := context.WithDeadline(ctx, l.ExpiresAt)
		next, err := Renew(rctx, mc, l)
		cancel()
		switch {
		case err == nil:
			l = next
			if renewed != nil {
				renewed(l)
			}
			t.Reset(interval)
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrFenced):
			return err
		case !time.Now().Before(l.ExpiresAt):
			return fmt.Errorf("keep lease of volume %s (generation %d): %w: %w", l.VolumeID, l.Generation, ErrExpired, err)
		default:
			// Meta unavailable for now: try again soon, well before the expiry.
			t.Reset(min(interval/4, time.Until(l.ExpiresAt)))
		}
	}
}
