package libvirtdriver

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"stratus/computed/driver"
)

// newTestDriver connects to libvirt's in-process test hypervisor. Its state is shared by
// the process's connections, so each test names its domains uniquely.
func newTestDriver(t *testing.T) *Driver {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := New(ctx, Config{URI: "test:///default", CallTimeout: 10 * time.Second, StopPoll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

var nameSeq atomic.Int64

func uniqueName(t *testing.T) string {
	return fmt.Sprintf("i-test%06d", nameSeq.Add(1))
}

func kernelSpec(name string) driver.Spec {
	return driver.Spec{
		Name: name, VCPUs: 1, MemoryMiB: 128, Type: driver.DomainQEMU,
		Kernel: "/var/lib/stratus/images/eki/vmlinux", Initrd: "/var/lib/stratus/images/eri/initrd.img",
		Cmdline: "console=ttyS0", ConsoleLog: "/var/lib/stratus/instances/" + name + "/console.log",
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestLifecycle(t *testing.T) {
	d := newTestDriver(t)
	ctx := ctxT(t)
	name := uniqueName(t)
	if err := d.Define(ctx, kernelSpec(name)); err != nil {
		t.Fatal(err)
	}
	if err := d.Define(ctx, kernelSpec(name)); !errors.Is(err, driver.ErrExists) {
		t.Fatalf("second define: got %v, want ErrExists", err)
	}
	mustState(t, d, name, driver.StateShutoff)
	if err := d.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	mustState(t, d, name, driver.StateRunning)
	if err := d.Start(ctx, name); err != nil {
		t.Fatalf("start of a running instance: %v", err)
	}
	if err := d.Undefine(ctx, name); !errors.Is(err, driver.ErrNotStopped) {
		t.Fatalf("undefine running: got %v, want ErrNotStopped", err)
	}
	if err := d.Stop(ctx, name, time.Second); err != nil {
		t.Fatal(err)
	}
	mustState(t, d, name, driver.StateShutoff)
	if err := d.Stop(ctx, name, time.Second); err != nil {
		t.Fatalf("stop of a stopped instance: %v", err)
	}
	if err := d.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	if err := d.Destroy(ctx, name); err != nil {
		t.Fatal(err)
	}
	mustState(t, d, name, driver.StateShutoff)
	if err := d.Destroy(ctx, name); err != nil {
		t.Fatalf("destroy of a stopped instance: %v", err)
	}
	if err := d.Undefine(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := d.State(ctx, name); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("state after undefine: got %v, want ErrNotFound", err)
	}
}

func TestNotFound(t *testing.T) {
	d := newTestDriver(t)
	ctx := ctxT(t)
	for op, err := range map[string]error{
		"start":    d.Start(ctx, "i-missing"),
		"stop":     d.Stop(ctx, "i-missing", time.Second),
		"destroy":  d.Destroy(ctx, "i-missing"),
		"undefine": d.Undefine(ctx, "i-missing"),
		"attach":   d.AttachNBD(ctx, "i-missing", driver.NBDDisk{Target: "vdb", Host: "127.0.0.1", Port: 10809}),
		"detach":   d.DetachNBD(ctx, "i-missing", "vdb"),
	} {
		if !errors.Is(err, driver.ErrNotFound) {
			t.Errorf("%s: got %v, want ErrNotFound", op, err)
		}
	}
}

func TestDefineRejectsBadSpec(t *testing.T) {
	d := newTestDriver(t)
	s := kernelSpec(uniqueName(t))
	s.Type = "xen"
	if err := d.Define(ctxT(t), s); !errors.Is(err, driver.ErrInvalidSpec) {
		t.Fatalf("got %v, want ErrInvalidSpec", err)
	}
	if _, err := d.State(ctxT(t), s.Name); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("a refused spec was defined: %v", err)
	}
}

func TestAttachDetachNBD(t *testing.T) {
	d := newTestDriver(t)
	ctx := ctxT(t)
	name := uniqueName(t)
	if err := d.Define(ctx, kernelSpec(name)); err != nil {
		t.Fatal(err)
	}
	tcp := driver.NBDDisk{Target: "vdb", Serial: "vol-0a1b2c3d", Host: "127.0.0.1", Port: 10809, Export: "vol-0a1b2c3d"}
	unix := driver.NBDDisk{Target: "vdc", Serial: "vol-99", Socket: "/run/stratus/volumed.sock", Export: "vol-99", ReadOnly: true}

	if err := d.AttachNBD(ctx, name, tcp); err != nil {
		t.Fatal(err)
	}
	if err := d.AttachNBD(ctx, name, driver.NBDDisk{Target: "vdb", Host: "127.0.0.1", Port: 1}); !errors.Is(err, driver.ErrTargetInUse) {
		t.Fatalf("second disk at vdb: got %v, want ErrTargetInUse", err)
	}
	mustVolumes(t, d, name, tcp)

	if err := d.AttachNBD(ctx, name, unix); err != nil {
		t.Fatal(err)
	}
	mustVolumes(t, d, name, tcp, unix)
	if err := d.DetachNBD(ctx, name, "vdb"); err != nil {
		t.Fatal(err)
	}
	mustVolumes(t, d, name, unix)
	if err := d.DetachNBD(ctx, name, "vdb"); !errors.Is(err, driver.ErrNotAttached) {
		t.Fatalf("detach twice: got %v, want ErrNotAttached", err)
	}
	// The disk goes with the definition into the running guest. (Live attach and detach
	// need a real hypervisor, libvirt 9.0's test driver has neither: see the boot test.)
	if err := d.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	mustVolumes(t, d, name, unix)
	if err := d.AttachNBD(ctx, name, driver.NBDDisk{Target: "vdb", Socket: "relative.sock"}); !errors.Is(err, driver.ErrInvalidSpec) {
		t.Fatalf("relative socket: got %v, want ErrInvalidSpec", err)
	}
}

func TestListReportsStateAndVolumes(t *testing.T) {
	d := newTestDriver(t)
	ctx := ctxT(t)
	a, b := uniqueName(t), uniqueName(t)
	vol := driver.NBDDisk{Target: "vdb", Serial: "vol-1", Host: "127.0.0.1", Port: 10809, Export: "vol-1"}
	sa := kernelSpec(a)
	sa.Volumes = []driver.NBDDisk{vol}
	if err := d.Define(ctx, sa); err != nil {
		t.Fatal(err)
	}
	if err := d.Define(ctx, kernelSpec(b)); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx, b); err != nil {
		t.Fatal(err)
	}
	list, err := d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]driver.Instance{}
	for _, inst := range list {
		got[inst.Name] = inst
	}
	if got[a].State != driver.StateShutoff || got[b].State != driver.StateRunning {
		t.Fatalf("states: %s=%q %s=%q", a, got[a].State, b, got[b].State)
	}
	if len(got[a].Volumes) != 1 || got[a].Volumes[0] != vol {
		t.Fatalf("%s volumes: %+v, want [%+v]", a, got[a].Volumes, vol)
	}
	if got[a].UUID == "" {
		t.Fatalf("%s has no UUID", a)
	}
}

func TestAddressesUserMode(t *testing.T) {
	d := newTestDriver(t)
	ctx := ctxT(t)
	name := uniqueName(t)
	s := kernelSpec(name)
	s.NIC = &driver.NIC{SSHHostPort: 2222}
	s.Owner = "h1:/var/lib/stratus/computed <&\"owner\">"
	if err := d.Define(ctx, s); err != nil {
		t.Fatal(err)
	}
	if addrs, err := d.Addresses(ctx, name); err != nil || len(addrs) != 0 {
		t.Fatalf("stopped instance: %v, %v; want none", addrs, err)
	}
	if err := d.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	addrs, err := d.Addresses(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 1 || addrs[0].String() != UserNetGuestAddress {
		t.Fatalf("user-mode addresses %v, want [%s]", addrs, UserNetGuestAddress)
	}
	// A restarted daemon learns which forwarded ports are taken from List.
	list, err := d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, inst := range list {
		if inst.Name == name && (inst.NIC == nil || *inst.NIC != *s.NIC || inst.Owner != s.Owner) {
			t.Fatalf("listed NIC %+v owner %q, want %+v, %q", inst.NIC, inst.Owner, s.NIC, s.Owner)
		}
	}
}

func TestCallReturnsAtDeadline(t *testing.T) {
	d := newTestDriver(t)
	release := make(chan struct{})
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := call0(ctx, d, "stuck", func() error { <-release; return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("returned after %v", el)
	}
}

func mustState(t *testing.T, d *Driver, name string, want driver.State) {
	t.Helper()
	got, err := d.State(ctxT(t), name)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("%s state %q, want %q", name, got, want)
	}
}

func mustVolumes(t *testing.T, d *Driver, name string, want ...driver.NBDDisk) {
	t.Helper()
	list, err := d.List(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, inst := range list {
		if inst.Name != name {
			continue
		}
		if fmt.Sprint(inst.Volumes) != fmt.Sprint(want) {
			t.Fatalf("%s volumes:\n got %+v\nwant %+v", name, inst.Volumes, want)
		}
		return
	}
	t.Fatalf("%s not listed", name)
}
