package objectd

import (
	"strconv"
	"testing"
	"time"
)

// TestStopAfterReplicationIsPrompt: peers that replicated to a node leave connections in
// their pools that never carried a request; stopping the node closes them at once instead of
// waiting the 5 s http.Server.Shutdown gives such connections.
func TestStopAfterReplicationIsPrompt(t *testing.T) {
	c := newCluster(t, 3, 1)
	for i := range 16 {
		name := "o" + strconv.Itoa(i)
		part, prims := c.place(name)
		n, tg := c.target(prims[0], part)
		mustPut(t, n, tg, name, ts(1), []byte(name))
	}
	c.replicate(t)
	c.replicate(t)
	for i, n := range c.nodes {
		start := time.Now()
		n.stop()
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("node %d took %v to stop after replication", i, took)
		}
	}
}
