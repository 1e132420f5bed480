package ec2api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"stratus/internal/hlc"
	"stratus/internal/pki"
	"stratus/internal/testcluster"
	"stratus/internal/testutil"
	meta "stratus/meta/client"
	objclient "stratus/objectd/client"
	"stratus/proxy"
	"stratus/ring"
	"stratus/volumed"
	"stratus/volumed/snapshot"
)

// completeSnapshot plays the volumed that took snapshot id: it marks the record completed
// with a manifest name, as snapshot.Store.Complete leaves it.
func completeSnapshot(t *testing.T, e *env, id string) {
	t.Helper()
	snap, idx, err := e.Admin.Snapshot(e.ctx(), id)
	if err != nil {
		t.Fatal(err)
	}
	snap.State, snap.Manifest, snap.ChunksTotal, snap.ChunksCopied = meta.SnapshotCompleted, ".snap/manifest/"+id, 4, 4
	if err := e.Admin.UpdateSnapshot(e.ctx(), snap, idx); err != nil {
		t.Fatal(err)
	}
}

// TestSnapshots: CreateSnapshot leaves a pending record owned by the caller (no volumed
// here takes it up), DescribeSnapshots maps the store's states to EC2's, a volume is
// created from a completed snapshot, which then may not be deleted until that volume is
// gone; another account sees none of it.
func TestSnapshots(t *testing.T) {
	e := newEnv(t)
	c, bob := e.sdk("alice"), e.sdk("bob")
	vol, err := c.CreateVolume(e.ctx(), &ec2.CreateVolumeInput{Size: aws.Int32(2), AvailabilityZone: aws.String(testRegion + "a")})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := c.CreateSnapshot(e.ctx(), &ec2.CreateSnapshotInput{VolumeId: vol.VolumeId, Description: aws.String("before upgrade"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSnapshot, Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("s1")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(snap.SnapshotId)
	if !meta.ValidSnapshotID(id) || snap.State != types.SnapshotStatePending || aws.ToString(snap.Progress) != "0%" ||
		aws.ToInt32(snap.VolumeSize) != 2 || aws.ToString(snap.OwnerId) != "alice" || len(snap.Tags) != 1 {
		t.Fatalf("CreateSnapshot = %+v", snap)
	}
	rec, _, err := e.Admin.Snapshot(e.ctx(), id)
	if err != nil || rec.State != meta.SnapshotPending || rec.Account != "alice" || rec.VolumeID != aws.ToString(vol.VolumeId) || rec.Description != "before upgrade" {
		t.Fatalf("record = %+v, %v", rec, err)
	}

	// Not completed: no volume from it, and bob sees nothing.
	_, err = c.CreateVolume(e.ctx(), &ec2.CreateVolumeInput{SnapshotId: aws.String(id), AvailabilityZone: aws.String(testRegion + "a")})
	wantCode(t, err, "IncorrectState")
	_, err = bob.DescribeSnapshots(e.ctx(), &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}})
	wantCode(t, err, "InvalidSnapshot.NotFound")
	_, err = bob.DeleteSnapshot(e.ctx(), &ec2.DeleteSnapshotInput{SnapshotId: aws.String(id)})
	wantCode(t, err, "InvalidSnapshot.NotFound")
	_, err = bob.CreateSnapshot(e.ctx(), &ec2.CreateSnapshotInput{VolumeId: vol.VolumeId})
	wantCode(t, err, "InvalidVolume.NotFound")
	if out, err := bob.DescribeSnapshots(e.ctx(), &ec2.DescribeSnapshotsInput{}); err != nil || len(out.Snapshots) != 0 {
		t.Fatalf("bob's snapshots: %v, %+v", err, out)
	}

	// A volumed copying: pending with progress; then completed.
	rec, idx, _ := e.Admin.Snapshot(e.ctx(), id)
	rec.State, rec.ChunksTotal, rec.ChunksCopied = meta.SnapshotCreating, 4, 1
	if err := e.Admin.UpdateSnapshot(e.ctx(), rec, idx); err != nil {
		t.Fatal(err)
	}
	out, err := c.DescribeSnapshots(e.ctx(), &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"},
		Filters: []types.Filter{{Name: aws.String("tag:Name"), Values: []string{"s1"}}}})
	if err != nil || len(out.Snapshots) != 1 || out.Snapshots[0].State != types.SnapshotStatePending || aws.ToString(out.Snapshots[0].Progress) != "25%" {
		t.Fatalf("DescribeSnapshots while creating: %v, %+v", err, out)
	}
	completeSnapshot(t, e, id)
	out, err = c.DescribeSnapshots(e.ctx(), &ec2.DescribeSnapshotsInput{Filters: []types.Filter{{Name: aws.String("status"), Values: []string{"completed"}}}})
	if err != nil || len(out.Snapshots) != 1 || aws.ToString(out.Snapshots[0].Progress) != "100%" || aws.ToString(out.Snapshots[0].Description) != "before upgrade" {
		t.Fatalf("DescribeSnapshots completed: %v, %+v", err, out)
	}

	// A clone: too small refused, the snapshot's size by default, larger on request.
	_, err = c.CreateVolume(e.ctx(), &ec2.CreateVolumeInput{SnapshotId: aws.String(id), Size: aws.Int32(1), AvailabilityZone: aws.String(testRegion + "a")})
	wantCode(t, err, "InvalidParameterValue")
	_, err = bob.CreateVolume(e.ctx(), &ec2.CreateVolumeInput{SnapshotId: aws.String(id), AvailabilityZone: aws.String(testRegion + "a")})
	wantCode(t, err, "InvalidSnapshot.NotFound")
	clone, err := c.CreateVolume(e.ctx(), &ec2.CreateVolumeInput{SnapshotId: aws.String(id), AvailabilityZone: aws.String(testRegion + "a"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVolume, Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(clone.Size) != 2 || aws.ToString(clone.SnapshotId) != id || clone.State != types.VolumeStateAvailable || len(clone.Tags) != 1 {
		t.Fatalf("clone = %+v", clone)
	}
	big, err := c.CreateVolume(e.ctx(), &ec2.CreateVolumeInput{SnapshotId: aws.String(id), Size: aws.Int32(5), AvailabilityZone: aws.String(testRegion + "a")})
	if err != nil || aws.ToInt32(big.Size) != 5 {
		t.Fatalf("larger clone: %v, %+v", err, big)
	}
	v, _, err := e.Admin.Volume(e.ctx(), aws.ToString(clone.VolumeId))
	if err != nil || v.FromSnapshot != id || v.Account != "alice" || v.ChunkSizeBytes != rec.ChunkSizeBytes {
		t.Fatalf("clone record = %+v, %v", v, err)
	}
	if vs, err := c.DescribeVolumes(e.ctx(), &ec2.DescribeVolumesInput{Filters: []types.Filter{{Name: aws.String("snapshot-id"), Values: []string{id}}}}); err != nil || len(vs.Volumes) != 2 {
		t.Fatalf("volumes from the snapshot: %v, %+v", err, vs)
	}

	// In use while clones live; once they are gone, deleting marks it and it disappears.
	_, err = c.DeleteSnapshot(e.ctx(), &ec2.DeleteSnapshotInput{SnapshotId: aws.String(id)})
	wantCode(t, err, "InvalidSnapshot.InUse")
	for _, vid := range []*string{clone.VolumeId, big.VolumeId} {
		if _, err := c.DeleteVolume(e.ctx(), &ec2.DeleteVolumeInput{VolumeId: vid}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeleteSnapshot(e.ctx(), &ec2.DeleteSnapshotInput{SnapshotId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	if rec, _, err := e.Admin.Snapshot(e.ctx(), id); err != nil || rec.State != meta.SnapshotDeleting {
		t.Fatalf("after DeleteSnapshot the record is %+v, %v; want deleting (a volumed removes it)", rec, err)
	}
	_, err = c.DescribeSnapshots(e.ctx(), &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}})
	wantCode(t, err, "InvalidSnapshot.NotFound")
	if ts, err := c.DescribeTags(e.ctx(), &ec2.DescribeTagsInput{Filters: []types.Filter{{Name: aws.String("resource-id"), Values: []string{id}}}}); err != nil || len(ts.Tags) != 0 {
		t.Fatalf("tags of the deleted snapshot: %v, %+v", err, ts)
	}
}

// TestSnapshotTakenByVolumed: with a real volumed (and its snapshot store over three storage
// nodes) beside the API, CreateSnapshot's pending record is taken up and completed; a
// volume is created from it, which keeps DeleteSnapshot refused until it is gone; then the
// volumed removes the snapshot.
func TestSnapshotTakenByVolumed(t *testing.T) {
	e := newEnv(t)
	startVolumed(t, e)
	c := e.sdk("alice")
	vol, err := c.CreateVolume(e.ctx(), &ec2.CreateVolumeInput{Size: aws.Int32(1), AvailabilityZone: aws.String(testRegion + "a")})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	snap, err := c.CreateSnapshot(e.ctx(), &ec2.CreateSnapshotInput{VolumeId: vol.VolumeId})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(snap.SnapshotId)
	var got types.Snapshot
	testutil.Eventually(t, 30*time.Second, func() error {
		out, err := c.DescribeSnapshots(e.ctx(), &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}})
		if err != nil {
			return err
		}
		if got = out.Snapshots[0]; got.State != types.SnapshotStateCompleted {
			return fmt.Errorf("snapshot is %s (%s)", got.State, aws.ToString(got.Progress))
		}
		return nil
	})
	t.Logf("snapshot completed %v after CreateSnapshot", time.Since(start).Round(time.Millisecond))
	if aws.ToString(got.Progress) != "100%" {
		t.Fatalf("completed snapshot = %+v", got)
	}
	clone, err := c.CreateVolume(e.ctx(), &ec2.CreateVolumeInput{SnapshotId: aws.String(id), AvailabilityZone: aws.String(testRegion + "a")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteSnapshot(e.ctx(), &ec2.DeleteSnapshotInput{SnapshotId: aws.String(id)})
	wantCode(t, err, "InvalidSnapshot.InUse")
	if _, err := c.DeleteVolume(e.ctx(), &ec2.DeleteVolumeInput{VolumeId: clone.VolumeId}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteSnapshot(e.ctx(), &ec2.DeleteSnapshotInput{SnapshotId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		if _, _, err := e.Admin.Snapshot(e.ctx(), id); !errors.Is(err, meta.ErrNotFound) {
			return fmt.Errorf("snapshot record still there (%v)", err)
		}
		return nil
	})
}

// startVolumed runs a volumed (host v1) with a snapshot store over three storage nodes of
// the env's CA, all on mutual TLS, until the test ends.
func startVolumed(t *testing.T, e *env) {
	t.Helper()
	mc := e.Meta.ClientAs(pki.RoleVolumed)
	st := testcluster.StartStorage(t, testcluster.StorageOptions{Nodes: 3, Replicas: 3, PKI: e.Meta.PKI})
	id := e.Meta.Identity(pki.IssueRequest{Role: pki.RoleVolumed, Name: "test-volumed"})
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
	cfg.Host, cfg.LeaseTTL, cfg.ResyncInterval = "v1", 10*time.Second, time.Second
	cfg.Device.CallTimeout = 5 * time.Second
	cfg.Logger = testutil.Logger(t)
	cfg.Snapshots = snapshot.New(scfg, mc, px, cfg.Logger.With("part", "snapshot"))
	srv, err := volumed.NewServer(cfg, mc, cl, func() *ring.Ring { return st.Ring })
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "nbd.sock"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("volumed: %v", err)
		}
	})
}
