package objectd

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"stratus/internal/testutil"
	"stratus/objectd/client"
)

// TestBackgroundLoopsHeal checks the wiring of Run: with the loops on, a copy written to one
// replica only reaches the others without anyone calling ReplicateOnce.
func TestBackgroundLoopsHeal(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := newCluster(t, 3, 1)
	for _, n := range c.nodes {
		n.stop()
	}
	// Restart the same disks with the replicator and auditor running.
	var nodes []*testNode
	for _, old := range c.nodes {
		dir := old.dir
		n := startNode(t, listenOn(t, old.addr), nil, func(cfg *Config) {
			cfg.DevicesDir = dir
			cfg.RingPath = c.ringPath
			cfg.RingCheckInterval = 10 * time.Millisecond
			cfg.ReplicationInterval = 20 * time.Millisecond
			cfg.AuditInterval = 20 * time.Millisecond
		})
		nodes = append(nodes, n)
		c.byHost[n.addr] = n
	}
	c.nodes = nodes
	part, prims := c.place("lonely")
	n, tg := c.target(prims[0], part)
	mustPut(t, n, tg, "lonely", ts(1), []byte("company"))
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, d := range prims {
			n, tg := c.target(d, part)
			if _, err := n.cl.Head(ctxT(t), tg, "lonely"); err != nil {
				return fmt.Errorf("%v: %w", tg, err)
			}
		}
		return nil
	})
}

// TestReadersNeverSeeAMix overwrites one name while readers read it: every read is one
// complete version (the client verifies length and checksum), never a blend or a partial.
func TestReadersNeverSeeAMix(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, nil)
	tg := n.target("d1", 8)
	versions := make([][]byte, 12)
	for i := range versions {
		versions[i] = payload(bufSize+1000*i, uint64(100+i))
	}
	mustPut(t, n, tg, "hot", ts(0), versions[0])
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				info, b, err := get(t, n, tg, "hot")
				if err != nil {
					t.Errorf("read: %v", err)
					return
				}
				i := int(info.Timestamp - ts(0))
				if i < 0 || i >= len(versions) || !bytes.Equal(b, versions[i]) {
					t.Errorf("read version %v: content does not match it", info.Timestamp)
					return
				}
			}
		})
	}
	for i := 1; i < len(versions); i++ {
		if err := put(t, n, tg, "hot", ts(i), versions[i]); err != nil && !errors.Is(err, client.ErrConflict) {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}
