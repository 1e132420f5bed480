package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"

	"stratus/computed/daemon"
	"stratus/computed/driver"
	"stratus/computed/libvirtdriver"
	"stratus/internal/hlc"
	"stratus/internal/inproc"
	"stratus/internal/pki"
	metaclient "stratus/meta/client"
	objclient "stratus/objectd/client"
	"stratus/proxy"
	"stratus/ring"
)

func init() { register(newComputedCmd) }

// hostMemoryReserveMiB is what --memory-mib leaves to the host (its daemons, page cache)
// when it defaults to the machine's memory.
const hostMemoryReserveMiB = 1024

func newComputedCmd() *cobra.Command {
	cfg := daemon.DefaultConfig()
	var members []string
	var libvirtURI, domainType, metricsListen string
	var ident identityFlags
	cmd := &cobra.Command{
		Use:   "computed",
		Short: "Run the instances placed on this host as libvirt domains",
		Long: `Run the compute daemon of a host: it registers the host (capacity, its volumed's NBD
address) and heartbeats it every 10 s, and runs every instance placed on --host: images are
fetched from the object store into a verified cache under --data, each instance gets a
config drive and a libvirt domain, volumes are attached through the host's volumed (run
'stratus volumed --host H' with the same host name), and each serial console's tail is
copied into the instance's record.

--domain-type is required: kvm where /dev/kvm can run a guest (check by booting one), qemu
(TCG) elsewhere; it is never guessed. libvirtd and virtlogd must run, and QEMU (libvirt's
user) must be able to read under --data.

It reaches meta and the storage nodes over mutual TLS with a computed certificate (by
default /etc/stratus/pki/computed.crt and computed.key, with ca.crt). Settings come from
flags, then STRATUS_COMPUTED_<FLAG>, then the JSON --config file, then defaults.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg.DomainType = driver.DomainType(domainType)
			if cfg.DomainType != driver.DomainKVM && cfg.DomainType != driver.DomainQEMU {
				return fmt.Errorf("--domain-type %q: give kvm or qemu (never guessed: a /dev/kvm can exist and still not run a guest)", domainType)
			}
			if cfg.DataDir != "" {
				cfg.DataDir = absPath(cfg.DataDir)
			}
			if cfg.VCPUs == 0 {
				cfg.VCPUs = runtime.NumCPU()
			}
			if cfg.MemoryMiB == 0 {
				total, err := hostMemoryMiB()
				if err != nil {
					return fmt.Errorf("--memory-mib not given and %w", err)
				}
				cfg.MemoryMiB = max(total-hostMemoryReserveMiB, 256)
			}
			id, err := ident.load()
			if err != nil {
				return err
			}
			mc, err := metaClientAs(id, metaAddrs(members))
			if err != nil {
				return err
			}
			defer mc.Close()
			ocfg := objclient.DefaultConfig()
			ocfg.TLS = id.ClientTLS(pki.RoleObjectd)
			cl := objclient.New(ocfg)
			defer cl.CloseIdleConnections()
			// Images are read through a proxy of the daemon's own, with its computed
			// certificate, which storage nodes let read objects and nothing else.
			px, err := proxy.New(proxy.DefaultConfig(), cl, &hlc.Clock{}, slog.Default().With("part", "proxy"))
			if err != nil {
				return err
			}
			dctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			drv, err := libvirtdriver.New(dctx, libvirtdriver.Config{URI: libvirtURI})
			cancel()
			if err != nil {
				return err
			}
			defer drv.Close()
			reg := newRegistry()
			cfg.Registerer, cfg.Logger, cfg.Version = reg, slog.Default(), version
			d, err := daemon.New(cfg, mc, drv, px)
			if err != nil {
				return err
			}
			g, ctx := errgroup.WithContext(cmd.Context())
			g.Go(func() error {
				return followRing(ctx, mc, slog.Default(), func(r *ring.Ring) bool { return px.SetRing(r) })
			})
			if err := serveMetrics(ctx, g, metricsListen, reg); err != nil {
				return err
			}
			g.Go(func() error { return d.Run(ctx) })
			slog.Info("computed running", "host", cfg.Host, "domain_type", cfg.DomainType, "vcpus", cfg.VCPUs, "memory_mib", cfg.MemoryMiB,
				"libvirt", libvirtURI, "nbd", cfg.NBDAddr, "network", cfg.Network, "certificate", id.Name())
			err = g.Wait()
			slog.Info("computed stopped", "err", err)
			return err
		},
	}
	daemonSettings(cmd, "STRATUS_COMPUTED_")
	f := cmd.Flags()
	f.StringVar(&cfg.Host, "host", defaultHost(), "this host's name: instances placed on it run here; its volumed must use the same")
	f.StringVar(&cfg.Zone, "zone", "", "availability zone of this host")
	f.StringSliceVar(&members, "meta", nil, "addresses of meta members (default $STRATUS_META_ADDR, else 127.0.0.1:7400)")
	f.StringVar(&libvirtURI, "libvirt-uri", "qemu:///system", "libvirt connection")
	f.StringVar(&domainType, "domain-type", "", "kvm or qemu (TCG); required")
	f.StringVar(&cfg.DataDir, "data", "/var/lib/stratus/computed", "image cache and instance files (QEMU must be able to read them)")
	f.IntVar(&cfg.VCPUs, "vcpus", 0, "vCPUs instances may use in all (default: the host's CPUs)")
	f.IntVar(&cfg.MemoryMiB, "memory-mib", 0, fmt.Sprintf("memory instances may use in all, MiB (default: the host's, less %d)", hostMemoryReserveMiB))
	f.StringVar(&cfg.NBDAddr, "nbd", cfg.NBDAddr, "the host's volumed NBD address (loopback)")
	f.StringVar(&cfg.Network, "network", cfg.Network, "user (QEMU user networking, SSH forwarded from a loopback port) or libvirt:<network>")
	f.StringVar(&cfg.KernelCmdline, "kernel-cmdline", cfg.KernelCmdline, "kernel command line of kernel-image (aki) boots")
	f.DurationVar(&cfg.StopGrace, "stop-grace", cfg.StopGrace, "how long a stop waits for the guest to power off before pulling the plug")
	f.Int64Var(&cfg.ImageCacheMaxBytes, "image-cache-max-bytes", cfg.ImageCacheMaxBytes, "bound of the image cache under --data: past it the least recently used images no instance uses are evicted (0: no bound)")
	f.DurationVar(&cfg.HeartbeatInterval, "heartbeat-interval", cfg.HeartbeatInterval, "how often the host's registration is refreshed (the EC2 API judges a host lost after --lost-host-heartbeats of them)")
	f.StringVar(&metricsListen, "metrics-listen", "127.0.0.1:9110", "address of /metrics and /healthz (plain HTTP); empty: none")
	ident.addFlags(f, pki.RoleComputed, DaemonPKIDir)
	return cmd
}

// hostMemoryMiB reads the machine's memory from /proc/meminfo.
func hostMemoryMiB() (int, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("the host's memory is unknown: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kib, err := strconv.Atoi(fields[1])
			if err != nil {
				return 0, fmt.Errorf("the host's memory is unknown: %w", err)
			}
			return kib / 1024, nil
		}
	}
	return 0, fmt.Errorf("the host's memory is unknown: no MemTotal in /proc/meminfo")
}

// computeFlags are the all-in-one server's compute settings: compute runs only when
// --compute-domain-type is given (never guessed).
type computeFlags struct {
	domainType string
	libvirtURI string
	dataDir    string
	network    string
	vcpus      int
	memoryMiB  int
	cmdline    string
}

func (c *computeFlags) addFlags(fl *pflag.FlagSet) {
	fl.StringVar(&c.domainType, "compute-domain-type", "", "run instances on this machine under kvm or qemu (TCG); empty: no compute")
	fl.StringVar(&c.libvirtURI, "compute-libvirt-uri", "qemu:///system", "libvirt connection of the compute daemon")
	fl.StringVar(&c.dataDir, "compute-data", "", "image cache and instance files, which QEMU must be able to read (default <data>/computed; <data> is then made traversable)")
	fl.StringVar(&c.network, "compute-network", "user", "instances' network: user or libvirt:<network>")
	fl.IntVar(&c.vcpus, "compute-vcpus", 0, "vCPUs instances may use in all (default: the machine's CPUs)")
	fl.StringVar(&c.cmdline, "compute-kernel-cmdline", daemon.DefaultConfig().KernelCmdline, "kernel command line of instances booted from a kernel image (aki-)")
	fl.IntVar(&c.memoryMiB, "compute-memory-mib", 0, fmt.Sprintf("memory instances may use in all, MiB (default: the machine's, less %d)", hostMemoryReserveMiB))
}

// startCompute runs, in g, the compute daemon of the all-in-one server for host
// --volume-host, with its volumes served by the server's NBD port (at nbdAddr), reaching the
// catalog (at metaAddr) and the storage node in-process with its computed certificate.
func startCompute(ctx context.Context, g *errgroup.Group, f serverFlags, metaAddr, nbdAddr string, local map[string]http.Handler, id *pki.Identity, rg *ring.Ring, reg prometheus.Registerer) error {
	if f.compute.domainType == "" {
		return nil
	}
	if nbdAddr == "" {
		return fmt.Errorf("--compute-domain-type needs --nbd-listen: instances reach their volumes there")
	}
	log := slog.Default()
	cfg := daemon.DefaultConfig()
	cfg.Host, cfg.DomainType, cfg.NBDAddr, cfg.Network = f.volumeHost, driver.DomainType(f.compute.domainType), nbdAddr, f.compute.network
	cfg.VCPUs, cfg.MemoryMiB = f.compute.vcpus, f.compute.memoryMiB
	if f.compute.cmdline != "" {
		cfg.KernelCmdline = f.compute.cmdline
	}
	if cfg.VCPUs == 0 {
		cfg.VCPUs = runtime.NumCPU()
	}
	if cfg.MemoryMiB == 0 {
		total, err := hostMemoryMiB()
		if err != nil {
			return err
		}
		cfg.MemoryMiB = max(total-hostMemoryReserveMiB, 256)
	}
	cfg.DataDir = absPath(f.compute.dataDir)
	if f.compute.dataDir == "" {
		cfg.DataDir = absPath(filepath.Join(f.dataDir, "computed"))
		// QEMU runs as libvirt's user and must reach the files under it; the data directory
		// is made traversable (not listable); what it holds keeps its own modes.
		if err := os.Chmod(f.dataDir, 0o711); err != nil {
			return err
		}
	}
	cfg.Logger, cfg.Registerer, cfg.Version = log, reg, version
	mcfg := metaclient.DefaultConfig(metaAddr)
	mcfg.TLS = id.ClientTLS(pki.RoleMeta)
	mt := inproc.NewTransport(local, metaclient.NewTransport(mcfg), log)
	mt.PresentAs(id.ConnectionState)
	mcfg.HTTPClient = &http.Client{Transport: mt}
	mc, err := metaclient.New(mcfg)
	if err != nil {
		return err
	}
	ocfg := objclient.DefaultConfig()
	ocfg.TLS = id.ClientTLS(pki.RoleObjectd)
	ot := inproc.NewTransport(local, objclient.NewTransport(objclient.WithTLS(ocfg.TLS)), log)
	ot.PresentAs(id.ConnectionState)
	ocfg.HTTPClient = &http.Client{Transport: ot}
	px, err := proxy.New(proxy.DefaultConfig(), objclient.New(ocfg), &hlc.Clock{}, log.With("part", "proxy"))
	if err != nil {
		mc.Close()
		return err
	}
	px.SetRing(rg)
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	drv, err := libvirtdriver.New(dctx, libvirtdriver.Config{URI: f.compute.libvirtURI})
	cancel()
	if err != nil {
		mc.Close()
		return fmt.Errorf("compute: %w", err)
	}
	d, err := daemon.New(cfg, mc, drv, px)
	if err != nil {
		drv.Close()
		mc.Close()
		return err
	}
	g.Go(func() error {
		defer mc.Close()
		defer drv.Close()
		return d.Run(ctx)
	})
	log.Info("compute running", "host", cfg.Host, "domain_type", cfg.DomainType, "vcpus", cfg.VCPUs, "memory_mib", cfg.MemoryMiB, "data", cfg.DataDir)
	return nil
}
