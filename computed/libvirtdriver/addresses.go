package libvirtdriver

import (
	"context"
	"net/netip"

	"libvirt.org/go/libvirt"
)

// Addresses implements driver.Driver.
func (d *Driver) Addresses(ctx context.Context, name string) ([]netip.Addr, error) {
	var out []netip.Addr
	err := d.withDomain(ctx, "addresses of", name, func(dom *libvirt.Domain) error {
		active, err := dom.IsActive()
		if err != nil || !active {
			return err
		}
		def, err := definition(dom, false)
		if err != nil {
			return err
		}
		nic := nicFromMetadata(def)
		if nic == nil {
			return nil
		}
		if nic.Network == "" {
			out = append(out, netip.MustParseAddr(UserNetGuestAddress))
			return nil
		}
		ifaces, err := dom.ListAllInterfaceAddresses(libvirt.DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE)
		if err != nil {
			return err
		}
		for _, iface := range ifaces {
			for _, a := range iface.Addrs {
				if ip, err := netip.ParseAddr(a.Addr); err == nil {
					out = append(out, ip)
				}
			}
		}
		return nil
	})
	return out, err
}
