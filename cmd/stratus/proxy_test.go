package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"stratus/internal/hlc"
	"stratus/internal/testutil"
	"stratus/meta/metatest"
	objclient "stratus/objectd/client"
	"stratus/proxy"
	"stratus/ring"
)

// TestProxyFollowsPublishedRing: a proxy adopts each ring published through meta, and
// publishing an older ring is refused.
func TestProxyFollowsPublishedRing(t *testing.T) {
	c := metatest.New(t, metatest.Options{Nodes: 1, Quiet: true})
	c.Leader(10 * time.Second)
	mc := c.Client()
	b, err := ring.NewBuilder(ring.BuilderConfig{PartPower: 4, Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	b.Add(ring.Device{Host: "127.0.0.1:6200", Name: "d1", Weight: 1})
	ringAt := func() *ring.Ring {
		t.Helper()
		if _, err := b.Rebalance(ring.RebalanceOptions{}); err != nil {
			t.Fatal(err)
		}
		r, err := b.Ring()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	v1 := ringAt()
	if err := publishRing(ctx, mc, v1); err != nil {
		t.Fatal(err)
	}
	px, err := proxy.New(proxy.DefaultConfig(), objclient.New(objclient.DefaultConfig()), &hlc.Clock{}, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	follow := runInBackground(ctx, func(ctx context.Context) error { return followRing(ctx, mc, testutil.Logger(t), px.SetRing) })
	defer follow.stopOrFail(t)
	waitVersion := func(v uint64) {
		t.Helper()
		testutil.Eventually(t, 20*time.Second, func() error {
			if r := px.Ring(); r == nil || r.Version() != v {
				return fmt.Errorf("proxy has ring %v, want version %d", r, v)
			}
			return nil
		})
	}
	waitVersion(v1.Version())
	v2 := ringAt()
	if err := publishRing(ctx, mc, v2); err != nil {
		t.Fatal(err)
	}
	waitVersion(v2.Version())
	// An older ring is never published over a newer one.
	mustStratusErr := func(args ...string) {
		t.Helper()
		if _, err := stratus(t, args...); err == nil {
			t.Fatalf("stratus %v succeeded", args)
		}
	}
	path := t.TempDir() + "/old.ring"
	if err := v1.Save(path); err != nil {
		t.Fatal(err)
	}
	mustStratusErr("ring", "publish", path, "--meta="+c.Nodes[0].Addr)
}
