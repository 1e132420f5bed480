package driver

import (
	"context"
	"net/netip"
	"time"
)

// Driver runs instances on one host.
type Driver interface {
	// Define records an instance from spec without starting it. It returns ErrExists if an
	// instance of that name is already defined, and ErrInvalidSpec for a spec it refuses.
	Define(ctx context.Context, spec Spec) error
	// Start boots a defined instance. Starting a running instance is not an error, so a
	// reconciling daemon can repeat it.
	Start(ctx context.Context, name string) error
	// Stop asks the guest to power off (an ACPI power-button press) and waits up to grace
	// for it; a guest still running then is destroyed. Stopping a stopped instance is not an
	// error.
	Stop(ctx context.Context, name string, grace time.Duration) error
	// Destroy powers the instance off at once, like pulling its plug. Destroying a stopped
	// instance is not an error.
	Destroy(ctx context.Context, name string) error
	// Undefine forgets a stopped instance. Files it used (overlay, console log, config
	// drive) stay for the caller to remove.
	Undefine(ctx context.Context, name string) error
	// State reports the instance's power state.
	State(ctx context.Context, name string) (State, error)
	// AttachNBD attaches disk to the instance: live if it runs, and in its definition either
	// way, so the disk is still there after a restart. ErrTargetInUse if the target is taken.
	AttachNBD(ctx context.Context, name string, disk NBDDisk) error
	// DetachNBD removes the disk at target, live if the instance runs, and from its
	// definition. ErrNotAttached if there is none. A running guest must release the disk,
	// so a detach can fail with the guest's refusal or time out.
	DetachNBD(ctx context.Context, name string, target string) error
	// Addresses reports the private IP addresses of a running instance's NIC: on a libvirt
	// network, the DHCP leases its dnsmasq handed out (none until the guest has asked for
	// one); in user mode, the fixed address QEMU gives the guest. A stopped instance or one
	// without a NIC has none.
	Addresses(ctx context.Context, name string) ([]netip.Addr, error)
	// List returns every instance the hypervisor holds, running or not.
	List(ctx context.Context) ([]Instance, error)
	// Close releases the connection to the hypervisor.
	Close() error
}

// State is an instance's power state as the hypervisor sees it.
type State string

// The states an instance can be in.
const (
	StateRunning      State = "running"
	StateBlocked      State = "blocked" // running, waiting on I/O
	StatePaused       State = "paused"
	StateShuttingDown State = "shutting-down"
	StateShutoff      State = "shutoff"
	StateCrashed      State = "crashed"
	StateSuspended    State = "suspended" // guest-initiated power management sleep
	StateUnknown      State = "unknown"
)

// Instance is one entry of List.
type Instance struct {
	Name  string
	UUID  string
	State State
	// NIC is the network interface it was defined with (nil if none, or if it was not
	// defined by this driver): what a daemon restarting needs to know which forwarded SSH
	// ports are taken.
	NIC *NIC
	// Owner is the Spec's Owner it was defined with ("" if none, or not defined by this
	// driver).
	Owner string
	// Volumes lists the targets (vdb, vdc, …) of the NBD disks in its live definition if
	// it runs, else in its persistent one.
	Volumes []NBDDisk
}
