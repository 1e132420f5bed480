package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"stratus/internal/testguest"
	"stratus/internal/testutil"
)

// TestServerRunsInstances is the instance launch of the architecture, end to end on the
// all-in-one server with compute on (TCG): the test guest's kernel and initrd go up through
// S3, RegisterImage makes them an aki and an ari, RunInstances places an instance on the
// server's host, computed boots it, GetConsoleOutput shows the guest's boot and user data,
// the guest's own power-off shows as stopped, and TerminateInstances ends it.
func TestServerRunsInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a guest under TCG")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs := startComputeServer(t, ctx, "")
	c := cs.ec2
	aki := cs.register("vmlinux", cs.guest.Kernel, "kernel", nil)
	ari := cs.register("initrd.img", cs.guest.Initrd, "ramdisk", nil)
	if !strings.HasPrefix(aki, "aki-") || !strings.HasPrefix(ari, "ari-") {
		t.Fatalf("registered %s and %s", aki, ari)
	}

	userData := "launched through EC2"
	start := time.Now()
	run, err := c.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String(aki), RamdiskId: aws.String(ari),
		InstanceType: types.InstanceTypeT3Nano, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(userData)))})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(run.Instances[0].InstanceId)
	state := func() types.InstanceStateName { return cs.instance(id).State.Name }
	// The guest boots, prints its markers and powers itself off.
	testutil.Eventually(t, 60*time.Second, func() error {
		text, err := cs.console(id)
		if err != nil {
			return err
		}
		if !strings.Contains(text, testguest.BootMarker) || !strings.Contains(text, userData) {
			return fmt.Errorf("console so far: %q (instance %s)", text, state())
		}
		return nil
	})
	t.Logf("console shows the boot %v after RunInstances", time.Since(start).Round(time.Millisecond))
	testutil.Eventually(t, 30*time.Second, func() error {
		if s := state(); s != types.InstanceStateNameStopped {
			return fmt.Errorf("instance %s", s)
		}
		return nil
	})
	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		if s := state(); s != types.InstanceStateNameTerminated {
			return fmt.Errorf("instance %s", s)
		}
		return nil
	})
	if ents, err := os.ReadDir(filepath.Join(cs.f.dataDir, "computed", "instances")); err != nil || len(ents) != 0 {
		t.Errorf("instance files after termination: %v, %v", ents, err)
	}
}
