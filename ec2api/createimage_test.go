package ec2api

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	meta "stratus/meta/client"
)

// TestCreateImage: CreateImage of a stopped instance stores a pending image for the
// instance's host to save and sets the request on the instance, in one transaction; every
// refusal — another account's instance, a running one, one with no root disk, a busy one, a
// duplicate name, malformed parameters — changes nothing. Deregistering a created image
// marks it for its host to remove and frees its name.
func TestCreateImage(t *testing.T) {
	e := newEnv(t)
	c, bob := e.sdk("alice"), e.sdk("bob")
	putHost(t, e, "h1", testRegion+"a", 64, 1<<20, time.Now())
	aki := meta.Image{ID: meta.NewImageID(meta.ImageKernel), Account: "alice", Kind: meta.ImageKernel, Name: "kernel",
		Bucket: "images", Key: "vmlinux", State: meta.ImageAvailable}
	if err := e.Admin.CreateImage(e.ctx(), aki); err != nil {
		t.Fatal(err)
	}
	disk := meta.Image{ID: meta.NewImageID(meta.ImageMachine), Account: "alice", Kind: meta.ImageMachine, Name: "disk",
		Bucket: "images", Key: "disk.raw", Format: "raw", KernelID: aki.ID, State: meta.ImageAvailable}
	if err := e.Admin.CreateImage(e.ctx(), disk); err != nil {
		t.Fatal(err)
	}
	out, err := run(e, c, disk.ID, "t3.nano", 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	i1, i2 := aws.ToString(out.Instances[0].InstanceId), aws.ToString(out.Instances[1].InstanceId)
	kout, err := run(e, c, aki.ID, "t3.nano", 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	kernelBoot := aws.ToString(kout.Instances[0].InstanceId)
	for _, id := range []string{i1, i2, kernelBoot} {
		setState(t, e, id, meta.InstanceRunning)
	}
	unchanged := snapshotCatalog(t, e)

	create := func(cl *ec2.Client, in ec2.CreateImageInput) (string, error) {
		out, err := cl.CreateImage(e.ctx(), &in)
		if err != nil {
			return "", err
		}
		return aws.ToString(out.ImageId), nil
	}
	for _, tc := range []struct {
		name string
		cl   *ec2.Client
		in   ec2.CreateImageInput
		code string
	}{
		{"a running instance", c, ec2.CreateImageInput{InstanceId: aws.String(i1), Name: aws.String("web")}, "IncorrectInstanceState"},
		{"running, no reboot", c, ec2.CreateImageInput{InstanceId: aws.String(i1), Name: aws.String("web"), NoReboot: aws.Bool(true)}, "IncorrectInstanceState"},
		{"another account's instance", bob, ec2.CreateImageInput{InstanceId: aws.String(i1), Name: aws.String("web")}, "InvalidInstanceID.NotFound"},
		{"an unknown instance", c, ec2.CreateImageInput{InstanceId: aws.String("i-00000000000000000"), Name: aws.String("web")}, "InvalidInstanceID.NotFound"},
		{"a malformed instance id", c, ec2.CreateImageInput{InstanceId: aws.String("i-xyz"), Name: aws.String("web")}, "InvalidInstanceID.NotFound"},
		{"a name too short", c, ec2.CreateImageInput{InstanceId: aws.String(i1), Name: aws.String("ab")}, "InvalidParameterValue"},
		{"a kernel boot", c, ec2.CreateImageInput{InstanceId: aws.String(kernelBoot), Name: aws.String("web")}, "InvalidParameterValue"},
		{"volumes in the image", c, ec2.CreateImageInput{InstanceId: aws.String(i1), Name: aws.String("web"),
			BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/sdf"), Ebs: &types.EbsBlockDevice{VolumeSize: aws.Int32(1)}}}}, "UnsupportedOperation"},
		{"tags for another type", c, ec2.CreateImageInput{InstanceId: aws.String(i1), Name: aws.String("web"),
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVolume, Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}}}}, "InvalidParameterValue"},
	} {
		_, err := create(tc.cl, tc.in)
		if err == nil {
			t.Fatalf("%s: accepted", tc.name)
		}
		wantCode(t, err, tc.code)
	}
	// What the SDK would not send: missing and malformed parameters.
	for _, tc := range []struct{ name, form, code string }{
		{"no instance", form("Action", "CreateImage", "Version", APIVersion, "Name", "web"), "MissingParameter"},
		{"no name", form("Action", "CreateImage", "Version", APIVersion, "InstanceId", i1), "MissingParameter"},
		{"no reboot not a boolean", form("Action", "CreateImage", "Version", APIVersion, "InstanceId", i1, "Name", "web", "NoReboot", "maybe"), "InvalidParameterValue"},
		{"a name on two lines", form("Action", "CreateImage", "Version", APIVersion, "InstanceId", i1, "Name", "web\nserver"), "InvalidParameterValue"},
	} {
		status, body := e.raw(e.Keys["alice"], testRegion, time.Now(), tc.form)
		wantError(t, status, body, 400, tc.code)
	}
	// Another account cannot end alice's instance either, nor learn it exists.
	_, err = bob.TerminateInstances(e.ctx(), &ec2.TerminateInstancesInput{InstanceIds: []string{i1}})
	wantCode(t, err, "InvalidInstanceID.NotFound")
	unchanged.check(t, e, "refused requests")
	if d := e.describe(c, i1); d.State.Name != types.InstanceStateNameRunning {
		t.Fatalf("alice's instance after bob's termination: %s", d.State.Name)
	}

	// Stopped (the host records it), it can be imaged.
	if _, err := c.StopInstances(e.ctx(), &ec2.StopInstancesInput{InstanceIds: []string{i1, i2}}); err != nil {
		t.Fatal(err)
	}
	setState(t, e, i1, meta.InstanceStopped)
	setState(t, e, i2, meta.InstanceStopped)
	img, err := create(c, ec2.CreateImageInput{InstanceId: aws.String(i1), Name: aws.String("web"), Description: aws.String("the web tier"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeImage, Tags: []types.Tag{{Key: aws.String("tier"), Value: aws.String("web")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	rec, _, err := e.Admin.Image(e.ctx(), img)
	if err != nil || rec.State != meta.ImagePending || rec.SourceInstance != i1 || rec.Host != "h1" || rec.KernelID != aki.ID ||
		rec.Account != "alice" || rec.Format != "qcow2" || rec.Bucket != "" || rec.Description != "the web tier" {
		t.Fatalf("image record %+v, %v", rec, err)
	}
	if in, _, _ := e.Admin.Instance(e.ctx(), i1); in.CreateImage != img {
		t.Fatalf("instance's image request = %q, want %s", in.CreateImage, img)
	}
	d, err := c.DescribeImages(e.ctx(), &ec2.DescribeImagesInput{ImageIds: []string{img}})
	if err != nil || len(d.Images) != 1 || d.Images[0].State != types.ImageStatePending ||
		aws.ToString(d.Images[0].ImageLocation) != meta.ImageObjectPrefix(img) || len(d.Images[0].Tags) != 1 {
		t.Fatalf("DescribeImages = %+v, %v", d, err)
	}
	// Pending: not launchable yet; the instance is busy; the name is taken.
	_, err = run(e, c, img, "t3.nano", 1, 1)
	wantCode(t, err, "IncorrectState")
	busy := snapshotCatalog(t, e)
	_, err = create(c, ec2.CreateImageInput{InstanceId: aws.String(i1), Name: aws.String("web-2")})
	wantCode(t, err, "IncorrectInstanceState")
	_, err = create(c, ec2.CreateImageInput{InstanceId: aws.String(i2), Name: aws.String("web")})
	wantCode(t, err, "InvalidAMIName.Duplicate")
	_, err = create(bob, ec2.CreateImageInput{InstanceId: aws.String(i2), Name: aws.String("other")})
	wantCode(t, err, "InvalidInstanceID.NotFound")
	busy.check(t, e, "refused requests on a busy instance")

	// A host that could not save it records it failed, with why: DescribeImages says so.
	rec, idx, err := e.Admin.Image(e.ctx(), img)
	if err != nil {
		t.Fatal(err)
	}
	rec.State, rec.StateReason = meta.ImageFailed, &meta.StateReason{Code: "Server.InternalError", Message: "Server.InternalError: disk unreadable"}
	if err := e.Admin.UpdateImage(e.ctx(), rec, idx); err != nil {
		t.Fatal(err)
	}
	d, err = c.DescribeImages(e.ctx(), &ec2.DescribeImagesInput{ImageIds: []string{img}})
	if err != nil || d.Images[0].State != types.ImageStateFailed || d.Images[0].StateReason == nil ||
		aws.ToString(d.Images[0].StateReason.Code) != "Server.InternalError" || aws.ToString(d.Images[0].StateReason.Message) != rec.StateReason.Message {
		t.Fatalf("DescribeImages of a failed image = %+v, %v", d, err)
	}

	// Deregistered: gone from the API, marked for its host (which removes the bytes and
	// the record), and the name is free again.
	if _, err := c.DeregisterImage(e.ctx(), &ec2.DeregisterImageInput{ImageId: aws.String(img)}); err != nil {
		t.Fatal(err)
	}
	if rec, _, err := e.Admin.Image(e.ctx(), img); err != nil || rec.State != meta.ImageDeregistered {
		t.Fatalf("deregistered image record %+v, %v", rec, err)
	}
	_, err = c.DescribeImages(e.ctx(), &ec2.DescribeImagesInput{ImageIds: []string{img}})
	wantCode(t, err, "InvalidAMIID.NotFound")
	_, err = c.DeregisterImage(e.ctx(), &ec2.DeregisterImageInput{ImageId: aws.String(img)})
	wantCode(t, err, "InvalidAMIID.NotFound")
	if _, err := create(c, ec2.CreateImageInput{InstanceId: aws.String(i2), Name: aws.String("web")}); err != nil {
		t.Fatalf("the name of a deregistered image: %v", err)
	}
}

// catalogState is what refused requests must leave alone: every image and instance record
// with its mod index.
type catalogState struct {
	images, instances map[string]uint64
}

func snapshotCatalog(t *testing.T, e *env) catalogState {
	t.Helper()
	s := catalogState{images: map[string]uint64{}, instances: map[string]uint64{}}
	ims, err := e.Admin.Images(e.ctx())
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range ims {
		_, idx, err := e.Admin.Image(e.ctx(), im.ID)
		if err != nil {
			t.Fatal(err)
		}
		s.images[im.ID] = idx
	}
	ins, err := e.Admin.Instances(e.ctx())
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range ins {
		_, idx, err := e.Admin.Instance(e.ctx(), in.ID)
		if err != nil {
			t.Fatal(err)
		}
		s.instances[in.ID] = idx
	}
	return s
}

func (s catalogState) check(t *testing.T, e *env, after string) {
	t.Helper()
	now := snapshotCatalog(t, e)
	if len(now.images) != len(s.images) || len(now.instances) != len(s.instances) {
		t.Fatalf("%s changed the catalog: %d images and %d instances, were %d and %d", after,
			len(now.images), len(now.instances), len(s.images), len(s.instances))
	}
	for id, idx := range s.images {
		if now.images[id] != idx {
			t.Errorf("%s changed image %s", after, id)
		}
	}
	for id, idx := range s.instances {
		if now.instances[id] != idx {
			t.Errorf("%s changed instance %s", after, id)
		}
	}
}

// describe returns one of the client's instances as DescribeInstances shows it.
func (e *env) describe(c *ec2.Client, id string) types.Instance {
	e.t.Helper()
	out, err := c.DescribeInstances(e.ctx(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil || len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 1 {
		e.t.Fatalf("describe %s: %+v, %v", id, out, err)
	}
	return out.Reservations[0].Instances[0]
}
