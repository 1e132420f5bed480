package driver

import (
	"fmt"
	"regexp"
	"strings"
)

// DomainType is the hypervisor acceleration an instance runs under.
type DomainType string

const (
	// DomainKVM runs on hardware virtualization; the host must have a working /dev/kvm.
	DomainKVM DomainType = "kvm"
	// DomainQEMU runs under QEMU's TCG emulator: slower, but works anywhere. Which one a host
	// uses is configuration, never guessed from /dev/kvm existing: a /dev/kvm can be present
	// and still unable to run a guest kernel.
	DomainQEMU DomainType = "qemu"
)

// Spec describes an instance to define.
type Spec struct {
	// Name identifies the instance on the host: letters, digits, '-', '_' and '.'.
	Name string
	// UUID is the hypervisor's ID; empty lets the driver pick one.
	UUID      string
	VCPUs     int
	MemoryMiB int
	Type      DomainType

	// Boot either from Kernel (+ Initrd, Cmdline), the EKI/ERI way, or from RootDisk.
	Kernel  string
	Initrd  string
	Cmdline string

	// RootDisk is the instance's qcow2 overlay on its cached image; it is the first virtio
	// disk (vda). Optional with a kernel boot.
	RootDisk string
	// ConfigDrive is a NoCloud seed image (ISO 9660 labelled cidata) attached read-only as
	// a CD-ROM. Optional.
	ConfigDrive string
	// ConsoleLog is the file the serial console (ttyS0) is written to, for
	// GetConsoleOutput. Required: an instance without a console log cannot be debugged.
	ConsoleLog string

	// Owner names who defined the domain (a daemon's host and data directory); it is kept
	// in the domain's metadata and listed back, so a daemon treats as its own — and may
	// remove as orphans — only the domains it defined, even on a libvirtd it shares.
	Owner string

	// NIC is the instance's network interface; nil means none.
	NIC *NIC
	// Volumes are NBD disks attached from the start.
	Volumes []NBDDisk
}

// NIC connects an instance to a network: a libvirt network (NAT on the host, the guest gets
// an address from its DHCP) when Network is set, else QEMU user networking with the guest's
// SSH port forwarded from SSHHostPort on the host's loopback.
type NIC struct {
	Network string
	// MAC is the interface's address; empty lets the hypervisor pick one. A libvirt
	// network's DHCP lease is found by it.
	MAC string
	// SSHHostPort is the host port forwarded to the guest's port 22 in user mode.
	SSHHostPort int
}

// NBDDisk is a block device the instance reads over NBD: a volume served by the host's
// volumed (or any NBD server).
type NBDDisk struct {
	// Target is the guest disk name the hypervisor is given (vdb, vdc, …). Guests number
	// disks in the order they find them, so it is a hint, and Serial is what identifies the
	// volume inside the guest (/sys/block/vdX/serial, /dev/disk/by-id/virtio-<serial>).
	Target string
	// Serial is exposed to the guest; the volume ID. At most 20 bytes (virtio's limit).
	Serial string
	// Either Host and Port (TCP), or Socket (a Unix socket path).
	Host   string
	Port   int
	Socket string
	// Export is the NBD export name; empty asks for the server's default export.
	Export   string
	ReadOnly bool
}

var (
	namePattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	targetPattern = regexp.MustCompile(`^vd[a-z]{1,2}$`)
	macPattern    = regexp.MustCompile(`^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$`)
	uuidPattern   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// Validate returns an error wrapping ErrInvalidSpec that names the first problem of s.
func (s Spec) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidSpec, fmt.Sprintf(format, args...))
	}
	switch {
	case !namePattern.MatchString(s.Name):
		return bad("name %q: want 1-64 of letters, digits, '.', '_', '-'", s.Name)
	case s.UUID != "" && !uuidPattern.MatchString(s.UUID):
		return bad("uuid %q is not a UUID", s.UUID)
	case s.VCPUs < 1 || s.VCPUs > 256:
		return bad("vcpus %d: want 1-256", s.VCPUs)
	case s.MemoryMiB < 16:
		return bad("memory %d MiB: want at least 16", s.MemoryMiB)
	case s.Type != DomainKVM && s.Type != DomainQEMU:
		return bad("domain type %q: want kvm or qemu", s.Type)
	case s.Kernel == "" && s.RootDisk == "":
		return bad("nothing to boot: set a kernel or a root disk")
	case s.Kernel == "" && (s.Initrd != "" || s.Cmdline != ""):
		return bad("initrd or cmdline without a kernel")
	case s.ConsoleLog == "":
		return bad("no console log path")
	}
	for _, p := range []string{s.Kernel, s.Initrd, s.RootDisk, s.ConfigDrive, s.ConsoleLog} {
		if p != "" && !strings.HasPrefix(p, "/") {
			return bad("path %q is not absolute", p)
		}
	}
	if s.NIC != nil {
		if s.NIC.MAC != "" && !macPattern.MatchString(s.NIC.MAC) {
			return bad("mac %q is not a MAC address", s.NIC.MAC)
		}
		if s.NIC.Network != "" && !namePattern.MatchString(s.NIC.Network) {
			return bad("network name %q", s.NIC.Network)
		}
		if s.NIC.Network == "" && (s.NIC.SSHHostPort < 1 || s.NIC.SSHHostPort > 65535) {
			return bad("user-mode NIC needs an SSH host port, got %d", s.NIC.SSHHostPort)
		}
	}
	seen := map[string]bool{}
	if s.RootDisk != "" {
		seen["vda"] = true
	}
	for _, d := range s.Volumes {
		if err := d.Validate(); err != nil {
			return err
		}
		if seen[d.Target] {
			return bad("disk target %s used twice (vda is the root disk's)", d.Target)
		}
		seen[d.Target] = true
	}
	return nil
}

// Validate returns an error wrapping ErrInvalidSpec that names the first problem of d.
func (d NBDDisk) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: nbd disk: %s", ErrInvalidSpec, fmt.Sprintf(format, args...))
	}
	switch {
	case !targetPattern.MatchString(d.Target):
		return bad("target %q: want vdb, vdc, …", d.Target)
	case len(d.Serial) > 20:
		return bad("serial %q longer than 20 bytes", d.Serial)
	case d.Socket != "" && (d.Host != "" || d.Port != 0):
		return bad("both a socket and a host:port")
	case d.Socket == "" && (d.Host == "" || d.Port < 1 || d.Port > 65535):
		return bad("want a socket or a host and port, got %q:%d", d.Host, d.Port)
	case d.Socket != "" && !strings.HasPrefix(d.Socket, "/"):
		return bad("socket %q is not absolute", d.Socket)
	}
	for _, r := range d.Serial + d.Export {
		if r < 0x20 || r > 0x7e {
			return bad("serial and export must be printable ASCII")
		}
	}
	return nil
}
