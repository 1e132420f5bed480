package volumed_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	vclient "stratus/volumed/client"
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

// snapEnv is a volumed server (host h1) with a snapshot store, over a one-node catalog and
// three storage nodes, all on mutual TLS; its volumes are served on a unix socket.
type snapEnv struct {
	t      *testing.T
	ctx    context.Context
	admin  *client.Client // the operator
	mc     *client.Client // the daemon
	srv    *volumed.Server
	cfg    volumed.Config
	sock   string
	qemuIO string
}

func newSnapEnv(t *testing.T) *snapEnv {
	t.Helper()
	qemuIO, err := exec.LookPath("qemu-io")
	if err != nil {
		t.Skip("qemu-io not installed (Debian package qemu-utils; make test installs it)")
	}
	c := metatest.New(t, metatest.Options{Nodes: 1, Quiet: true, TLS: true})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	e := &snapEnv{t: t, ctx: ctx, admin: c.ClientAs(pki.RoleAdmin), mc: c.ClientAs(pki.RoleVolumed), qemuIO: qemuIO}
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

	e.cfg = volumed.DefaultConfig()
	e.cfg.Host, e.cfg.LeaseTTL, e.cfg.ResyncInterval = "h1", 10*time.Second, time.Second
	e.cfg.Device.CallTimeout = 5 * time.Second
	e.cfg.Logger = testutil.Logger(t)
	e.cfg.Snapshots = snapshot.New(scfg, e.mc, px, e.cfg.Logger.With("part", "snapshot"))
	if e.srv, err = volumed.NewServer(e.cfg, e.mc, cl, func() *ring.Ring { return st.Ring }); err != nil {
		t.Fatal(err)
	}
	e.sock = filepath.Join(t.TempDir(), "nbd.sock")
	ln, err := net.Listen("unix", e.sock)
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Run(rctx, ln) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return e
}

