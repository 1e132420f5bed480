package ec2api

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	meta "stratus/meta/client"
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
