package driver

import (
	"errors"
	"strings"
	"testing"
)

func validSpec() Spec {
	return Spec{
		Name: "i-0123", VCPUs: 1, MemoryMiB: 128, Type: DomainQEMU,
		Kernel: "/k", Initrd: "/i", Cmdline: "console=ttyS0", ConsoleLog: "/c.log",
		NIC:     &NIC{SSHHostPort: 2222},
		Volumes: []NBDDisk{{Target: "vdb", Serial: "vol-1", Host: "127.0.0.1", Port: 10809}},
	}
}

func TestSpecValidate(t *testing.T) {
	if err := validSpec().Validate(); err != nil {
		t.Fatalf("valid spec refused: %v", err)
	}
	cases := map[string]func(*Spec){
		"empty name":          func(s *Spec) { s.Name = "" },
		"name with slash":     func(s *Spec) { s.Name = "a/b" },
		"bad uuid":            func(s *Spec) { s.UUID = "nope" },
		"no vcpus":            func(s *Spec) { s.VCPUs = 0 },
		"tiny memory":         func(s *Spec) { s.MemoryMiB = 1 },
		"guessed type":        func(s *Spec) { s.Type = "" },
		"nothing to boot":     func(s *Spec) { s.Kernel, s.Initrd, s.Cmdline = "", "", "" },
		"initrd no kernel":    func(s *Spec) { s.Kernel, s.RootDisk = "", "/r.qcow2" },
		"no console":          func(s *Spec) { s.ConsoleLog = "" },
		"relative kernel":     func(s *Spec) { s.Kernel = "vmlinux" },
		"usernet no port":     func(s *Spec) { s.NIC.SSHHostPort = 0 },
		"mac injection":       func(s *Spec) { s.NIC.MAC = "52:54:00:00:00:01,hostfwd=tcp::1-:1" },
		"target taken twice":  func(s *Spec) { s.Volumes = append(s.Volumes, s.Volumes[0]) },
		"volume at vda":       func(s *Spec) { s.RootDisk = "/r.qcow2"; s.Volumes[0].Target = "vda" },
		"bad target":          func(s *Spec) { s.Volumes[0].Target = "sda" },
		"long serial":         func(s *Spec) { s.Volumes[0].Serial = strings.Repeat("v", 21) },
		"socket and host":     func(s *Spec) { s.Volumes[0].Socket = "/s" },
		"no endpoint":         func(s *Spec) { s.Volumes[0].Host, s.Volumes[0].Port = "", 0 },
		"control in export":   func(s *Spec) { s.Volumes[0].Export = "a\nb" },
		"relative nbd socket": func(s *Spec) { s.Volumes[0].Host, s.Volumes[0].Port, s.Volumes[0].Socket = "", 0, "s.sock" },
	}
	for name, mutate := range cases {
		s := validSpec()
		s.NIC = &NIC{SSHHostPort: 2222}
		s.Volumes = append([]NBDDisk(nil), s.Volumes...)
		mutate(&s)
		if err := s.Validate(); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("%s: got %v, want ErrInvalidSpec", name, err)
		}
	}
}
