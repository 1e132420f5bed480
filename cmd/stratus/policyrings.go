package main

import (
	"context"
	"log/slog"
	"time"

	metaclient "stratus/meta/client"
	"stratus/ring"
)

// policyRingPoll is how often a front end looks for new storage policies and new
// versions of their rings: a new EC policy is served within this of its ring's publish.
const policyRingPoll = 30 * time.Second

// policyRingUser is what needs erasure-coded policies' rings: a proxy (to place
// fragments) or a storage node (to reconstruct them).
type policyRingUser interface {
	SetPolicyRing(name string, r *ring.Ring) bool
}

// followPolicyRings gives px the rings of the cluster's erasure-coded policies, and their
// new versions, until ctx ends. The object ring is followRing's.
func followPolicyRings(ctx context.Context, mc *metaclient.Client, log *slog.Logger, px policyRingUser) error {
	for {
		loadPolicyRings(ctx, mc, log, px)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(policyRingPoll):
		}
	}
}

func loadPolicyRings(ctx context.Context, mc *metaclient.Client, log *slog.Logger, px policyRingUser) {
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	policies, err := mc.Policies(cctx)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("list storage policies", "err", err)
		}
		return
	}
	for _, p := range policies {
		if !p.IsEC() {
			continue
		}
		rv, _, err := mc.Ring(cctx, p.RingName())
		if err != nil {
			continue // not published yet: buckets cannot pick the policy until it is
		}
		r, err := ring.Decode(rv.Data)
		if err != nil {
			log.Error("published ring unreadable", "ring", p.RingName(), "version", rv.Version, "err", err)
			continue
		}
		px.SetPolicyRing(p.RingName(), r)
	}
}
