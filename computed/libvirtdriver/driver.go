package libvirtdriver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"stratus/computed/driver"
)

// Config configures a Driver.
type Config struct {
	// URI is the libvirt connection: qemu:///system on a compute host, test:///default in
	// unit tests.
	URI string
	// CallTimeout bounds a libvirt call whose context has no deadline. Default 30s.
	CallTimeout time.Duration
	// Machine is the QEMU machine type. Default "pc" (i440fx: ACPI PCI hotplug on the root
	// bus, which live volume attach relies on, and the IDE bus the config drive uses).
	Machine string
	// Emulator is the QEMU binary; empty lets libvirt pick the one for the domain type.
	Emulator string
	// StopPoll is how often Stop checks whether the guest has powered off. Default 100ms.
	StopPoll time.Duration
}

func (c *Config) setDefaults() {
	if c.CallTimeout <= 0 {
		c.CallTimeout = 30 * time.Second
	}
	if c.Machine == "" {
		c.Machine = "pc"
	}
	if c.StopPoll <= 0 {
		c.StopPoll = 100 * time.Millisecond
	}
}

// Driver is a driver.Driver on one libvirt connection. It is safe for concurrent use.
type Driver struct {
	cfg Config

	mu     sync.Mutex
	conn   *libvirt.Connect // replaced when the daemon closed it (see ensure)
	closed bool
}

var _ driver.Driver = (*Driver)(nil)

// keepaliveInterval and keepaliveCount: a daemon silent for interval*(count+1) is declared
// dead and its connection closed, which fails the calls blocked on it.
const (
	keepaliveInterval = 5
	keepaliveCount    = 3
)

var eventLoopOnce sync.Once

// startEventLoop runs libvirt's default event loop, which keepalives need, once per process.
func startEventLoop() {
	eventLoopOnce.Do(func() {
		if err := libvirt.EventRegisterDefaultImpl(); err != nil {
			return
		}
		go func() {
			for libvirt.EventRunDefaultImpl() == nil {
			}
		}()
	})
}

// New connects to libvirt at cfg.URI.
func New(ctx context.Context, cfg Config) (*Driver, error) {
	cfg.setDefaults()
	if cfg.URI == "" {
		return nil, errors.New("libvirt: no connection URI")
	}
	startEventLoop()
	d := &Driver{cfg: cfg}
	if err := d.ensure(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// ensure opens the connection if there is none or the daemon has closed it: a libvirtd
// restarted (an upgrade, a crash) fails the keepalive, which closes the connection, and
// every later call would fail on it. Domains outlive libvirtd, so a new connection finds
// them again.
func (d *Driver) ensure(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("libvirt: driver closed")
	}
	if d.conn != nil {
		if alive, err := d.conn.IsAlive(); err == nil && alive {
			return nil
		}
		d.conn.Close()
		d.conn = nil
	}
	conn, err := call(ctx, d, opConnect, func() (*libvirt.Connect, error) { return libvirt.NewConnect(d.cfg.URI) })
	if err != nil {
		return fmt.Errorf("libvirt connect %s: %w", d.cfg.URI, err)
	}
	// Only connections to a daemon have keepalives; the in-process test driver refuses them.
	_ = conn.SetKeepAlive(keepaliveInterval, keepaliveCount)
	d.conn = conn
	return nil
}

// c is the current connection, for a call that ensure has just checked.
func (d *Driver) c() *libvirt.Connect {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.conn
}

// Close implements driver.Driver.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.conn == nil {
		return nil
	}
	_, err := d.conn.Close()
	d.conn = nil
	return err
}

// Define implements driver.Driver.
func (d *Driver) Define(ctx context.Context, spec driver.Spec) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	xml, err := domainXML(d.cfg, spec)
	if err != nil {
		return fmt.Errorf("define %s: %w", spec.Name, err)
	}
	return call0(ctx, d, "define", func() error {
		// libvirt would redefine (replace) an existing domain of the same name; the caller
		// asked for a new one, so an existing name is an error.
		if dom, err := d.c().LookupDomainByName(spec.Name); err == nil {
			dom.Free()
			return fmt.Errorf("define %s: %w", spec.Name, driver.ErrExists)
		} else if !isNoDomain(err) {
			return fmt.Errorf("define %s: %w", spec.Name, err)
		}
		dom, err := d.c().DomainDefineXMLFlags(xml, libvirt.DOMAIN_DEFINE_VALIDATE)
		if err != nil {
			return fmt.Errorf("define %s: %w", spec.Name, err)
		}
		return dom.Free()
	})
}

// Start implements driver.Driver.
func (d *Driver) Start(ctx context.Context, name string) error {
	return d.withDomain(ctx, "start", name, func(dom *libvirt.Domain) error {
		if active, err := dom.IsActive(); err != nil || active {
			return err
		}
		return dom.Create()
	})
}

// Destroy implements driver.Driver.
func (d *Driver) Destroy(ctx context.Context, name string) error {
	return d.withDomain(ctx, "destroy", name, func(dom *libvirt.Domain) error {
		err := dom.Destroy()
		if isNotRunning(err) {
			return nil
		}
		return err
	})
}