// volume creates a volume of size bytes in chunk-byte chunks, from snapshot from if set.
func (e *snapEnv) volume(size, chunk int64, from string) string {
	e.t.Helper()
	id := client.NewVolumeID()
	if err := e.admin.CreateVolume(e.ctx, client.Volume{ID: id, SizeBytes: size, ChunkSizeBytes: chunk, FromSnapshot: from}); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// attach attaches vol to h1 and waits until the server serves it.
func (e *snapEnv) attach(vol string) volumed.Lease {
	e.t.Helper()
	lease, err := volumed.Attach(e.ctx, e.admin, vol, "h1", false, e.cfg.LeaseTTL)
	if err != nil {
		e.t.Fatal(err)
	}
	testutil.Eventually(e.t, 10*time.Second, func() error {
		if g := e.srv.Serving()[vol]; g != lease.Generation {
			return fmt.Errorf("serving %s at generation %d, want %d", vol, g, lease.Generation)
		}
		return nil
	})
	return lease
}

// qemu runs qemu-io commands on vol through the server; any failed command or pattern
// check fails the test.
func (e *snapEnv) qemu(vol string, cmds ...string) {
	e.t.Helper()
	args := []string{"-f", "raw"}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out, err := exec.CommandContext(e.ctx, e.qemuIO, append(args, fmt.Sprintf("nbd+unix:///%s?socket=%s", vol, e.sock))...).CombinedOutput()
	if err != nil || strings.Contains(string(out), "Pattern verification failed") || strings.Contains(string(out), "error") {
		e.t.Fatalf("qemu-io %s %q: %v\n%s", vol, cmds, err, out)
	}
}

// snap asks for a snapshot of vol, as the CLI does.
func (e *snapEnv) snap(vol string) string {
	e.t.Helper()
	s, err := vclient.RequestSnapshot(e.ctx, e.admin, vol)
	if err != nil {
		e.t.Fatal(err)
	}
	return s.ID
}

// await waits until snapshot sid is in one of states.
func (e *snapEnv) await(sid string, states ...client.SnapshotState) client.Snapshot {
	e.t.Helper()
	var s client.Snapshot
	testutil.Eventually(e.t, 30*time.Second, func() error {
		var err error
		if s, _, err = e.admin.Snapshot(e.ctx, sid); err != nil {
			return err
		}
		if slices.Contains(states, s.State) {
			return nil
		}
		return fmt.Errorf("snapshot %s is %s (%s), want %v", sid, s.State, s.Error, states)
	})
	return s
}

// markDeleting asks for snapshot sid to go, as the CLI does.
func (e *snapEnv) markDeleting(sid string) {
	e.t.Helper()
	if _, err := vclient.RequestSnapshotDelete(e.ctx, e.admin, sid); err != nil {
		e.t.Fatal(err)
	}
}

// TestSnapshotAndClone is the feature end to end, through the real daemon, catalog and
// storage nodes (mutual TLS everywhere) and qemu-io over NBD: write pattern A, snapshot
// (pending → creating → completed), write pattern B, create a volume from the snapshot:
// it reads exactly pattern A, while the volume reads B. Then an incremental snapshot
// copies only what changed, a snapshot of a volume attached nowhere is taken under a
// short lease, and deletion keeps what other snapshots and clones need.
func TestSnapshotAndClone(t *testing.T) {
	e := newSnapEnv(t)
	ctx, admin := e.ctx, e.admin
	const size, chunk = 16 << 20, 1 << 20
	vol := e.volume(size, chunk, "")
	lease := e.attach(vol)
	// Pattern A: chunks 0-3, part of chunk 8, and chunk 15; not flushed (the snapshot does).
	e.qemu(vol, "write -P 0xaa 0 4M", "write -P 0xa8 8M 64k", "write -P 0xaf 15M 1M")

	start := time.Now()
	s1 := e.snap(vol)
	s := e.await(s1, client.SnapshotCreating, client.SnapshotCompleted)
	frozen := time.Since(start)
	if s.Generation != lease.Generation {
		t.Fatalf("snapshot generation %d, want the attachment's %d", s.Generation, lease.Generation)
	}
	// Pattern B over all of A, and the rest, racing the copy.
	e.qemu(vol, "write -P 0xbb 0 16M", "flush")
	s = e.await(s1, client.SnapshotCompleted)
	t.Logf("snapshot 1: point in time after %v, completed after %v; %d chunks copied, %d bytes stored", frozen, time.Since(start), s.ChunksCopied, s.StoredBytes)
	if s.ChunksTotal != 6 || s.ChunksCopied != 6 || s.Manifest == "" {
		t.Fatalf("snapshot 1: %+v, want 6 chunks copied and a manifest", s)
	}
	e.qemu(vol, "read -P 0xbb 0 16M")

	// A volume created from the snapshot holds exactly pattern A, at once.
	clone := e.volume(size, chunk, s1)
	cloneLease := e.attach(clone)
	e.qemu(clone, "read -P 0xaa 0 4M", "read -P 0 4M 4M", "read -P 0xa8 8M 64k", "read -P 0 8256k 960k", "read -P 0 9M 6M", "read -P 0xaf 15M 1M")
	// Its writes land on its own chunks: over base data, and where the base has none.
	e.qemu(clone, "write -P 0xcc 1M 4k", "write -P 0xcd 5M 4k", "flush")
	e.qemu(clone, "read -P 0xaa 0 1M", "read -P 0xcc 1M 4k", "read -P 0xaa 1052672 1044480", "read -P 0xcd 5M 4k")

	// Every chunk changed since s1 (pattern B): all are copied, and their one content is
	// stored once.
	s2 := e.snap(vol)
	s = e.await(s2, client.SnapshotCompleted)
	if s.Parent != s1 || s.ChunksTotal != 16 || s.StoredBytes != chunk {
		t.Fatalf("snapshot 2: parent %s, %d chunks copied, %d bytes stored; want %s, 16, %d", s.Parent, s.ChunksTotal, s.StoredBytes, s1, chunk)
	}
	// An incremental snapshot copies only the chunk changed since s2.
	e.qemu(vol, "write -P 0xdd 3M 4k")
	s2b := e.snap(vol)
	s = e.await(s2b, client.SnapshotCompleted)
	if s.Parent != s2 || s.ChunksTotal != 1 || s.StoredBytes != chunk {
		t.Fatalf("incremental snapshot: parent %s, %d chunks copied, %d bytes stored; want %s, 1, %d", s.Parent, s.ChunksTotal, s.StoredBytes, s2, chunk)
	}
	// With nothing written since, a snapshot copies nothing and inherits every entry.
	s2c := e.snap(vol)
	if s = e.await(s2c, client.SnapshotCompleted); s.Parent != s2b || s.ChunksTotal != 0 || s.StoredBytes != 0 {
		t.Fatalf("snapshot with nothing changed: parent %s, %d chunks copied, %d bytes stored", s.Parent, s.ChunksTotal, s.StoredBytes)
	}
	e.qemu(vol, "write -P 0xee 0 16M")
	// Deleting s2 keeps the chunks s2b and s2c inherited from it.
	e.markDeleting(s2)
	testutil.Eventually(t, 30*time.Second, func() error {
		if _, _, err := admin.Snapshot(ctx, s2); !errors.Is(err, client.ErrNotFound) {
			return fmt.Errorf("snapshot s2 after deletion: %v", err)
		}
		return nil
	})
	clone2 := e.volume(size, chunk, s2c)
	e.attach(clone2)
	e.qemu(clone2, "read -P 0xbb 0 3M", "read -P 0xdd 3M 4k", "read -P 0xbb 3149824 13627392")

	// The clone, detached, is snapshotted under a short lease, then left detached.
	if err := volumed.Detach(ctx, admin, cloneLease); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if _, ok := e.srv.Serving()[clone]; ok {
			return errors.New("still serving the detached clone")
		}
		return nil
	})
	s3 := e.snap(clone)
	s = e.await(s3, client.SnapshotCompleted)
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
	clone3 := e.volume(size, chunk, s3)
	e.attach(clone3)
	e.qemu(clone3, "read -P 0xaa 0 1M", "read -P 0xcc 1M 4k", "read -P 0xcd 5M 4k", "read -P 0xaf 15M 1M")

	// A snapshot a volume was created from is not deleted: the request is refused, and so
	// is a deletion marked behind its back (as if the clone were created meanwhile).
	if _, err := vclient.RequestSnapshotDelete(ctx, admin, s3); !errors.Is(err, snapshot.ErrInUse) {
		t.Fatalf("request to delete a snapshot in use: %v", err)
	}
	rec, idx, err := admin.Snapshot(ctx, s3)
	if err != nil {
		t.Fatal(err)
	}
	rec.State = client.SnapshotDeleting
	if err := admin.UpdateSnapshot(ctx, rec, idx); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		s, _, err := admin.Snapshot(ctx, s3)
		if err != nil || s.State != client.SnapshotCompleted || !strings.Contains(s.Error, "refused") {
			return fmt.Errorf("deletion of a snapshot in use: %+v, %v", s, err)
		}
		return nil
	})
}

