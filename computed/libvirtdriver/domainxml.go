package libvirtdriver

import (
	"fmt"
	"strconv"

	"libvirt.org/go/libvirtxml"

	"stratus/computed/driver"
)

// domainXML turns a validated spec into the libvirt domain definition.
func domainXML(cfg Config, s driver.Spec) (string, error) {
	port0 := uint(0)
	dom := &libvirtxml.Domain{
		Type:   string(s.Type),
		Name:   s.Name,
		UUID:   s.UUID,
		Memory: &libvirtxml.DomainMemory{Value: uint(s.MemoryMiB), Unit: "MiB"},
		VCPU:   &libvirtxml.DomainVCPU{Value: uint(s.VCPUs)},
		OS: &libvirtxml.DomainOS{
			Type:    &libvirtxml.DomainOSType{Arch: "x86_64", Machine: cfg.Machine, Type: "hvm"},
			Kernel:  s.Kernel,
			Initrd:  s.Initrd,
			Cmdline: s.Cmdline,
		},
		// Without ACPI the guest's power-off request and the host's power-button press
		// (Stop) both go nowhere.
		Features:   &libvirtxml.DomainFeatureList{ACPI: &libvirtxml.DomainFeature{}, APIC: &libvirtxml.DomainFeatureAPIC{}},
		Clock:      &libvirtxml.DomainClock{Offset: "utc"},
		OnPoweroff: "destroy",
		OnReboot:   "restart",
		OnCrash:    "destroy",
		Devices: &libvirtxml.DomainDeviceList{
			Emulator: cfg.Emulator,
			Serials: []libvirtxml.DomainSerial{{
				Source: &libvirtxml.DomainChardevSource{File: &libvirtxml.DomainChardevSourceFile{Path: s.ConsoleLog, Append: "on"}},
				Target: &libvirtxml.DomainSerialTarget{Port: &port0},
			}},
			// libvirt adds a USB controller and a balloon unless told not to; nothing uses
			// them and under TCG every device costs boot time.
			Controllers: []libvirtxml.DomainController{{Type: "usb", Model: "none"}},
			MemBalloon:  &libvirtxml.DomainMemBalloon{Model: "none"},
		},
	}
	meta, err := metadataFor(s)
	if err != nil {
		return "", err
	}
	dom.Metadata = meta
	if s.Type == driver.DomainKVM {
		dom.CPU = &libvirtxml.DomainCPU{Mode: "host-passthrough"}
	}
	if s.Kernel == "" {
		dom.OS.BootDevices = []libvirtxml.DomainBootDevice{{Dev: "hd"}}
	}
	if s.RootDisk != "" {
		dom.Devices.Disks = append(dom.Devices.Disks, libvirtxml.DomainDisk{
			Device: "disk",
			Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "qcow2", Discard: "unmap"},
			Source: &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: s.RootDisk}},
			Target: &libvirtxml.DomainDiskTarget{Dev: "vda", Bus: "virtio"},
		})
	}
	if s.ConfigDrive != "" {
		dom.Devices.Disks = append(dom.Devices.Disks, libvirtxml.DomainDisk{
			Device:   "cdrom",
			Driver:   &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"},
			Source:   &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: s.ConfigDrive}},
			Target:   &libvirtxml.DomainDiskTarget{Dev: "hdc", Bus: "ide"},
			ReadOnly: &libvirtxml.DomainDiskReadOnly{},
		})
	}
	for _, v := range s.Volumes {
		dom.Devices.Disks = append(dom.Devices.Disks, nbdDiskXML(v))
	}
	if s.NIC != nil {
		if err := addNIC(dom, *s.NIC); err != nil {
			return "", err
		}
	}
	return dom.Marshal()
}

func nbdDiskXML(v driver.NBDDisk) libvirtxml.DomainDisk {
	host := libvirtxml.DomainDiskSourceHost{Name: v.Host, Port: strconv.Itoa(v.Port)}
	if v.Socket != "" {
		host = libvirtxml.DomainDiskSourceHost{Transport: "unix", Socket: v.Socket}
	}
	d := libvirtxml.DomainDisk{
		Device: "disk",
		// cache=none: the volume's own server is the cache; a flush from the guest goes
		// straight to it.
		Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw", Cache: "none", Discard: "unmap"},
		Source: &libvirtxml.DomainDiskSource{Network: &libvirtxml.DomainDiskSourceNetwork{
			Protocol: "nbd",
			Name:     v.Export,
			Hosts:    []libvirtxml.DomainDiskSourceHost{host},
			// No <reconnect delay>: libvirt 9.0's schema does not take it for NBD.
		}},
		Target: &libvirtxml.DomainDiskTarget{Dev: v.Target, Bus: "virtio"},
		Serial: v.Serial,
	}
	if v.ReadOnly {
		d.ReadOnly = &libvirtxml.DomainDiskReadOnly{}
	}
	return d
}

// nbdDiskFromXML reads back an NBD disk of a domain definition; ok is false for any other
// disk.
func nbdDiskFromXML(d libvirtxml.DomainDisk) (v driver.NBDDisk, ok bool) {
	if d.Source == nil || d.Source.Network == nil || d.Source.Network.Protocol != "nbd" || d.Target == nil {
		return driver.NBDDisk{}, false
	}
	v = driver.NBDDisk{Target: d.Target.Dev, Serial: d.Serial, Export: d.Source.Network.Name, ReadOnly: d.ReadOnly != nil}
	if len(d.Source.Network.Hosts) > 0 {
		h := d.Source.Network.Hosts[0]
		if h.Transport == "unix" {
			v.Socket = h.Socket
		} else {
			v.Host = h.Name
			v.Port, _ = strconv.Atoi(h.Port)
		}
	}
	return v, true
}

func addNIC(dom *libvirtxml.Domain, n driver.NIC) error {
	var mac *libvirtxml.DomainInterfaceMAC
	if n.MAC != "" {
		mac = &libvirtxml.DomainInterfaceMAC{Address: n.MAC}
	}
	if n.Network != "" {
		dom.Devices.Interfaces = append(dom.Devices.Interfaces, libvirtxml.DomainInterface{
			MAC:    mac,
			Source: &libvirtxml.DomainInterfaceSource{Network: &libvirtxml.DomainInterfaceSourceNetwork{Network: n.Network}},
			Model:  &libvirtxml.DomainInterfaceModel{Type: "virtio"},
		})
		return nil
	}
	// User networking with a forwarded port: libvirt 9.0 forwards ports only for the passt
	// backend, so the slirp netdev is passed to QEMU directly. The guest sees 10.0.2.15.
	// libvirt does not know of this device, so it gets a PCI slot libvirt fills last
	// (libvirt numbers its own devices, hotplugged volumes included, upward from slot 2).
	netdev := fmt.Sprintf("user,id=usernet0,net=10.0.2.0/24,hostfwd=tcp:127.0.0.1:%d-:22", n.SSHHostPort)
	device := "virtio-net-pci,netdev=usernet0,addr=" + userNICSlot
	if n.MAC != "" {
		device += ",mac=" + n.MAC
	}
	dom.QEMUCommandline = &libvirtxml.DomainQEMUCommandline{Args: []libvirtxml.DomainQEMUCommandlineArg{
		{Value: "-netdev"}, {Value: netdev}, {Value: "-device"}, {Value: device},
	}}
	return nil
}

// userNICSlot is the PCI slot of the user-mode NIC.
const userNICSlot = "0x1e"

// UserNetGuestAddress is the address QEMU user networking gives the guest.
const UserNetGuestAddress = "10.0.2.15"
