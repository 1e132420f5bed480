package libvirtdriver

import (
	"context"
	"fmt"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	"stratus/computed/driver"
)

// AttachNBD implements driver.Driver. A running instance gets the disk live and in its
// persistent definition; a stopped one is redefined with it (which also works on
// hypervisors, like libvirt's test driver, that cannot change devices in place).
func (d *Driver) AttachNBD(ctx context.Context, name string, disk driver.NBDDisk) error {
	if err := disk.Validate(); err != nil {
		return err
	}
	dx := nbdDiskXML(disk)
	diskXML, err := dx.Marshal()
	if err != nil {
		return err
	}
	return d.withDomain(ctx, "attach "+disk.Target+" to", name, func(dom *libvirt.Domain) error {
		active, err := dom.IsActive()
		if err != nil {
			return err
		}
		def, err := definition(dom, !active)
		if err != nil {
			return err
		}
		if findDisk(def, disk.Target) >= 0 {
			return driver.ErrTargetInUse
		}
		if !active {
			def.Devices.Disks = append(def.Devices.Disks, dx)
			return d.redefine(def)
		}
		flags := libvirt.DOMAIN_DEVICE_MODIFY_LIVE
		if persistent, err := dom.IsPersistent(); err != nil {
			return err
		} else if persistent {
			flags |= libvirt.DOMAIN_DEVICE_MODIFY_CONFIG
		}
		return dom.AttachDeviceFlags(diskXML, flags)
	})
}

// DetachNBD implements driver.Driver. A live detach is a request to the guest, which
// releases the disk in its own time; libvirt may return before it has, so this waits
// (bounded by ctx) until the disk is gone from the live definition.
func (d *Driver) DetachNBD(ctx context.Context, name string, target string) error {
	var live bool
	err := d.withDomain(ctx, "detach "+target+" from", name, func(dom *libvirt.Domain) error {
		active, err := dom.IsActive()
		if err != nil {
			return err
		}
		def, err := definition(dom, !active)
		if err != nil {
			return err
		}
		i := findDisk(def, target)
		if i < 0 {
			return driver.ErrNotAttached
		}
		if _, ok := nbdDiskFromXML(def.Devices.Disks[i]); !ok {
			return fmt.Errorf("%s is not an NBD disk: %w", target, driver.ErrNotAttached)
		}
		if !active {
			def.Devices.Disks = append(def.Devices.Disks[:i], def.Devices.Disks[i+1:]...)
			return d.redefine(def)
		}
		diskXML, err := def.Devices.Disks[i].Marshal()
		if err != nil {
			return err
		}
		flags := libvirt.DOMAIN_DEVICE_MODIFY_LIVE
		if persistent, err := dom.IsPersistent(); err != nil {
			return err
		} else if persistent {
			flags |= libvirt.DOMAIN_DEVICE_MODIFY_CONFIG
		}
		live = true
		return dom.DetachDeviceFlags(diskXML, flags)
	})
	if err != nil || !live {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.cfg.CallTimeout)
		defer cancel()
	}
	for {
		attached, err := d.hasDisk(ctx, name, target)
		if err != nil || !attached {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("detach %s from %s: guest has not released it: %w", target, name, ctx.Err())
		case <-time.After(d.cfg.StopPoll):
		}
	}
}

func (d *Driver) hasDisk(ctx context.Context, name, target string) (bool, error) {
	var found bool
	err := d.withDomain(ctx, "inspect", name, func(dom *libvirt.Domain) error {
		def, err := definition(dom, false)
		found = err == nil && findDisk(def, target) >= 0
		return err
	})
	return found, err
}

// redefine replaces a stopped domain's persistent definition.
func (d *Driver) redefine(def *libvirtxml.Domain) error {
	x, err := def.Marshal()
	if err != nil {
		return err
	}
	dom, err := d.c().DomainDefineXMLFlags(x, libvirt.DOMAIN_DEFINE_VALIDATE)
	if err != nil {
		return err
	}
	return dom.Free()
}

// findDisk returns the index of the disk at target in def, or -1.
func findDisk(def *libvirtxml.Domain, target string) int {
	if def.Devices == nil {
		return -1
	}
	for i, disk := range def.Devices.Disks {
		if disk.Target != nil && disk.Target.Dev == target {
			return i
		}
	}
	return -1
}
