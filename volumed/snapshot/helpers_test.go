package snapshot_test

import (
	"context"
	"testing"
	"time"

	"github.com/minio/sha256-simd"

	"stratus/internal/hlc"
	"stratus/internal/pki"
	"stratus/internal/testcluster"
	"stratus/internal/testutil"
	"stratus/meta/client"
	"stratus/meta/metatest"
	objclient "stratus/objectd/client"
	"stratus/proxy"
	"stratus/volumed/snapshot"
)

// env is a one-node catalog and three storage nodes (three replicas) of one cluster CA, all
// speaking mutual TLS, and a Store that reaches them with a volumed certificate.
type env struct {
	t     testing.TB
	ctx   context.Context
	meta  *metatest.Cluster
	mc    *client.Client    // volumed certificate
	px    *proxy.Proxy      // volumed certificate
	oc    *objclient.Client // volumed certificate, straight to storage nodes
	st    *testcluster.Storage
	store *snapshot.Store
}

func newEnv(t testing.TB, cfg snapshot.Config) *env {
	t.Helper()
	c := metatest.New(t, metatest.Options{Nodes: 1, Quiet: true, TLS: true})
	st := testcluster.StartStorage(t, testcluster.StorageOptions{Nodes: 3, Replicas: 3, PKI: c.PKI})
	id := c.Identity(pki.IssueRequest{Role: pki.RoleVolumed, Name: "test-volumed"})
	oc := objclient.New(objclient.Config{TLS: id.ClientTLS(pki.RoleObjectd), Timeout: 5 * time.Second})
	t.Cleanup(oc.CloseIdleConnections)
	pcfg := proxy.DefaultConfig()
	pcfg.NodeTimeout = 5 * time.Second
	px, err := proxy.New(pcfg, oc, &hlc.Clock{}, testutil.Logger(t).With("part", "proxy"))
	if err != nil {
		t.Fatal(err)
	}
	px.SetRing(st.Ring)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	mc := c.ClientAs(pki.RoleVolumed)
	return &env{t: t, ctx: ctx, meta: c, mc: mc, px: px, oc: oc, st: st,
		store: snapshot.New(cfg, mc, px, testutil.Logger(t).With("part", "snapshot"))}
}

// fastConfig has no tombstone holdoff, so deleted chunks' records go at once.
func fastConfig() snapshot.Config {
	cfg := snapshot.DefaultConfig()
	cfg.TombstoneHoldoff = 0
	cfg.CallTimeout = 10 * time.Second
	return cfg
}

// chunk returns n bytes of content determined by seed.
func chunk(n int, seed uint64) []byte { return testutil.Payload(n, seed) }

// record returns the reference record of content data; false if there is none.
func (e *env) record(data []byte) (client.SnapChunk, bool) {
	e.t.Helper()
	sum := sha256.Sum256(data)
	rec, _, err := e.mc.SnapChunk(e.ctx, snapshot.Ref{SHA: sum}.Hex())
	if err != nil {
		if !isNotFound(err) {
			e.t.Fatal(err)
		}
		return rec, false
	}
	return rec, true
}

// stored reports whether the object of ref's content is readable at its version.
func (e *env) stored(ref snapshot.Ref) bool {
	e.t.Helper()
	o, err := e.px.Get(e.ctx, snapshot.ChunkName(ref.SHA), 0, nil)
	if err != nil {
		if !isProxyNotFound(err) {
			e.t.Fatalf("get %s: %v", snapshot.ChunkName(ref.SHA), err)
		}
		return false
	}
	o.Body.Close()
	return true
}

// creating stores a snapshot record of volume vol in state creating.
func (e *env) creating(vol string, size, chunkSize int64, parent string) client.Snapshot {
	e.t.Helper()
	s := client.Snapshot{ID: client.NewSnapshotID(), VolumeID: vol, SizeBytes: size, ChunkSizeBytes: chunkSize,
		State: client.SnapshotCreating, Parent: parent}
	if err := e.mc.CreateSnapshot(e.ctx, s); err != nil {
		e.t.Fatal(err)
	}
	return s
}
