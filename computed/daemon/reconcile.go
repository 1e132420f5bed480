package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"stratus/computed/driver"
	"stratus/meta/client"
)

// reconcileDomains compares the hypervisor's domains with the catalog after a start. A
// domain this daemon defined (its owner is Config.DomainOwner) whose record is missing,
// terminated or placed on another host is an orphan: it is destroyed and undefined, and its
// files removed. Other domains — another daemon's on a shared libvirtd, anything not
// Stratus's — are left alone. Records are never changed here: the
// workers take every live instance placed here up from the state its domain is in (a
// running record whose domain is gone is defined and started again, on its kept root disk;
// one whose domain is shut off is recorded stopped, as a guest shutdown).
func (d *Daemon) reconcileDomains(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, d.cfg.CallTimeout)
	defer cancel()
	doms, err := d.drv.List(cctx)
	if err != nil {
		return err
	}
	ins, err := d.mc.Instances(cctx)
	if err != nil {
		return err
	}
	live := map[string]client.Instance{}
	for _, in := range ins {
		if in.Host == d.cfg.Host && in.State != client.InstanceTerminated {
			live[in.ID] = in
		}
	}
	for _, dom := range doms {
		if dom.Owner != d.cfg.DomainOwner() || !client.ValidInstanceID(dom.Name) {
			continue
		}
		if _, ok := live[dom.Name]; !ok {
			d.log.Warn("orphan domain removed", "domain", dom.Name, "state", dom.State)
			if err := d.drv.Destroy(cctx, dom.Name); err != nil && !errors.Is(err, driver.ErrNotFound) {
				return err
			}
			if err := d.drv.Undefine(cctx, dom.Name); err != nil && !errors.Is(err, driver.ErrNotFound) {
				return err
			}
			continue
		}
		if dom.NIC != nil && dom.NIC.SSHHostPort != 0 {
			d.mu.Lock()
			d.ports[dom.NIC.SSHHostPort] = dom.Name
			d.mu.Unlock()
		}
	}
	// Files of instances with no live record here (a crash between teardown steps).
	ents, err := os.ReadDir(d.instancesDir())
	if err != nil {
		return err
	}
	for _, e := range ents {
		if _, ok := live[e.Name()]; !ok && client.ValidInstanceID(e.Name()) {
			d.log.Warn("orphan instance files removed", "instance", e.Name())
			os.RemoveAll(filepath.Join(d.instancesDir(), e.Name()))
		}
	}
	for _, in := range live {
		if in.Network.SSHForwardPort != 0 {
			d.mu.Lock()
			if _, taken := d.ports[in.Network.SSHForwardPort]; !taken {
				d.ports[in.Network.SSHForwardPort] = in.ID
			}
			d.mu.Unlock()
		}
	}
	return nil
}