// TestSnapshotFailures: a snapshot that cannot be taken, or whose taker went away, ends in
// error, never completed; one whose volume moves to another host during its copy fails
// and gives back every chunk reference it took.
func TestSnapshotFailures(t *testing.T) {
	e := newSnapEnv(t)
	ctx, admin := e.ctx, e.admin
	const size, chunk = 16 << 20, 64 << 10

	// A request for a volume that does not exist.
	missing := client.Snapshot{ID: client.NewSnapshotID(), VolumeID: client.NewVolumeID(), SizeBytes: size, ChunkSizeBytes: chunk}
	if err := admin.CreateSnapshot(ctx, missing); err != nil {
		t.Fatal(err)
	}
	if s := e.await(missing.ID, client.SnapshotError); !strings.Contains(s.Error, "does not exist") {
		t.Fatalf("snapshot of a missing volume: %+v", s)
	}
	// A snapshot left creating by a volumed that stopped (the volume is attached nowhere).
	idle := e.volume(size, chunk, "")
	abandoned := client.Snapshot{ID: client.NewSnapshotID(), VolumeID: idle, SizeBytes: size, ChunkSizeBytes: chunk,
		State: client.SnapshotCreating, Generation: 7}
	if err := admin.CreateSnapshot(ctx, abandoned); err != nil {
		t.Fatal(err)
	}
	if s := e.await(abandoned.ID, client.SnapshotError); !strings.Contains(s.Error, "stopped") {
		t.Fatalf("abandoned snapshot: %+v", s)
	}

	// One left creating by this host's daemon before a restart: it serves the volume at
	// the snapshot's generation but runs no copy of it.
	vol := e.volume(size, chunk, "")
	lease := e.attach(vol)
	restarted := client.Snapshot{ID: client.NewSnapshotID(), VolumeID: vol, SizeBytes: size, ChunkSizeBytes: chunk,
		State: client.SnapshotCreating, Generation: lease.Generation}
	if err := admin.CreateSnapshot(ctx, restarted); err != nil {
		t.Fatal(err)
	}
	if s := e.await(restarted.ID, client.SnapshotError); !strings.Contains(s.Error, "stopped") {
		t.Fatalf("snapshot left by a restarted daemon: %+v", s)
	}

	// The volume moves to another host while its 256 chunks are being copied.
	var writes []string // one request per MiB: one of 16 MiB makes 256 chunk writes at once
	for m := range 16 {
		writes = append(writes, fmt.Sprintf("write -P 0xaa %dM 1M", m))
	}
	e.qemu(vol, writes...)
	start := time.Now()
	sid := e.snap(vol)
	e.await(sid, client.SnapshotCreating, client.SnapshotCompleted)
	frozen := time.Since(start)
	if _, err := volumed.Attach(ctx, admin, vol, "h2", true, e.cfg.LeaseTTL); err != nil {
		t.Fatal(err)
	}
	s := e.await(sid, client.SnapshotError, client.SnapshotCompleted)
	t.Logf("point in time after %v, %s after %v with %d of %d chunks copied: %s", frozen, s.State, time.Since(start), s.ChunksCopied, s.ChunksTotal, s.Error)
	if s.State != client.SnapshotError || s.Manifest != "" {
		t.Fatalf("snapshot whose volume moved during its copy: %+v (the copy outran the takeover?)", s)
	}
	// The one content it held (every chunk is 0xaa) is referenced no more.
	content := bytes.Repeat([]byte{0xaa}, chunk)
	key := snapshot.Ref{SHA: sha256.Sum256(content)}.Hex()
	testutil.Eventually(t, 10*time.Second, func() error {
		rec, _, err := e.mc.SnapChunk(ctx, key)
		if err == nil && rec.Refs != 0 {
			return fmt.Errorf("content of the failed snapshot still has %d references", rec.Refs)
		}
		if err != nil && !errors.Is(err, client.ErrNotFound) {
			return err
		}
		return nil
	})
	if _, ok := e.srv.Serving()[vol]; ok {
		t.Fatal("still serving the volume after it moved")
	}
}

