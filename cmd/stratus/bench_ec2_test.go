package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"stratus/bench"
	"stratus/internal/testguest"
)

// TestBenchEC2 is the short form of 'bench ec2' against the all-in-one server with compute
// (TCG): the test guest registered through S3 and EC2, a bare QEMU boot for the ceiling,
// the first launch (a cache miss), then two launches two at a time, each to running and to
// its boot line on the console, with the host's phases; everything launched is terminated.
func TestBenchEC2(t *testing.T) {
	if testing.Short() {
		t.Skip("boots guests under TCG")
	}
	uri := testguest.Libvirtd(t)
	t.Cleanup(func() {
		if err := testguest.StopDaemons(); err != nil {
			t.Error(err)
		}
	})
	g := testguest.BuildGuest(t)
	dir, err := os.MkdirTemp("", "stratus-bench-ec2-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	metricsAddr := freeAddr(t)
	f := serverFlags{dataDir: filepath.Join(dir, "data"), devices: 3, replicas: 3, partPower: 6,
		metaListen: "127.0.0.1:0", objListen: "127.0.0.1:0", ec2Listen: "127.0.0.1:0", nbdListen: "127.0.0.1:0", volumeHost: "the-host",
		compute: computeFlags{domainType: "qemu", libvirtURI: uri, network: "user", vcpus: 8, memoryMiB: 4096},
		front:   frontFlags{listen: "127.0.0.1:0", region: "us-east-1", metrics: metricsAddr}}
	creds, _ := startServer(t, ctx, f)

	var log strings.Builder
	cfg := bench.EC2Config{Endpoint: creds.EC2Endpoint, Region: creds.Region, AccessKey: creds.AccessKey, SecretKey: creds.SecretKey,
		InstanceType: "t3.nano", Concurrencies: []int{2}, LaunchesPerLevel: 2, ConsoleMarker: testguest.BootMarker,
		ComputeMetrics: "http://" + metricsAddr + "/metrics", Timeout: time.Minute, Log: &log,
		Boot: &bench.BootConfig{Kernel: g.Kernel, Initrd: g.Initrd, Cmdline: "console=ttyS0 panic=-1", Accel: "tcg", VCPUs: 1, MemoryMiB: 256,
			Marker: testguest.BootMarker, Runs: 1, Timeout: time.Minute}}
	ki, err := bench.RegisterKernelImages(ctx, cfg, creds.Endpoint, "bench-ec2-test", g.Kernel, g.Initrd)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ImageID, cfg.RamdiskID = ki.KernelID, ki.RamdiskID
	res, err := bench.RunEC2(ctx, cfg)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	var md strings.Builder
	res.Markdown(&md)
	t.Logf("\n%s", md.String())

	if res.Ceiling == nil || res.Ceiling.ToMarker.P50 <= 0 {
		t.Errorf("ceiling = %+v", res.Ceiling)
	}
	if len(res.Levels) != 1 {
		t.Fatalf("levels = %+v", res.Levels)
	}
	for _, lv := range append([]*bench.LaunchLevel{res.First}, res.Levels...) {
		if lv.Errors != 0 || lv.ToRunning.P50 <= 0 || lv.ToConsole == nil || lv.ToConsole.P50 < lv.ToRunning.P50 || lv.LaunchesPerMinute <= 0 {
			t.Errorf("level %+v (console %+v)\n%s", lv, lv.ToConsole, log.String())
		}
		// Once per launch, and the steps of a launch at least once each: a start that
		// fails (a forwarded port taken by another process meanwhile) is defined and
		// started again.
		for _, ph := range []string{"pickup", "disks", "define", "start", "record"} {
			s := lv.Phases[ph]
			once := ph == "pickup" || ph == "record"
			if (once && s.Count != lv.Launches) || s.Count < lv.Launches || s.P50Seconds <= 0 {
				t.Errorf("c=%d phase %s = %+v, want %d launches", lv.Concurrency, ph, s, lv.Launches)
			}
		}
	}
	// The image's first launch on the host downloads it; the later ones find it cached.
	if res.First.Phases["image_fetch_miss"].Count != 1 || res.Levels[0].Phases["image_fetch_hit"].Count != 2 {
		t.Errorf("image phases: first %+v, then %+v", res.First.Phases, res.Levels[0].Phases)
	}
	// Everything launched is terminated.
	c := ec2Client(creds.EC2Endpoint, creds.Region, creds.AccessKey, creds.SecretKey)
	out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			n++
			if in.State.Name != types.InstanceStateNameTerminated {
				t.Errorf("instance %s left %s", *in.InstanceId, in.State.Name)
			}
		}
	}
	if n != 3 {
		t.Errorf("%d instances launched, want 3", n)
	}
	if err := ki.Remove(ctx); err != nil {
		t.Error(err)
	}
}
