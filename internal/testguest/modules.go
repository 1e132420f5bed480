package testguest

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// guestModules are the drivers the test guest loads; their dependencies come along. The
// Debian cloud kernel builds all of them as modules.
var guestModules = []string{
	"virtio_pci", // virtio devices on the PCI bus
	"virtio_blk", // root disk and volumes (vdX)
	"virtio_net", // the instance's NIC
	"ata_piix",   // IDE controller the config drive CD-ROM hangs off
	"sr_mod",     // SCSI CD-ROM (sr0)
	"isofs",      // ISO 9660, the config drive's filesystem
	"button",     // ACPI power button, which Stop presses
	"evdev",      // its events reach acpid through /dev/input/event*
}

// moduleSet maps module names (with '-' written '_', as the kernel does) to their files
// under a kernel's lib/modules/<version> tree.
type moduleSet map[string]string

func scanModules(root string) (moduleSet, error) {
	set := moduleSet{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".ko") {
			name := strings.ReplaceAll(strings.TrimSuffix(d.Name(), ".ko"), "-", "_")
			set[name] = path
		}
		return nil
	})
	return set, err
}

// loadOrder returns the files of wanted and everything they depend on, each after its
// dependencies, as insmod needs them (it does not resolve dependencies itself).
func (s moduleSet) loadOrder(wanted []string) ([]string, error) {
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string, from string) error
	visit = func(name, from string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("module dependency cycle at %s", name)
		case 2:
			return nil
		}
		path, ok := s[name]
		if !ok {
			return fmt.Errorf("module %s (needed by %s) not in the kernel package", name, from)
		}
		state[name] = 1
		deps, err := moduleDepends(path)
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := visit(d, name); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, path)
		return nil
	}
	for _, w := range wanted {
		if err := visit(w, "the test guest"); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// moduleDepends reads the "depends=" entry of a module's .modinfo section, the list depmod
// itself uses.
func moduleDepends(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", path, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("module %s: no .modinfo section", path)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", path, err)
	}
	for _, kv := range bytes.Split(data, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			if len(v) == 0 {
				return nil, nil
			}
			return strings.Split(strings.ReplaceAll(string(v), "-", "_"), ","), nil
		}
	}
	return nil, nil
}