// TestSnapshotRacingWrites: writes that start the moment the snapshot's point in time is
// fixed, over every chunk and against the copier's order, never reach the snapshot: a
// volume created from it reads exactly what each chunk held before.
func TestSnapshotRacingWrites(t *testing.T) {
	e := newSnapEnv(t)
	const size, chunk, n = 64 << 20, 1 << 20, 64
	vol := e.volume(size, chunk, "")
	e.attach(vol)
	var before []string
	for i := range n {
		before = append(before, fmt.Sprintf("write -P %d %dM 1M", i+1, i)) // distinct chunks: 64 uploads
	}
	e.qemu(vol, before...)

	// A writer connected and waiting, so that its writes start as soon as they are sent.
	w := exec.CommandContext(e.ctx, e.qemuIO, "-f", "raw", fmt.Sprintf("nbd+unix:///%s?socket=%s", vol, e.sock))
	stdin, err := w.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w.Stdout, w.Stderr = &out, &out
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	sid := e.snap(vol)
	e.await(sid, client.SnapshotCreating, client.SnapshotCompleted)
	for i := n - 1; i >= 0; i-- { // the copier goes up
		fmt.Fprintf(stdin, "write -P 0xbb %dM 1M\n", i)
	}
	fmt.Fprintln(stdin, "flush")
	fmt.Fprintln(stdin, "quit")
	stdin.Close()
	if err := w.Wait(); err != nil || strings.Contains(out.String(), "error") || strings.Count(out.String(), "wrote ") != n {
		t.Fatalf("racing writer: %v\n%s", err, out.String())
	}
	written := time.Now()
	s := e.await(sid, client.SnapshotCompleted)
	t.Logf("the racing writes ended at %v, the snapshot completed at %v", written.Format(time.StampMicro), s.CompletedAt.Format(time.StampMicro))
	if s.ChunksTotal != n || s.StoredBytes != n*chunk {
		t.Fatalf("snapshot: %d chunks copied, %d bytes stored; want %d, %d", s.ChunksTotal, s.StoredBytes, n, n*chunk)
	}
	clone := e.volume(size, chunk, sid)
	e.attach(clone)
	var reads []string
	for i := range n {
		reads = append(reads, fmt.Sprintf("read -P %d %dM 1M", i+1, i))
	}
	e.qemu(clone, reads...)
	e.qemu(vol, "read -P 0xbb 0 64M")
}

