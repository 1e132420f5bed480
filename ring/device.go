package ring

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// DeviceID names a device within one ring. IDs are small integers; the builder reuses the
// lowest free one, so they stay dense.
type DeviceID uint32

// MaxDevices bounds the number of devices in a ring: assignments are stored as 16-bit
// device indexes, with one value kept to mean "unassigned".
const MaxDevices = 1<<16 - 1

// Device is one disk of one storage node and where it sits among the failure domains.
type Device struct {
	ID     DeviceID
	Region int
	Zone   int
	// Host is the storage node's "ip:port". The host failure domain is the IP alone, so
	// two daemons on one machine never hold two replicas of a partition that could be
	// spread further.
	Host string
	// Name is the device's directory name on its node, e.g. "sdb1".
	Name string
	// Weight is the device's share of the data, relative to the others; usually its size
	// in GiB. Zero drains the device.
	Weight float64
	// Meta is free-form text for operators.
	Meta string
}

// IP returns the host part of Host: the host failure domain.
func (d *Device) IP() string {
	if h, _, err := net.SplitHostPort(d.Host); err == nil {
		return h
	}
	return d.Host
}

// String renders the device in the same form ParseDevice reads (without the weight).
func (d *Device) String() string {
	s := fmt.Sprintf("r%dz%d-%s/%s", d.Region, d.Zone, d.Host, d.Name)
	if d.Meta != "" {
		s += "_" + d.Meta
	}
	return s
}

// validate reports what is wrong with a device description, if anything.
func (d *Device) validate() error {
	switch {
	case d.Region < 0 || d.Zone < 0:
		return fmt.Errorf("%w: region and zone must not be negative", ErrInvalid)
	case !(d.Weight >= 0) || d.Weight > 1e12: // also catches NaN
		return fmt.Errorf("%w: weight %v must be between 0 and 1e12", ErrInvalid, d.Weight)
	case d.Name == "" || strings.ContainsAny(d.Name, "/\x00") || d.Name == "." || d.Name == "..":
		return fmt.Errorf("%w: device name %q must be a plain directory name", ErrInvalid, d.Name)
	case len(d.Name) > 255 || len(d.Meta) > 1024:
		return fmt.Errorf("%w: device name or meta too long", ErrInvalid)
	}
	host, port, err := net.SplitHostPort(d.Host)
	if err != nil {
		return fmt.Errorf("%w: host %q must be ip:port", ErrInvalid, d.Host)
	}
	if net.ParseIP(host) == nil {
		return fmt.Errorf("%w: host %q is not an IP address", ErrInvalid, host)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%w: port %q out of range", ErrInvalid, port)
	}
	return nil
}

// ParseDevice reads a device in swift-ring-builder's form, "r1z2-10.0.0.1:6200/sdb1", with
// an optional "_meta" after the device name. IPv6 hosts go in brackets:
// "r1z1-[::1]:6200/sdb1". The weight is given separately.
func ParseDevice(s string) (Device, error) {
	bad := func(why string) (Device, error) {
		return Device{}, fmt.Errorf("%w: device %q: %s (want r<region>z<zone>-<ip>:<port>/<device>)", ErrInvalid, s, why)
	}
	rest, ok := strings.CutPrefix(s, "r")
	if !ok {
		return bad("missing r<region>")
	}
	i := strings.IndexByte(rest, 'z')
	if i < 0 {
		return bad("missing z<zone>")
	}
	region, err := strconv.Atoi(rest[:i])
	if err != nil {
		return bad("region is not a number")
	}
	rest = rest[i+1:]
	i = strings.IndexByte(rest, '-')
	if i < 0 {
		return bad("missing - after the zone")
	}
	zone, err := strconv.Atoi(rest[:i])
	if err != nil {
		return bad("zone is not a number")
	}
	rest = rest[i+1:]
	i = strings.IndexByte(rest, '/')
	if i < 0 {
		return bad("missing /<device>")
	}
	d := Device{Region: region, Zone: zone, Host: rest[:i], Name: rest[i+1:]}
	if name, meta, ok := strings.Cut(d.Name, "_"); ok {
		d.Name, d.Meta = name, meta
	}
	if err := d.validate(); err != nil {
		return Device{}, fmt.Errorf("device %q: %w", s, err)
	}
	return d, nil
}
