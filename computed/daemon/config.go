package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"stratus/computed/driver"
	vclient "stratus/volumed/client"
)

// Config configures a Daemon.
type Config struct {
	// Host is this host's name: instances with this Host run here, and volume leases name it.
	// It must be the name its volumed attaches volumes under.
	Host string
	Zone string
	// DomainType is kvm or qemu (TCG): configuration, never guessed.
	DomainType driver.DomainType
	// VCPUs and MemoryMiB are what instances may use in all on this host.
	VCPUs     int
	MemoryMiB int
	// DataDir holds the image cache (images/), each instance's files (instances/<id>/)
	// and downloads being hashed (staging/). QEMU runs as its own user, so the daemon makes
	// these directories world-traversable; the path to DataDir must be too.
	DataDir string
	// NBDAddr is where the host's volumed serves volumes (host:port, loopback).
	NBDAddr string
	// Network is "user" (QEMU user networking, the guest's SSH port forwarded from a
	// loopback port in SSHPorts) or "libvirt:<name>" (a libvirt network, DHCP by MAC).
	Network string
	// SSHPortFirst and SSHPortLast bound the loopback ports forwarded to user-mode guests.
	SSHPortFirst, SSHPortLast int
	// KernelCmdline is the kernel command line of kernel (EKI) boots; EC2 has no field for
	// it. With a root disk, root=/dev/vda is added.
	KernelCmdline string
	// ImageCacheMaxBytes bounds the image cache: past it, the least recently used images
	// no instance here uses are evicted. Zero means no bound.
	ImageCacheMaxBytes int64
	// HeartbeatInterval is how often the host's registration is refreshed.
	HeartbeatInterval time.Duration
	// ResyncInterval bounds how long a change of the instances table can go unnoticed when
	// a watch is lost.
	ResyncInterval time.Duration
	// PollInterval is how often each worker looks at its domain (a guest powering itself
	// off) and its console log.
	PollInterval time.Duration
	// ConsoleInterval is the least time between two writes of an instance's console tail.
	ConsoleInterval time.Duration
	// StopGrace is how long a stop waits for the guest to answer the power button before
	// pulling the plug.
	StopGrace time.Duration
	// AttachTimeout bounds the wait for volumed to serve a volume just attached.
	AttachTimeout time.Duration
	// SavedImagePartBytes is the size of the objects an image saved from a root disk is cut
	// into; 0 means DefaultSavedImagePartBytes.
	SavedImagePartBytes int64
	// LeaseTTL is the period of the volume leases the daemon takes; the host's volumed
	// renews them.
	LeaseTTL time.Duration
	// CallTimeout bounds one call to meta or the hypervisor.
	CallTimeout time.Duration
	// Version is reported in the host's registration.
	Version    string
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// DefaultImageCacheMaxBytes is the image cache's default bound.
const DefaultImageCacheMaxBytes = 20 << 30

// DefaultConfig returns a Config with defaults; Host, DomainType, VCPUs, MemoryMiB and
// DataDir must be set.
func DefaultConfig() Config {
	return Config{NBDAddr: "127.0.0.1:10809", Network: "user", SSHPortFirst: 22200, SSHPortLast: 22999,
		ImageCacheMaxBytes: DefaultImageCacheMaxBytes,
		KernelCmdline:      "console=ttyS0 panic=-1", HeartbeatInterval: 10 * time.Second, ResyncInterval: 30 * time.Second,
		PollInterval: 2 * time.Second, ConsoleInterval: 3 * time.Second, StopGrace: 30 * time.Second,
		AttachTimeout: 30 * time.Second, LeaseTTL: vclient.DefaultLeaseTTL, CallTimeout: 30 * time.Second}
}

// Validate says what is wrong with c.
func (c Config) Validate() error {
	var errs []error
	if c.Host == "" {
		errs = append(errs, errors.New("host is required"))
	}
	if c.DomainType != driver.DomainKVM && c.DomainType != driver.DomainQEMU {
		errs = append(errs, fmt.Errorf("domain type %q: want kvm or qemu (never guessed: a /dev/kvm can exist and still not run a guest)", c.DomainType))
	}
	if c.VCPUs < 1 || c.MemoryMiB < 16 {
		errs = append(errs, fmt.Errorf("capacity %d vCPUs, %d MiB: want at least 1 and 16", c.VCPUs, c.MemoryMiB))
	}
	if c.DataDir == "" || !strings.HasPrefix(c.DataDir, "/") {
		errs = append(errs, fmt.Errorf("data dir %q must be an absolute path (QEMU opens files under it)", c.DataDir))
	}
	if _, _, err := net.SplitHostPort(c.NBDAddr); err != nil {
		errs = append(errs, fmt.Errorf("nbd address %q: %w", c.NBDAddr, err))
	}
	if _, err := c.network(); err != nil {
		errs = append(errs, err)
	}
	if c.SSHPortFirst < 1024 || c.SSHPortLast > 65535 || c.SSHPortFirst > c.SSHPortLast {
		errs = append(errs, fmt.Errorf("ssh ports %d-%d: want a range within 1024-65535", c.SSHPortFirst, c.SSHPortLast))
	}
	for name, d := range map[string]time.Duration{"heartbeat interval": c.HeartbeatInterval, "resync interval": c.ResyncInterval,
		"poll interval": c.PollInterval, "console interval": c.ConsoleInterval, "stop grace": c.StopGrace,
		"attach timeout": c.AttachTimeout, "lease ttl": c.LeaseTTL, "call timeout": c.CallTimeout} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", name))
		}
	}
	return errors.Join(errs...)
}

// DomainOwner is what the daemon's domains carry as their owner: its host and data
// directory. Another daemon's domains on a shared libvirtd (another cluster's, a test's)
// carry another, and are never taken for orphans.
func (c Config) DomainOwner() string { return c.Host + ":" + c.DataDir }

// network returns the libvirt network instances join; "" for user networking.
func (c Config) network() (string, error) {
	if c.Network == "user" {
		return "", nil
	}
	if n, ok := strings.CutPrefix(c.Network, "libvirt:"); ok && n != "" {
		return n, nil
	}
	return "", fmt.Errorf("network %q: want user or libvirt:<name>", c.Network)
}