// TestSnapshotsWithoutStore: a server configured without a snapshot store leaves snapshot
// requests pending (another server may take them) and does not serve a volume made from a
// snapshot, which it could not read.
func TestSnapshotsWithoutStore(t *testing.T) {
	_, mc, id, ctx := setup(t)
	st := testcluster.StartStorage(t, testcluster.StorageOptions{Nodes: 3, Replicas: 3})
	cl := objclient.New(objclient.Config{Timeout: 5 * time.Second})
	t.Cleanup(cl.CloseIdleConnections)
	cfg := volumed.DefaultConfig()
	cfg.Host, cfg.LeaseTTL, cfg.ResyncInterval = "h1", 10*time.Second, 200*time.Millisecond
	cfg.Logger = testutil.Logger(t)
	srv, err := volumed.NewServer(cfg, mc, cl, func() *ring.Ring { return st.Ring })
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(rctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	lease, err := volumed.Attach(ctx, mc, id, "h1", false, cfg.LeaseTTL)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if g := srv.Serving()[id]; g != lease.Generation {
			return fmt.Errorf("serving generation %d, want %d", g, lease.Generation)
		}
		return nil
	})
	s, err := vclient.RequestSnapshot(ctx, mc, id)
	if err != nil {
		t.Fatal(err)
	}
	clone := client.NewVolumeID()
	if err := mc.CreateVolume(ctx, client.Volume{ID: clone, SizeBytes: 1 << 30, FromSnapshot: s.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := volumed.Attach(ctx, mc, clone, "h1", false, cfg.LeaseTTL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(6 * cfg.ResyncInterval) // several passes over both tables
	if got, _, err := mc.Snapshot(ctx, s.ID); err != nil || got.State != client.SnapshotPending {
		t.Fatalf("snapshot without a store: %+v, %v; want it left pending", got, err)
	}
	if _, ok := srv.Serving()[clone]; ok {
		t.Fatal("serving a volume made from a snapshot without a store to read it from")
	}
}
