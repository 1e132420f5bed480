package volumed_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"stratus/internal/testcluster"
	"stratus/internal/testutil"
	"stratus/meta/client"
	objclient "stratus/objectd/client"
	"stratus/ring"
	"stratus/volumed"
	"stratus/volumed/chunkdev"
)

// chunkReplicas returns the targets of chunk i of volume id.
func chunkReplicas(r *ring.Ring, id string, i int64) (string, []objclient.Target) {
	name := chunkdev.ChunkName(id, i)
	p := r.Partition(name)
	var ts []objclient.Target
	for _, d := range r.Primaries(p, nil) {
		ts = append(ts, objclient.Target{Host: d.Host, Device: d.Name, Partition: uint32(p)})
	}
	return name, ts
}

// TestDeleteRemovesChunks: deleting a written volume makes it deleting; a reap pass with a
// storage node down removes what it can and keeps the record (deleting, with its claim left
// to lapse); a second reaper is refused while the claim is live; once the node is back and the
// claim lapsed, the server's reaper removes every chunk replica and then the record.
func TestDeleteRemovesChunks(t *testing.T) {
	_, mc, _, ctx := setup(t)
	st := testcluster.StartStorage(t, testcluster.StorageOptions{Nodes: 3, Replicas: 3})
	cl := objclient.New(objclient.Config{Timeout: 5 * time.Second})
	t.Cleanup(cl.CloseIdleConnections)

	// A never-attached volume holds no chunks: its record goes at once.
	fresh := client.NewVolumeID()
	if err := mc.CreateVolume(ctx, client.Volume{ID: fresh, SizeBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	if gone, err := volumed.Delete(ctx, mc, fresh); err != nil || !gone {
		t.Fatalf("delete a never-attached volume: gone %v, %v", gone, err)
	}

	const chunk, chunks = 1 << 20, 16
	id := client.NewVolumeID()
	if err := mc.CreateVolume(ctx, client.Volume{ID: id, SizeBytes: chunks * chunk, ChunkSizeBytes: chunk}); err != nil {
		t.Fatal(err)
	}
	l, err := volumed.Attach(ctx, mc, id, "h1", false, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	dcfg := chunkdev.DefaultConfig()
	dcfg.Volume, dcfg.SizeBytes, dcfg.ChunkSizeBytes, dcfg.Generation = id, chunks*chunk, chunk, l.Generation
	dev, err := chunkdev.New(dcfg, st.Ring, cl, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	written := []int64{0, 5, chunks - 1}
	for _, i := range written {
		if err := dev.WriteAt(ctx, make([]byte, 4096), uint64(i*chunk+8192), false); err != nil {
			t.Fatal(err)
		}
	}
	if err := dev.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	dev.Detach()
	if _, err := volumed.Delete(ctx, mc, id); !errors.Is(err, volumed.ErrState) {
		t.Fatalf("delete an attached volume: %v, want ErrState", err)
	}
	if err := volumed.Detach(ctx, mc, l); err != nil {
		t.Fatal(err)
	}
	held := func() int {
		n := 0
		for _, i := range written {
			name, ts := chunkReplicas(st.Ring, id, i)
			for _, tg := range ts {
				if _, err := cl.ChunkMeta(ctx, tg, name, 0); err == nil {
					n++
				} else if !errors.Is(err, objclient.ErrNotFound) {
					t.Fatalf("chunk meta %s on %s: %v", name, tg, err)
				}
			}
		}
		return n
	}
	if n := held(); n != 3*len(written) {
		t.Fatalf("%d chunk replicas before the delete, want %d", n, 3*len(written))
	}

	if gone, err := volumed.Delete(ctx, mc, id); err != nil || gone {
		t.Fatalf("delete: gone %v, %v", gone, err)
	}
	if v, _, err := mc.Volume(ctx, id); err != nil || v.State != client.VolumeDeleting || v.Attachment != nil {
		t.Fatalf("after delete: %+v %v", v, err)
	}
	if _, err := volumed.Attach(ctx, mc, id, "h1", true, time.Minute); !errors.Is(err, volumed.ErrState) {
		t.Fatalf("attach a deleting volume: %v, want ErrState", err)
	}

	// One node down: the pass deletes the other replicas, keeps the record.
	down := st.Nodes[0]
	down.Stop()
	rcfg := volumed.DefaultReapConfig()
	rcfg.Host, rcfg.ClaimTTL, rcfg.Attempts, rcfg.CallTimeout = "r1", 3*time.Second, 2, 2*time.Second
	start := time.Now()
	res, err := volumed.Reap(ctx, mc, cl, st.Ring, id, rcfg)
	t.Logf("reap pass with a node down: %v, %+v", time.Since(start), res)
	if !errors.Is(err, volumed.ErrReapIncomplete) {
		t.Fatalf("reap with a node down: %+v %v, want ErrReapIncomplete", res, err)
	}
	if res.Chunks != chunks || res.Deletes != 2*chunks || res.Generation != l.Generation+1 {
		t.Fatalf("reap with a node down: %+v, want %d chunks, %d deletes, generation %d", res, chunks, 2*chunks, l.Generation+1)
	}
	// The claim stays until it lapses, and keeps other reapers off meanwhile.
	v, _, err := mc.Volume(ctx, id)
	if err != nil || v.State != client.VolumeDeleting || v.Attachment == nil || v.Attachment.Host != "r1" || v.LastGeneration != res.Generation {
		t.Fatalf("after an incomplete reap: %+v %v", v, err)
	}
	r2 := rcfg
	r2.Host = "r2"
	if _, err := volumed.Reap(ctx, mc, cl, st.Ring, id, r2); !errors.Is(err, volumed.ErrHeld) {
		t.Fatalf("reap while r1's claim is live: %v, want ErrHeld", err)
	}

	// The node is back; a server following the table finishes the job.
	down.Restart()
	cfg := volumed.DefaultConfig()
	cfg.Host, cfg.LeaseTTL, cfg.ResyncInterval = "h2", 3*time.Second, time.Second
	cfg.Logger = testutil.Logger(t)
	srv, err := volumed.NewServer(cfg, mc, cl, func() *ring.Ring { return st.Ring })
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "nbd.sock"))
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(rctx, ln) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	start = time.Now()
	testutil.Eventually(t, 20*time.Second, func() error {
		if v, _, err := mc.Volume(ctx, id); !errors.Is(err, client.ErrNotFound) {
			return fmt.Errorf("record still there: %+v %v", v, err)
		}
		return nil
	})
	t.Logf("record gone %v after the server started", time.Since(start))
	if n := held(); n != 0 {
		t.Fatalf("%d chunk replicas left after the volume was deleted", n)
	}
}
