package chunkdev

import (
	"testing"
	"time"

	"stratus/internal/testcluster"
	objclient "stratus/objectd/client"
)

// newLocalEnv is newEnv with node local's chunk calls made directly, as in a host that
// runs a storage node and the volume daemon in one process (stratus server).
func newLocalEnv(t *testing.T, local int) *env {
	t.Helper()
	st := testcluster.StartStorage(t, testcluster.StorageOptions{Nodes: 3, Replicas: 3})
	n := st.Nodes[local]
	cl := objclient.New(objclient.Config{Timeout: 5 * time.Second, Local: map[string]objclient.LocalChunks{n.Addr: n.LocalChunks()}})
	t.Cleanup(cl.CloseIdleConnections)
	return &env{t: t, st: st, cl: cl}
}

// TestConcurrentWithLocalNodeRestart is TestConcurrentWithNodeRestart with the node that
// stops and restarts reached by direct calls: the device sees it refuse while stopped,
// marks it behind, and repairs it after, as over the network.
func TestConcurrentWithLocalNodeRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	concurrentWithNodeRestart(t, newLocalEnv(t, 2))
}
