package ec2api

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/prometheus/client_golang/prometheus"

	"stratus/computed/daemon"
	"stratus/computed/driver"
	"stratus/computed/libvirtdriver"
	"stratus/internal/pki"
	"stratus/internal/testutil"
	meta "stratus/meta/client"
)

// TestLostHost runs a real compute daemon (on libvirt's test driver, so no guest boots)
// heartbeating every 100 ms beside an instance it runs. While it beats, the instance's
// status checks pass; once its daemon is stopped and three intervals go by, the instance
// shows impaired (reachability failed), keeps its recorded state with a reason saying why,
// and nothing more is placed on the host; a new daemon on the host makes it live again
// and reconciles (the instance is left running on its domain).
func TestLostHost(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a compute daemon")
	}
	e := newEnv(t)
	c := e.sdk("alice")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	drv, err := libvirtdriver.New(ctx, libvirtdriver.Config{URI: "test:///default", CallTimeout: 10 * time.Second, StopPoll: 10 * time.Millisecond})
	if err != nil {
		t.Skipf("libvirt test driver: %v", err)
	}
	t.Cleanup(func() { drv.Close() })
	zone := testRegion + "a"
	cfg := daemon.DefaultConfig()
	cfg.Host, cfg.Zone, cfg.DomainType, cfg.VCPUs, cfg.MemoryMiB = "lost-host", zone, driver.DomainQEMU, 4, 4096
	cfg.DataDir, cfg.HeartbeatInterval, cfg.PollInterval, cfg.Logger = t.TempDir(), 100*time.Millisecond, 100*time.Millisecond, testutil.Logger(t)
	startDaemon := func() (stop func()) {
		d, err := daemon.New(cfg, e.Meta.ClientAs(pki.RoleComputed), drv, nil)
		if err != nil {
			t.Fatal(err)
		}
		dctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- d.Run(dctx) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("daemon: %v", err)
			}
		}
	}
	// An instance the host runs: its domain (the test driver's: nothing boots) and its
	// record, as a launch leaves them; both exist before the daemon starts, which would
	// otherwise see, in one pass, the record without the domain and launch it again.
	id := meta.NewInstanceID()
	spec := driver.Spec{Name: id, VCPUs: 1, MemoryMiB: 64, Type: driver.DomainQEMU, Kernel: "/boot/vmlinuz",
		ConsoleLog: filepath.Join(cfg.DataDir, "instances", id, "console.log"), Owner: cfg.DomainOwner()}
	if err := drv.Define(ctx, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drv.Destroy(context.Background(), id); drv.Undefine(context.Background(), id) })
	if err := drv.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	img := putImage(t, e, "")
	in := meta.Instance{ID: id, Account: "alice", ImageID: img, InstanceType: "t3.nano", VCPUs: 2, MemoryMiB: 512, Zone: zone,
		Host: cfg.Host, State: meta.InstanceRunning, DesiredState: meta.DesireRunning, LaunchTime: time.Now().UTC()}
	if err := e.Admin.CreateInstance(ctx, in); err != nil {
		t.Fatal(err)
	}
	stop := startDaemon()

	status := func() (types.InstanceStatus, error) {
		out, err := c.DescribeInstanceStatus(e.ctx(), &ec2.DescribeInstanceStatusInput{InstanceIds: []string{id}})
		if err != nil {
			return types.InstanceStatus{}, err
		}
		if len(out.InstanceStatuses) != 1 {
			return types.InstanceStatus{}, fmt.Errorf("%d statuses", len(out.InstanceStatuses))
		}
		return out.InstanceStatuses[0], nil
	}
	wantStatus := func(want types.SummaryStatus, reach types.StatusType) {
		t.Helper()
		testutil.Eventually(t, 10*time.Second, func() error {
			st, err := status()
			if err != nil {
				return err
			}
			for _, s := range []*types.InstanceStatusSummary{st.SystemStatus, st.InstanceStatus} {
				if s.Status != want || len(s.Details) != 1 || s.Details[0].Status != reach || s.Details[0].Name != types.StatusNameReachability {
					return fmt.Errorf("status %+v, details %+v", s.Status, s.Details)
				}
			}
			return nil
		})
	}
	described := func() types.Instance {
		t.Helper()
		out, err := c.DescribeInstances(e.ctx(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil || len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 1 {
			t.Fatalf("describe: %+v, %v", out, err)
		}
		return out.Reservations[0].Instances[0]
	}
	// Another API process's metrics see the same catalog.
	reg := prometheus.NewRegistry()
	if _, err := New(Config{Region: testRegion, Registerer: reg}, e.Meta.ClientAs(pki.RoleEC2API)); err != nil {
		t.Fatal(err)
	}
	gauge := func(name, label string) float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				if mf.GetName() == name && m.GetLabel()[0].GetValue() == label {
					return m.GetGauge().GetValue()
				}
			}
		}
		t.Fatalf("no %s{%s}", name, label)
		return 0
	}
	wantStatus(types.SummaryStatusOk, types.StatusTypePassed)
	if d := described(); d.State.Name != types.InstanceStateNameRunning || d.StateReason != nil {
		t.Fatalf("live host: instance %s, reason %+v", d.State.Name, d.StateReason)
	}
	if live, lost, running := gauge("stratus_ec2api_compute_hosts", "live"), gauge("stratus_ec2api_compute_hosts", "lost"),
		gauge("stratus_ec2api_instances", "running"); live != 1 || lost != 0 || running != 1 {
		t.Fatalf("metrics: %v live, %v lost hosts, %v running instances", live, lost, running)
	}
	h, err := e.Admin.ComputeHost(ctx, cfg.Host)
	if err != nil || h.HeartbeatInterval() != cfg.HeartbeatInterval {
		t.Fatalf("host record %+v (%v): want the heartbeat interval %v", h, err, cfg.HeartbeatInterval)
	}

	// The daemon stops: three silent intervals later the host is lost.
	stop()
	stopped := time.Now()
	wantStatus(types.SummaryStatusImpaired, types.StatusTypeFailed)
	if waited := time.Since(stopped); waited < 2*cfg.HeartbeatInterval {
		t.Errorf("impaired %v after the daemon stopped; want at least about 3 intervals (%v)", waited, cfg.HeartbeatInterval)
	}
	d := described()
	if d.State.Name != types.InstanceStateNameRunning || d.StateReason == nil || aws.ToString(d.StateReason.Code) != LostHostCode ||
		!strings.Contains(aws.ToString(d.StateReason.Message), "lost-host") {
		t.Fatalf("lost host: instance %s, reason %+v", d.State.Name, d.StateReason)
	}
	if lost, running := gauge("stratus_ec2api_compute_hosts", "lost"), gauge("stratus_ec2api_instances", "running"); lost != 1 || running != 1 {
		t.Fatalf("metrics: %v lost hosts, %v running instances", lost, running)
	}
	// The only host of the zone is lost: nothing is placed.
	_, err = run(e, c, img, "t3.nano", 1, 1)
	wantCode(t, err, "InsufficientInstanceCapacity")
	// A filter on the status finds it.
	out, err := c.DescribeInstanceStatus(e.ctx(), &ec2.DescribeInstanceStatusInput{
		Filters: []types.Filter{{Name: aws.String("system-status.status"), Values: []string{"impaired"}}}})
	if err != nil || len(out.InstanceStatuses) != 1 || aws.ToString(out.InstanceStatuses[0].InstanceId) != id {
		t.Fatalf("system-status.status=impaired: %+v, %v", out, err)
	}

	// The host comes back: a new daemon reconciles (its domain runs: the record stays
	// running) and the checks pass again.
	stop = startDaemon()
	defer stop()
	wantStatus(types.SummaryStatusOk, types.StatusTypePassed)
	if d := described(); d.State.Name != types.InstanceStateNameRunning || d.StateReason != nil {
		t.Fatalf("host back: instance %s, reason %+v", d.State.Name, d.StateReason)
	}
	if st, err := drv.State(ctx, id); err != nil || st != driver.StateRunning {
		t.Fatalf("domain after the host came back: %s, %v", st, err)
	}
}
