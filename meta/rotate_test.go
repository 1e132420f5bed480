package meta_test

import (
	"errors"
	"testing"
	"time"

	"stratus/meta"
	"stratus/meta/client"
	"stratus/meta/metatest"
)

// TestClusterKeyRotation: a node given a new cluster key with the old one as an old key
// still opens secrets sealed before, and seals new ones with the new key; without the old
// key the old secrets do not open.
func TestClusterKeyRotation(t *testing.T) {
	newKey := []byte("rotated-cluster-key-32-bytes!!!!")
	keys := struct {
		key []byte
		old [][]byte
	}{key: metatest.ClusterKey}
	c := metatest.New(t, metatest.Options{Nodes: 1, Quiet: true, Configure: func(cfg *meta.Config) {
		cfg.ClusterKey, cfg.OldClusterKeys = keys.key, keys.old
	}})
	cl := c.Client()
	ctx := ctxT(t, 60*time.Second)
	if err := cl.CreateAccessKey(ctx, client.AccessKey{ID: "OLD", Account: "a", Secret: "sealed-with-the-first-key"}); err != nil {
		t.Fatal(err)
	}

	keys.key, keys.old = newKey, [][]byte{metatest.ClusterKey}
	c.Stop(0)
	c.Restart(0)
	c.Leader(10 * time.Second)
	if k, err := cl.AccessKeySecret(ctx, "OLD"); err != nil || k.Secret != "sealed-with-the-first-key" {
		t.Fatalf("old secret after rotation: %+v, %v", k, err)
	}
	if err := cl.CreateAccessKey(ctx, client.AccessKey{ID: "NEW", Account: "a", Secret: "sealed-with-the-second-key"}); err != nil {
		t.Fatal(err)
	}

	// With the new key alone, new secrets open and old ones do not.
	keys.old = nil
	c.Stop(0)
	c.Restart(0)
	c.Leader(10 * time.Second)
	if k, err := cl.AccessKeySecret(ctx, "NEW"); err != nil || k.Secret != "sealed-with-the-second-key" {
		t.Fatalf("new secret with the new key alone: %+v, %v", k, err)
	}
	if _, err := cl.AccessKeySecret(ctx, "OLD"); err == nil || errors.Is(err, client.ErrNotFound) {
		t.Fatalf("old secret opened without the old key: %v", err)
	}
}
