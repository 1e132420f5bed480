package volumed_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stratus/internal/hlc"
	"stratus/internal/pki"
	"stratus/internal/testcluster"
	"stratus/internal/testutil"
	"stratus/meta/client"
	"stratus/meta/metatest"
	objclient "stratus/objectd/client"
	"stratus/proxy"
	"stratus/ring"
	"stratus/volumed"
	"stratus/volumed/snapshot"
)

// TestSnapshotAndClone is the feature end to end, through the real daemon, catalog and
// storage nodes (mutual TLS everywhere) and qemu-io over NBD: write pattern A, snapshot
// (pending → creating → completed), write pattern B, create a volume from the snapshot:
// it reads exactly pattern A, while the volume reads B. Then an incremental snapshot
// copies only what changed, a snapshot of a volume attached nowhere is taken under a
// short lease, and a deleting snapshot goes away.
func TestSnapshotAndClone(t *testing.T) {
	qemuIO, err := exec.LookPath("qemu-io")
	if err != nil {
		t.Skip("qemu-io not installed (Debian package qemu-utils; make test installs it)")
	}
	c := metatest.New(t, metatest.Options{Nodes: 1, Quiet: true, TLS: true})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	admin := c.ClientAs(pki.RoleAdmin) // the operator
	mc := c.ClientAs(pki.RoleVolumed)  // the daemon
	st := testcluster.StartStorage(t, testcluster.StorageOptions{Nodes: 3, Replicas: 3, PKI: c.PKI})
	id := c.Identity(pki.IssueRequest{Role: pki.RoleVolumed, Name: "test-volumed"})
	cl := objclient.New(objclient.Config{TLS: id.ClientTLS(pki.RoleObjectd), Timeout: 5 * time.Second})
	t.Cleanup(cl.CloseIdleConnections)
	pcfg := proxy.DefaultConfig()
	pcfg.NodeTimeout = 5 * time.Second
	px, err := proxy.New(pcfg, cl, &hlc.Clock{}, testutil.Logger(t).With("part", "proxy"))
	if err != nil {
		t.Fatal(err)
	}
	px.SetRing(st.Ring)
	scfg := snapshot.DefaultConfig()
	scfg.TombstoneHoldoff, scfg.CallTimeout = 0, 10*time.Second

	cfg := volumed.DefaultConfig()
	cfg.Host, cfg.LeaseTTL, cfg.ResyncInterval = "h1", 3*time.Second, time.Second
	cfg.Device.CallTimeout = 5 * time.Second
	cfg.Logger = testutil.Logger(t)
	cfg.Snapshots = snapshot.New(scfg, mc, px, cfg.Logger.With("part", "snapshot"))
	srv, err := volumed.NewServer(cfg, mc, cl, func() *ring.Ring { return st.Ring })
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "nbd.sock")
	ln, err := net.Listen("unix", sock)
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

	const size, chunk = 16 << 20, 1 << 20
	attach := func(vol string) volumed.Lease {
		t.Helper()
		lease, err := volumed.Attach(ctx, admin, vol, "h1", false, cfg.LeaseTTL)
		if err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 10*time.Second, func() error {
			if g := srv.Serving()[vol]; g != lease.Generation {
				return fmt.Errorf("serving %s at generation %d, want %d", vol, g, lease.Generation)
			}
			return nil
		})
		return lease
	}
	qemu := func(vol string, cmds ...string) {
		t.Helper()
		args := []string{"-f", "raw"}
		for _, c := range cmds {
			args = append(args, "-c", c)
		}
		out, err := exec.CommandContext(ctx, qemuIO, append(args, fmt.Sprintf("nbd+unix:///%s?socket=%s", vol, sock))...).CombinedOutput()
		if err != nil || strings.Contains(string(out), "Pattern verification failed") || strings.Contains(string(out), "error") {
			t.Fatalf("qemu-io %s %q: %v\n%s", vol, cmds, err, out)
		}
	}
	snap := func(vol string) string {
		t.Helper()
		sid := client.NewSnapshotID()
		if err := admin.CreateSnapshot(ctx, client.Snapshot{ID: sid, VolumeID: vol, SizeBytes: size, ChunkSizeBytes: chunk}); err != nil {
			t.Fatal(err)
		}
		return sid
	}
	await := func(sid string, states ...client.SnapshotState) client.Snapshot {
		t.Helper()
		var s client.Snapshot
		testutil.Eventually(t, 30*time.Second, func() error {
			var err error
			if s, _, err = admin.Snapshot(ctx, sid); err != nil {
				return err
			}
			for _, st := range states {
				if s.State == st {
					return nil
				}
			}
			return fmt.Errorf("snapshot %s is %s (%s), want %v", sid, s.State, s.Error, states)
		})
		return s
	}

	markDeleting := func(sid string) {
		t.Helper()
		s, idx, err := admin.Snapshot(ctx, sid)
		if err != nil {
			t.Fatal(err)
		}
		s.State = client.SnapshotDeleting
		if err := admin.UpdateSnapshot(ctx, s, idx); err != nil {
			t.Fatal(err)
		}
	}

	vol := client.NewVolumeID()
	if err := admin.CreateVolume(ctx, client.Volume{ID: vol, SizeBytes: size, ChunkSizeBytes: chunk}); err != nil {
		t.Fatal(err)
	}
	lease := attach(vol)
	// Pattern A: chunks 0-3, part of chunk 8, and chunk 15; not flushed (the snapshot does).
	qemu(vol, "write -P 0xaa 0 4M", "write -P 0xa8 8M 64k", "write -P 0xaf 15M 1M")

	start := time.Now()
	s1 := snap(vol)
	s := await(s1, client.SnapshotCreating, client.SnapshotCompleted)
	frozen := time.Since(start)
	if s.Generation != lease.Generation {
		t.Fatalf("snapshot generation %d, want the attachment's %d", s.Generation, lease.Generation)
	}
	// Pattern B over all of A, and the rest, racing the copy.
	qemu(vol, "write -P 0xbb 0 16M", "flush")
	s = await(s1, client.SnapshotCompleted)
	t.Logf("snapshot 1: point in time after %v, completed after %v; %d chunks copied, %d bytes stored", frozen, time.Since(start), s.ChunksCopied, s.StoredBytes)
	if s.ChunksTotal != 6 || s.ChunksCopied != 6 || s.Manifest == "" {
		t.Fatalf("snapshot 1: %+v, want 6 chunks copied and a manifest", s)
	}
	qemu(vol, "read -P 0xbb 0 16M")

	// A volume created from the snapshot holds exactly pattern A, at once.
	clone := client.NewVolumeID()
	if err := admin.CreateVolume(ctx, client.Volume{ID: clone, SizeBytes: size, ChunkSizeBytes: chunk, FromSnapshot: s1}); err != nil {
		t.Fatal(err)
	}
	cloneLease := attach(clone)
	qemu(clone, "read -P 0xaa 0 4M", "read -P 0 4M 4M", "read -P 0xa8 8M 64k", "read -P 0 8256k 960k", "read -P 0 9M 6M", "read -P 0xaf 15M 1M")
	// Its writes land on its own chunks: over base data, and where the base has none.
	qemu(clone, "write -P 0xcc 1M 4k", "write -P 0xcd 5M 4k", "flush")
	qemu(clone, "read -P 0xaa 0 1M", "read -P 0xcc 1M 4k", "read -P 0xaa 1052672 1044480", "read -P 0xcd 5M 4k")

	// Every chunk changed since s1 (pattern B): all are copied, and their one content is
	// stored once.
	s2 := snap(vol)
	s = await(s2, client.SnapshotCompleted)
	if s.Parent != s1 || s.ChunksTotal != 16 || s.StoredBytes != chunk {
		t.Fatalf("snapshot 2: parent %s, %d chunks copied, %d bytes stored; want %s, 16, %d", s.Parent, s.ChunksTotal, s.StoredBytes, s1, chunk)
	}
	// An incremental snapshot copies only the chunk changed since s2.
	qemu(vol, "write -P 0xdd 3M 4k")
	s2b := snap(vol)
	s = await(s2b, client.SnapshotCompleted)
	if s.Parent != s2 || s.ChunksTotal != 1 || s.StoredBytes != chunk {
		t.Fatalf("incremental snapshot: parent %s, %d chunks copied, %d bytes stored; want %s, 1, %d", s.Parent, s.ChunksTotal, s.StoredBytes, s2, chunk)
	}
	qemu(vol, "write -P 0xee 0 16M")
	// Deleting s2 keeps the chunks s2b inherited from it.
	markDeleting(s2)
	testutil.Eventually(t, 30*time.Second, func() error {
		if _, _, err := admin.Snapshot(ctx, s2); !errors.Is(err, client.ErrNotFound) {
			return fmt.Errorf("snapshot s2 after deletion: %v", err)
		}
		return nil
	})
	clone2 := client.NewVolumeID()
	if err := admin.CreateVolume(ctx, client.Volume{ID: clone2, SizeBytes: size, ChunkSizeBytes: chunk, FromSnapshot: s2b}); err != nil {
		t.Fatal(err)
	}
	attach(clone2)
	qemu(clone2, "read -P 0xbb 0 3M", "read -P 0xdd 3M 4k", "read -P 0xbb 3149824 13627392")

	// The clone, detached, is snapshotted under a short lease, then left detached.
	if err := volumed.Detach(ctx, admin, cloneLease); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if _, ok := srv.Serving()[clone]; ok {
			return errors.New("still serving the detached clone")
		}
		return nil
	})
	s3 := snap(clone)
	s = await(s3, client.SnapshotCompleted)
	if s.Generation != cloneLease.Generation+1 {
		t.Fatalf("snapshot of the detached clone taken at generation %d, want %d", s.Generation, cloneLease.Generation+1)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		v, _, err := admin.Volume(ctx, clone)
		if err != nil {
			return err
		}
		if v.Attachment != nil || v.State != client.VolumeAvailable {
			return fmt.Errorf("clone after its snapshot: %s, attachment %+v", v.State, v.Attachment)
		}
		return nil
	})
	// The base chunks the clone never wrote are in its snapshot too: a volume from it
	// reads pattern A with the clone's writes.
	clone3 := client.NewVolumeID()
	if err := admin.CreateVolume(ctx, client.Volume{ID: clone3, SizeBytes: size, ChunkSizeBytes: chunk, FromSnapshot: s3}); err != nil {
		t.Fatal(err)
	}
	attach(clone3)
	qemu(clone3, "read -P 0xaa 0 1M", "read -P 0xcc 1M 4k", "read -P 0xcd 5M 4k", "read -P 0xaf 15M 1M")

	// A snapshot a volume was created from is not deleted.
	markDeleting(s3)
	testutil.Eventually(t, 30*time.Second, func() error {
		s, _, err := admin.Snapshot(ctx, s3)
		if err != nil || s.State != client.SnapshotCompleted || !strings.Contains(s.Error, "refused") {
			return fmt.Errorf("deletion of a snapshot in use: %+v, %v", s, err)
		}
		return nil
	})
}
