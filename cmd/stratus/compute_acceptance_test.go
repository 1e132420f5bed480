package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"stratus/internal/pki"
	"stratus/internal/testguest"
	"stratus/internal/testutil"
	"stratus/meta/client"
)

// debianAWS is the aws CLI v2 Debian installs, named explicitly: the aws first on PATH may
// be a pip-installed v1 with other defaults.
const debianAWS = "/usr/bin/aws"

// TestComputeAcceptance is an EC2 user's day on the all-in-one server, end to end with real
// guests under TCG: a machine image (a raw disk, with the test guest's kernel and ramdisk)
// registered from S3, launched with the unmodified aws CLI; a volume attached live that the
// guest writes; the guest's power-off, a start and a stop; a snapshot of the volume and a
// clone of it; an image made from the stopped instance's root disk, launched, its guest
// finding the first instance's root-disk marker and the clone holding the first guest's
// volume marker; termination leaving no domain, no files, no NBD export and no lease; and
// the saved image deregistered and removed.
func TestComputeAcceptance(t *testing.T) {
	if testing.Short() {
		t.Skip("boots three guests under TCG")
	}
	if _, err := os.Stat(debianAWS); err != nil {
		t.Skipf("%s not installed (apt-get install awscli)", debianAWS)
	}
	if _, err := exec.LookPath("nbdinfo"); err != nil {
		t.Skip("nbdinfo not installed (apt-get install libnbd-bin)")
	}
	begin := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// stratus.wait: each guest waits up to 30 s for a volume attached after it booted.
	cs := startComputeServer(t, ctx, "console=ttyS0 panic=-1 stratus.wait=30")
	c := cs.ec2
	zone := cs.creds.Region + "a"
	adminID, err := pki.Load(pki.InDir(filepath.Join(cs.f.dataDir, "pki"), "admin"))
	if err != nil {
		t.Fatal(err)
	}
	mc, err := metaClientAs(adminID, []string{cs.creds.MetaAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	step := func(what string) { t.Logf("%6.1fs %s", time.Since(begin).Seconds(), what) }

	// The images: kernel, ramdisk and an 8 MiB raw root disk (zeros: the guest formats
	// nothing, it writes a marker block).
	aki := cs.register("vmlinux", cs.guest.Kernel, "kernel", nil)
	ari := cs.register("initrd.img", cs.guest.Initrd, "ramdisk", nil)
	disk := filepath.Join(t.TempDir(), "root.raw")
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, 8<<20); err != nil {
		t.Fatal(err)
	}
	ami := cs.register("root.raw", disk, "", &ec2.RegisterImageInput{KernelId: aws.String(aki), RamdiskId: aws.String(ari)})
	step("images registered")

	// Launched and described with the aws CLI, as a user types it.
	home := t.TempDir()
	cli := func(args ...string) map[string]any {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(cctx, debianAWS, append([]string{"--endpoint-url", cs.creds.EC2Endpoint, "--region", cs.creds.Region, "--output", "json", "ec2"}, args...)...)
		cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin", "AWS_ACCESS_KEY_ID=" + cs.creds.AccessKey, "AWS_SECRET_ACCESS_KEY=" + cs.creds.SecretKey,
			"AWS_CONFIG_FILE=" + filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none"),
			"AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true", "AWS_MAX_ATTEMPTS=1"}
		out, err := cmd.Output()
		if err != nil {
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("aws ec2 %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		var v map[string]any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("aws ec2 %s printed %q: %v", args[0], out, err)
		}
		return v
	}
	var run struct {
		Instances []struct{ InstanceId, ImageId string }
	}
	remarshal(t, cli("run-instances", "--image-id", ami, "--instance-type", "t3.nano", "--count", "1"), &run)
	if len(run.Instances) != 1 || run.Instances[0].ImageId != ami {
		t.Fatalf("run-instances: %+v", run)
	}
	a := run.Instances[0].InstanceId
	testutil.Eventually(t, 60*time.Second, func() error {
		var d struct {
			Reservations []struct {
				Instances []struct {
					InstanceId string
					State      struct{ Name string }
				}
			}
		}
		remarshal(t, cli("describe-instances", "--instance-ids", a), &d)
		if len(d.Reservations) != 1 || len(d.Reservations[0].Instances) != 1 || d.Reservations[0].Instances[0].InstanceId != a {
			return fmt.Errorf("describe-instances: %+v", d)
		}
		if s := d.Reservations[0].Instances[0].State.Name; s != "running" {
			return fmt.Errorf("instance %s is %s", a, s)
		}
		return nil
	})
	step("instance A running (aws CLI)")

	// A volume attached live: the guest, waiting for it, writes its marker and powers off.
	cv, err := c.CreateVolume(ctx, &ec2.CreateVolumeInput{Size: aws.Int32(1), AvailabilityZone: aws.String(zone)})
	if err != nil {
		t.Fatal(err)
	}
	vol := aws.ToString(cv.VolumeId)
	if _, err := c.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(vol), InstanceId: aws.String(a), Device: aws.String("/dev/sdf")}); err != nil {
		t.Fatal(err)
	}
	cs.waitConsole(a, 60*time.Second, testguest.RootWritten+" "+a, testguest.VolumeWritten+" "+vol, testguest.DoneMarker)
	cs.waitState(a, types.InstanceStateNameStopped, 30*time.Second)
	if r := cs.instance(a).StateReason; r == nil || aws.ToString(r.Code) != "Client.InstanceInitiatedShutdown" {
		t.Errorf("state reason after the guest's power-off: %+v", r)
	}
	step("guest A wrote its root disk and the volume, powered off: stopped")

	// Started again: the guest finds its own markers on the root disk and the volume
	// (attached at define time now), then powers off; the stop is a no-op or a graceful one.
	if _, err := c.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{a}}); err != nil {
		t.Fatal(err)
	}
	sawRunning := false
	testutil.Eventually(t, 60*time.Second, func() error {
		if cs.instance(a).State.Name == types.InstanceStateNameRunning {
			sawRunning = true
		}
		text, err := cs.console(a)
		if err != nil {
			return err
		}
		for _, want := range []string{testguest.RootFound + " " + testguest.RootMarker + " " + a,
			testguest.VolumeFound + " " + vol + " " + testguest.VolumeMarker + " " + vol} {
			if !strings.Contains(text, want) {
				return fmt.Errorf("console of %s lacks %q", a, want)
			}
		}
		return nil
	})
	if _, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{a}}); err != nil {
		t.Fatal(err)
	}
	cs.waitState(a, types.InstanceStateNameStopped, 40*time.Second)
	if !sawRunning {
		t.Error("the started instance was never seen running")
	}
	step("instance A started (second boot found its markers) and stopped")

	// A snapshot of the volume, and a volume made from it.
	sn, err := c.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String(vol)})
	if err != nil {
		t.Fatal(err)
	}
	snap := aws.ToString(sn.SnapshotId)
	testutil.Eventually(t, 30*time.Second, func() error {
		out, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}})
		if err != nil {
			return err
		}
		if st := out.Snapshots[0].State; st != types.SnapshotStateCompleted {
			return fmt.Errorf("snapshot %s is %s", snap, st)
		}
		return nil
	})
	clone, err := c.CreateVolume(ctx, &ec2.CreateVolumeInput{SnapshotId: aws.String(snap), AvailabilityZone: aws.String(zone)})
	if err != nil {
		t.Fatal(err)
	}
	vol2 := aws.ToString(clone.VolumeId)
	step("snapshot completed, clone made")

	// An image of the stopped instance's root disk.
	ci, err := c.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(a), Name: aws.String("saved-a"), Description: aws.String("A after two boots")})
	if err != nil {
		t.Fatal(err)
	}
	saved := aws.ToString(ci.ImageId)
	if _, err := c.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(a), Name: aws.String("saved-a")}); apiCode(err) != "InvalidAMIName.Duplicate" && apiCode(err) != "IncorrectInstanceState" {
		t.Errorf("a second CreateImage while the first is pending: %v", err)
	}
	var im types.Image
	testutil.Eventually(t, 60*time.Second, func() error {
		out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{saved}})
		if err != nil {
			return err
		}
		im = out.Images[0]
		if im.State != types.ImageStateAvailable {
			return fmt.Errorf("image %s is %s (%+v)", saved, im.State, im.StateReason)
		}
		return nil
	})
	if loc := aws.ToString(im.ImageLocation); loc != client.ImageObjectPrefix(saved) || aws.ToString(im.KernelId) != aki ||
		aws.ToString(im.RamdiskId) != ari || aws.ToString(im.Name) != "saved-a" {
		t.Errorf("saved image: location %s, kernel %s, ramdisk %s, name %s", loc, aws.ToString(im.KernelId), aws.ToString(im.RamdiskId), aws.ToString(im.Name))
	}
	if rec, _, err := mc.Image(ctx, saved); err != nil || rec.Format != "qcow2" || rec.SHA256 == "" || rec.Manifest == "" || rec.SizeBytes <= 0 {
		t.Errorf("saved image record: %+v, %v", rec, err)
	}
	if in := cs.instance(a); in.State.Name != types.InstanceStateNameStopped {
		t.Errorf("instance A after CreateImage: %s", in.State.Name)
	}
	step("image of A saved")

	// The saved image boots: its guest finds A's root-disk marker, and the clone attached
	// live holds A's guest's volume marker.
	rb, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(saved), InstanceType: types.InstanceTypeT3Nano,
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	b := aws.ToString(rb.Instances[0].InstanceId)
	cs.waitState(b, types.InstanceStateNameRunning, 60*time.Second)
	if _, err := c.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(vol2), InstanceId: aws.String(b), Device: aws.String("/dev/sdg")}); err != nil {
		t.Fatal(err)
	}
	cs.waitConsole(b, 60*time.Second, testguest.RootFound+" "+testguest.RootMarker+" "+a,
		testguest.VolumeFound+" "+vol2+" "+testguest.VolumeMarker+" "+vol, testguest.DoneMarker)
	cs.waitState(b, types.InstanceStateNameStopped, 30*time.Second)
	step("instance B from the saved image booted A's disk and read the clone")

	// Termination: no domain, no files, no export, no lease; the volumes available again.
	exports := func() string {
		out, _ := exec.CommandContext(ctx, "nbdinfo", "--list", "nbd://"+cs.creds.NBDAddr).CombinedOutput()
		return string(out)
	}
	if out := exports(); !strings.Contains(out, vol) || !strings.Contains(out, vol2) {
		t.Errorf("volumed does not export the attached volumes %s and %s:\n%s", vol, vol2, out)
	}
	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{a, b}}); err != nil {
		t.Fatal(err)
	}
	cs.waitState(a, types.InstanceStateNameTerminated, 30*time.Second)
	cs.waitState(b, types.InstanceStateNameTerminated, 30*time.Second)
	out, err := exec.CommandContext(ctx, "virsh", "-c", cs.uri, "list", "--all", "--name").CombinedOutput()
	if err != nil {
		t.Fatalf("virsh list: %v: %s", err, out)
	}
	for _, id := range []string{a, b} {
		if strings.Contains(string(out), id) {
			t.Errorf("domain %s still defined after termination:\n%s", id, out)
		}
	}
	if ents, err := os.ReadDir(filepath.Join(cs.f.dataDir, "computed", "instances")); err != nil || len(ents) != 0 {
		t.Errorf("instance files after termination: %v, %v", ents, err)
	}
	dv, err := c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{vol, vol2}})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range dv.Volumes {
		if v.State != types.VolumeStateAvailable || len(v.Attachments) != 0 {
			t.Errorf("volume %s after termination: %s, attachments %+v", aws.ToString(v.VolumeId), v.State, v.Attachments)
		}
	}
	for _, id := range []string{vol, vol2} {
		if rec, _, err := mc.Volume(ctx, id); err != nil || rec.Attachment != nil || rec.State != client.VolumeAvailable {
			t.Errorf("volume record %s after termination: %+v, %v", id, rec, err)
		}
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		out := exports()
		for _, id := range []string{vol, vol2} {
			if strings.Contains(out, id) {
				return fmt.Errorf("volumed still exports %s:\n%s", id, out)
			}
		}
		return nil
	})
	step("instances terminated: no domains, files, exports or leases")

	// Deregistered, the saved image goes, with its objects, once its host removed them.
	if _, err := c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(saved)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{saved}}); apiCode(err) != "InvalidAMIID.NotFound" {
		t.Errorf("DescribeImages of the deregistered image: %v", err)
	}
	testutil.Eventually(t, 15*time.Second, func() error {
		if _, _, err := mc.Image(ctx, saved); !errors.Is(err, client.ErrNotFound) {
			return fmt.Errorf("image record %s after deregistration: %v", saved, err)
		}
		return nil
	})
	step("saved image deregistered and removed")
}

// waitConsole waits until instance id's console shows every one of wants.
func (cs *computeServer) waitConsole(id string, timeout time.Duration, wants ...string) {
	cs.t.Helper()
	testutil.Eventually(cs.t, timeout, func() error {
		text, err := cs.console(id)
		if err != nil {
			return err
		}
		if i := slices.IndexFunc(wants, func(w string) bool { return !strings.Contains(text, w) }); i >= 0 {
			return fmt.Errorf("console of %s lacks %q; tail: %q", id, wants[i], tail(text, 600))
		}
		return nil
	})
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// remarshal decodes the aws CLI's JSON v into out.
func remarshal(t *testing.T, v any, out any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err == nil {
		err = json.Unmarshal(b, out)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// apiCode is the error code of an EC2 API error; "" for none.
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
