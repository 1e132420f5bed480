package testguest

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// buildGuest downloads the packages named by versions ("pkg=version") into work, and writes
// the kernel and initrd.img into out.
func buildGuest(ctx context.Context, work, out string, versions []string) error {
	debs := filepath.Join(work, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return err
	}
	// apt-get download drops privileges to _apt where it can, which needs a directory _apt
	// may write; the download itself is all this needs.
	if err := os.Chmod(debs, 0o777); err != nil {
		return err
	}
	if _, err := run(ctx, debs, "apt-get", "download", "-q", versions[0], versions[1]); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	kernelTree := filepath.Join(work, "kernel")
	busyboxTree := filepath.Join(work, "busybox")
	for pkg, tree := range map[string]string{versions[0]: kernelTree, versions[1]: busyboxTree} {
		name := strings.SplitN(pkg, "=", 2)[0]
		matches, _ := filepath.Glob(filepath.Join(debs, name+"_*.deb"))
		if len(matches) != 1 {
			return fmt.Errorf("downloaded %s: found %d .deb files", name, len(matches))
		}
		if _, err := run(ctx, "", "dpkg-deb", "-x", matches[0], tree); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := writeKernel(kernelTree, out); err != nil {
		return err
	}
	entries, err := initramfsEntries(kernelTree, busyboxTree)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := writeCPIO(&buf, entries); err != nil {
		return err
	}
	return writeFileSync(filepath.Join(out, "initrd.img"), buf.Bytes(), 0o644)
}

func writeKernel(kernelTree, out string) error {
	matches, _ := filepath.Glob(filepath.Join(kernelTree, "boot", "vmlinuz-*"))
	if len(matches) != 1 {
		return fmt.Errorf("kernel package: found %d vmlinuz files", len(matches))
	}
	bz, err := os.ReadFile(matches[0])
	if err != nil {
		return err
	}
	vmlinux, err := extractVmlinux(bz)
	switch {
	case err == nil:
		return writeFileSync(filepath.Join(out, "vmlinux"), vmlinux, 0o644)
	case errors.Is(err, errNoVmlinux):
		return writeFileSync(filepath.Join(out, "vmlinuz"), bz, 0o644)
	default:
		return err
	}
}

func initramfsEntries(kernelTree, busyboxTree string) ([]cpioEntry, error) {
	busybox, err := os.ReadFile(filepath.Join(busyboxTree, "bin", "busybox"))
	if err != nil {
		return nil, fmt.Errorf("busybox-static package: %w", err)
	}
	if err := checkStatic(busybox); err != nil {
		return nil, err
	}
	modRoots, _ := filepath.Glob(filepath.Join(kernelTree, "lib", "modules", "*"))
	if len(modRoots) != 1 {
		return nil, fmt.Errorf("kernel package: found %d module trees", len(modRoots))
	}
	set, err := scanModules(modRoots[0])
	if err != nil {
		return nil, err
	}
	order, err := set.loadOrder(guestModules)
	if err != nil {
		return nil, err
	}
	entries := []cpioEntry{
		{Name: "bin", Mode: modeDir | 0o755},
		{Name: "dev", Mode: modeDir | 0o755},
		// The kernel opens /dev/console for init's standard streams before init can mount
		// devtmpfs, so the node must be in the archive.
		{Name: "dev/console", Mode: modeCharDev | 0o600, RdevMajor: 5, RdevMinor: 1},
		{Name: "proc", Mode: modeDir | 0o755},
		{Name: "sys", Mode: modeDir | 0o755},
		{Name: "tmp", Mode: modeDir | 0o1777},
		{Name: "lib", Mode: modeDir | 0o755},
		{Name: "lib/modules", Mode: modeDir | 0o755},
		{Name: "bin/busybox", Mode: modeRegular | 0o755, Data: busybox},
		{Name: "bin/sh", Mode: modeSymlink | 0o777, Data: []byte("busybox")},
		{Name: "init", Mode: modeRegular | 0o755, Data: initScript},
		{Name: "bin/dhcp-event", Mode: modeRegular | 0o755, Data: dhcpEventScript},
		{Name: "bin/ssh-banner", Mode: modeRegular | 0o755, Data: []byte("#!/bin/sh\necho " + SSHBanner + "\n")},
	}
	var names []string
	for _, path := range order {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		base := filepath.Base(path)
		names = append(names, base)
		entries = append(entries, cpioEntry{Name: "lib/modules/" + base, Mode: modeRegular | 0o644, Data: data})
	}
	entries = append(entries, cpioEntry{
		Name: "lib/modules/load.order", Mode: modeRegular | 0o644,
		Data: []byte(strings.Join(names, "\n") + "\n"),
	})
	return entries, nil
}

// checkStatic refuses a busybox that needs a dynamic loader: the initramfs has no libc.
func checkStatic(bin []byte) error {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("busybox: %w", err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("busybox is dynamically linked")
		}
	}
	return nil
}

func writeFileSync(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
