package libvirtdriver

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"libvirt.org/go/libvirtxml"

	"stratus/computed/driver"
)

var update = flag.Bool("update", false, "rewrite the golden domain XML files in testdata")

func goldenSpecs() map[string]driver.Spec {
	kernel := kernelSpec("i-0123456789abcdef0")
	kernel.UUID = "6b1f3f4e-2a4c-4d0e-9a1b-0c2d3e4f5a6b"
	kernel.ConfigDrive = "/var/lib/stratus/instances/i-0123456789abcdef0/cidata.iso"
	kernel.Volumes = []driver.NBDDisk{
		{Target: "vdb", Serial: "vol-0a1b2c3d4e5f", Host: "127.0.0.1", Port: 10809, Export: "vol-0a1b2c3d4e5f"},
		{Target: "vdc", Serial: "vol-ro", Socket: "/run/stratus/nbd.sock", Export: "vol-ro", ReadOnly: true},
	}
	kernel.NIC = &driver.NIC{Network: "default", MAC: "52:54:00:12:34:56"}

	disk := driver.Spec{
		Name: "i-disk", VCPUs: 2, MemoryMiB: 1024, Type: driver.DomainKVM,
		RootDisk:   "/var/lib/stratus/instances/i-disk/root.qcow2",
		ConsoleLog: "/var/lib/stratus/instances/i-disk/console.log",
		NIC:        &driver.NIC{SSHHostPort: 2222},
	}
	return map[string]driver.Spec{"kernel-boot": kernel, "disk-boot-usernet": disk}
}

func TestDomainXMLGolden(t *testing.T) {
	for name, spec := range goldenSpecs() {
		t.Run(name, func(t *testing.T) {
			if err := spec.Validate(); err != nil {
				t.Fatal(err)
			}
			got, err := domainXML(Config{Machine: "pc"}, spec)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".xml")
			if *update {
				if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got+"\n" != string(want) {
				t.Fatalf("domain XML differs from %s (run with -update after checking):\n%s", path, got)
			}
		})
	}
}

// TestDomainXMLChoices checks, on the parsed XML, the choices the boot path depends on.
func TestDomainXMLChoices(t *testing.T) {
	specs := goldenSpecs()
	parse := func(s driver.Spec) *libvirtxml.Domain {
		x, err := domainXML(Config{Machine: "pc"}, s)
		if err != nil {
			t.Fatal(err)
		}
		var dom libvirtxml.Domain
		if err := dom.Unmarshal(x); err != nil {
			t.Fatal(err)
		}
		return &dom
	}
	k := parse(specs["kernel-boot"])
	if k.Features == nil || k.Features.ACPI == nil {
		t.Error("no <acpi/>: the guest could not power off")
	}
	if k.Type != "qemu" {
		t.Errorf("domain type %q, want qemu from the spec", k.Type)
	}
	if got := parse(specs["disk-boot-usernet"]).Type; got != "kvm" {
		t.Errorf("domain type %q, want kvm from the spec", got)
	}
	if len(k.Devices.Serials) != 1 || k.Devices.Serials[0].Source.File == nil ||
		k.Devices.Serials[0].Source.File.Path != specs["kernel-boot"].ConsoleLog {
		t.Errorf("serial console is not the console log file: %+v", k.Devices.Serials)
	}
	var nbd []libvirtxml.DomainDisk
	for _, d := range k.Devices.Disks {
		if d.Source.Network != nil {
			nbd = append(nbd, d)
		}
	}
	if len(nbd) != 2 {
		t.Fatalf("%d network disks, want 2", len(nbd))
	}
	n := nbd[0].Source.Network
	if n.Protocol != "nbd" || n.Name != "vol-0a1b2c3d4e5f" || len(n.Hosts) != 1 ||
		n.Hosts[0].Name != "127.0.0.1" || n.Hosts[0].Port != "10809" || nbd[0].Target.Dev != "vdb" ||
		nbd[0].Serial != "vol-0a1b2c3d4e5f" {
		t.Errorf("tcp nbd disk: %+v %+v", n, nbd[0].Target)
	}
	u := nbd[1].Source.Network
	if u.Protocol != "nbd" || len(u.Hosts) != 1 || u.Hosts[0].Transport != "unix" ||
		u.Hosts[0].Socket != "/run/stratus/nbd.sock" || nbd[1].ReadOnly == nil {
		t.Errorf("unix nbd disk: %+v", u)
	}
	for _, v := range specs["kernel-boot"].Volumes {
		var found bool
		for _, d := range nbd {
			if back, ok := nbdDiskFromXML(d); ok && back == v {
				found = true
			}
		}
		if !found {
			t.Errorf("volume %+v does not read back from its XML", v)
		}
	}
}