// Stop implements driver.Driver.
func (d *Driver) Stop(ctx context.Context, name string, grace time.Duration) error {
	st, err := d.State(ctx, name)
	if err != nil {
		return err
	}
	if st == driver.StateShutoff {
		return nil
	}
	err = d.withDomain(ctx, "shutdown", name, func(dom *libvirt.Domain) error {
		err := dom.ShutdownFlags(libvirt.DOMAIN_SHUTDOWN_ACPI_POWER_BTN)
		if isUnsupported(err) {
			// A hypervisor that cannot be told which method shuts down in its own way
			// (QEMU's default is the power button too, unless a guest agent is configured).
			err = dom.Shutdown()
		}
		if isNotRunning(err) {
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if st, err := d.State(ctx, name); err != nil {
			return err
		} else if st == driver.StateShutoff {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stop %s: %w", name, ctx.Err())
		case <-time.After(d.cfg.StopPoll):
		}
	}
	return d.Destroy(ctx, name)
}

// Undefine implements driver.Driver.
func (d *Driver) Undefine(ctx context.Context, name string) error {
	return d.withDomain(ctx, "undefine", name, func(dom *libvirt.Domain) error {
		active, err := dom.IsActive()
		if err != nil {
			return err
		}
		if active {
			return driver.ErrNotStopped
		}
		return dom.Undefine()
	})
}

// State implements driver.Driver.
func (d *Driver) State(ctx context.Context, name string) (driver.State, error) {
	var st driver.State
	err := d.withDomain(ctx, "state", name, func(dom *libvirt.Domain) error {
		s, _, err := dom.GetState()
		st = stateOf(s)
		return err
	})
	return st, err
}

// List implements driver.Driver.
func (d *Driver) List(ctx context.Context) ([]driver.Instance, error) {
	return call(ctx, d, "list", func() ([]driver.Instance, error) {
		doms, err := d.c().ListAllDomains(0)
		if err != nil {
			return nil, fmt.Errorf("list domains: %w", err)
		}
		defer func() {
			for i := range doms {
				doms[i].Free()
			}
		}()
		out := make([]driver.Instance, 0, len(doms))
		for i := range doms {
			inst, err := describe(&doms[i])
			if isNoDomain(err) {
				continue // undefined while we listed
			}
			if err != nil {
				return nil, err
			}
			out = append(out, inst)
		}
		return out, nil
	})
}

func describe(dom *libvirt.Domain) (driver.Instance, error) {
	name, err := dom.GetName()
	if err != nil {
		return driver.Instance{}, err
	}
	uuid, err := dom.GetUUIDString()
	if err != nil {
		return driver.Instance{}, err
	}
	s, _, err := dom.GetState()
	if err != nil {
		return driver.Instance{}, err
	}
	def, err := definition(dom, false)
	if err != nil {
		return driver.Instance{}, err
	}
	inst := driver.Instance{Name: name, UUID: uuid, State: stateOf(s), NIC: nicFromMetadata(def), Owner: ownerFromMetadata(def)}
	for _, disk := range def.Devices.Disks {
		if v, ok := nbdDiskFromXML(disk); ok {
			inst.Volumes = append(inst.Volumes, v)
		}
	}
	return inst, nil
}

// definition parses the domain's XML: the persistent definition if inactive is set, else the
// current one (the live one while it runs). Devices is never nil.
func definition(dom *libvirt.Domain, inactive bool) (*libvirtxml.Domain, error) {
	var flags libvirt.DomainXMLFlags
	if inactive {
		flags = libvirt.DOMAIN_XML_INACTIVE
	}
	x, err := dom.GetXMLDesc(flags)
	if err != nil {
		return nil, err
	}
	var def libvirtxml.Domain
	if err := def.Unmarshal(x); err != nil {
		return nil, fmt.Errorf("parse domain xml: %w", err)
	}
	if def.Devices == nil {
		def.Devices = &libvirtxml.DomainDeviceList{}
	}
	return &def, nil
}

// withDomain looks name up and runs fn on it, all in one bounded call, mapping libvirt's
// "no domain" to driver.ErrNotFound.
func (d *Driver) withDomain(ctx context.Context, op, name string, fn func(*libvirt.Domain) error) error {
	return call0(ctx, d, op, func() error {
		dom, err := d.c().LookupDomainByName(name)
		if isNoDomain(err) {
			return fmt.Errorf("%s %s: %w", op, name, driver.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", op, name, err)
		}
		defer dom.Free()
		if err := fn(dom); err != nil {
			if isNoDomain(err) {
				return fmt.Errorf("%s %s: %w", op, name, driver.ErrNotFound)
			}
			return fmt.Errorf("%s %s: %w", op, name, err)
		}
		return nil
	})
}

func stateOf(s libvirt.DomainState) driver.State {
	switch s {
	case libvirt.DOMAIN_RUNNING:
		return driver.StateRunning
	case libvirt.DOMAIN_BLOCKED:
		return driver.StateBlocked
	case libvirt.DOMAIN_PAUSED:
		return driver.StatePaused
	case libvirt.DOMAIN_SHUTDOWN:
		return driver.StateShuttingDown
	case libvirt.DOMAIN_SHUTOFF:
		return driver.StateShutoff
	case libvirt.DOMAIN_CRASHED:
		return driver.StateCrashed
	case libvirt.DOMAIN_PMSUSPENDED:
		return driver.StateSuspended
	default:
		return driver.StateUnknown
	}
}

func isNoDomain(err error) bool {
	var le libvirt.Error
	return errors.As(err, &le) && le.Code == libvirt.ERR_NO_DOMAIN
}

func isNotRunning(err error) bool {
	var le libvirt.Error
	return errors.As(err, &le) && le.Code == libvirt.ERR_OPERATION_INVALID
}

func isUnsupported(err error) bool {
	var le libvirt.Error
	return errors.As(err, &le) && (le.Code == libvirt.ERR_NO_SUPPORT || le.Code == libvirt.ERR_INVALID_ARG)
}
