package ec2api

import (
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	meta "stratus/meta/client"
)

// setVolumeEntry plays the host: it sets the state of an instance's volume entry, or
// removes the entry (st "").
func setVolumeEntry(t *testing.T, e *env, instID, volID string, st meta.InstanceVolumeState) {
	t.Helper()
	in, idx, err := e.Admin.Instance(e.ctx(), instID)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range in.Volumes {
		if v.VolumeID == volID {
			if st == "" {
				in.Volumes = append(in.Volumes[:i], in.Volumes[i+1:]...)
			} else {
				in.Volumes[i].State = st
			}
			break
		}
	}
	if err := e.Admin.UpdateInstance(e.ctx(), in, idx); err != nil {
		t.Fatal(err)
	}
}

// TestAttachDetach: AttachVolume adds an attaching entry the host completes, DescribeVolumes
// shows the attachment, the volume can be neither attached twice nor deleted, DetachVolume
// marks it detaching; concurrent attaches of one volume leave exactly one.
func TestAttachDetach(t *testing.T) {
	e := newEnv(t)
	c, bob := e.sdk("alice"), e.sdk("bob")
	zone := testRegion + "a"
	putHost(t, e, "h1", zone, 64, 1<<20, time.Now())
	img := putImage(t, e, "")
	out, err := run(e, c, img, "t3.nano", 5, 5)
	if err != nil {
		t.Fatal(err)
	}
	i1, i2 := aws.ToString(out.Instances[0].InstanceId), aws.ToString(out.Instances[1].InstanceId)
	vol, err := c.CreateVolume(e.ctx(), &ec2.CreateVolumeInput{Size: aws.Int32(1), AvailabilityZone: aws.String(zone)})
	if err != nil {
		t.Fatal(err)
	}
	v := aws.ToString(vol.VolumeId)

	_, err = bob.AttachVolume(e.ctx(), &ec2.AttachVolumeInput{VolumeId: aws.String(v), InstanceId: aws.String(i1), Device: aws.String("/dev/sdf")})
	wantCode(t, err, "InvalidVolume.NotFound")
	_, err = c.AttachVolume(e.ctx(), &ec2.AttachVolumeInput{VolumeId: aws.String(v), InstanceId: aws.String(i1), Device: aws.String("/dev/sda")})
	wantCode(t, err, "InvalidParameterValue")
	att, err := c.AttachVolume(e.ctx(), &ec2.AttachVolumeInput{VolumeId: aws.String(v), InstanceId: aws.String(i1), Device: aws.String("/dev/sdf")})
	if err != nil {
		t.Fatal(err)
	}
	if att.State != types.VolumeAttachmentStateAttaching || aws.ToString(att.InstanceId) != i1 || aws.ToString(att.Device) != "/dev/sdf" {
		t.Fatalf("AttachVolume = %+v", att)
	}
	rec, _, _ := e.Admin.Instance(e.ctx(), i1)
	if len(rec.Volumes) != 1 || rec.Volumes[0].VolumeID != v || rec.Volumes[0].State != meta.VolumeAttaching {
		t.Fatalf("instance volumes = %+v", rec.Volumes)
	}
	_, err = c.AttachVolume(e.ctx(), &ec2.AttachVolumeInput{VolumeId: aws.String(v), InstanceId: aws.String(i2), Device: aws.String("/dev/sdg")})
	wantCode(t, err, "VolumeInUse")
	_, err = c.DeleteVolume(e.ctx(), &ec2.DeleteVolumeInput{VolumeId: aws.String(v)})
	wantCode(t, err, "VolumeInUse")
	other, err := c.CreateVolume(e.ctx(), &ec2.CreateVolumeInput{Size: aws.Int32(1), AvailabilityZone: aws.String(zone)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.AttachVolume(e.ctx(), &ec2.AttachVolumeInput{VolumeId: other.VolumeId, InstanceId: aws.String(i1), Device: aws.String("/dev/xvdf")})
	wantCode(t, err, "InvalidParameterValue") // the same target, vdf
	far := meta.Volume{ID: meta.NewVolumeID(), SizeBytes: 1 << 30, Account: "alice", Zone: testRegion + "z"}
	if err := e.Admin.CreateVolume(e.ctx(), far); err != nil {
		t.Fatal(err)
	}
	_, err = c.AttachVolume(e.ctx(), &ec2.AttachVolumeInput{VolumeId: aws.String(far.ID), InstanceId: aws.String(i1), Device: aws.String("/dev/sdh")})
	wantCode(t, err, "InvalidVolume.ZoneMismatch")

	setVolumeEntry(t, e, i1, v, meta.VolumeAttached)
	dv, err := c.DescribeVolumes(e.ctx(), &ec2.DescribeVolumesInput{Filters: []types.Filter{{Name: aws.String("attachment.instance-id"), Values: []string{i1}}}})
	if err != nil || len(dv.Volumes) != 1 || dv.Volumes[0].State != types.VolumeStateInUse || len(dv.Volumes[0].Attachments) != 1 ||
		dv.Volumes[0].Attachments[0].State != types.VolumeAttachmentStateAttached {
		t.Fatalf("DescribeVolumes: %v, %+v", err, dv)
	}
	di, err := c.DescribeInstances(e.ctx(), &ec2.DescribeInstancesInput{InstanceIds: []string{i1}})
	if err != nil || len(di.Reservations[0].Instances[0].BlockDeviceMappings) != 1 {
		t.Fatalf("DescribeInstances block devices: %v, %+v", err, di)
	}

	_, err = c.DetachVolume(e.ctx(), &ec2.DetachVolumeInput{VolumeId: aws.String(v), InstanceId: aws.String(i2)})
	wantCode(t, err, "InvalidAttachment.NotFound")
	det, err := c.DetachVolume(e.ctx(), &ec2.DetachVolumeInput{VolumeId: aws.String(v), Force: aws.Bool(true)})
	if err != nil || det.State != types.VolumeAttachmentStateDetaching {
		t.Fatalf("DetachVolume: %v, %+v", err, det)
	}
	setVolumeEntry(t, e, i1, v, "")
	_, err = c.DetachVolume(e.ctx(), &ec2.DetachVolumeInput{VolumeId: aws.String(v)})
	wantCode(t, err, "IncorrectState")

	// Four attaches of one volume to four instances at once: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for _, inst := range out.Instances[1:] {
		wg.Go(func() {
			_, err := c.AttachVolume(e.ctx(), &ec2.AttachVolumeInput{VolumeId: aws.String(v), InstanceId: inst.InstanceId, Device: aws.String("/dev/sdk")})
			if err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	listed := 0
	all, _ := e.Admin.Instances(e.ctx())
	for _, in := range all {
		for _, iv := range in.Volumes {
			if iv.VolumeID == v {
				listed++
			}
		}
	}
	if wins != 1 || listed != 1 {
		t.Fatalf("%d concurrent attaches succeeded and %d instances list the volume; want 1 and 1", wins, listed)
	}
}
