package testguest

import (
	"os"
	"testing"
)

// TestBuild builds (or finds cached) the guest and checks what the boot tests rely on: an
// ELF kernel with a PVH entry and an initramfs holding init, busybox and the virtio modules.
func TestBuild(t *testing.T) {
	g := BuildGuest(t)
	if !g.KernelIsELF {
		t.Logf("kernel is a bzImage (%s): its compression is not one extractVmlinux undoes", g.Kernel)
	} else {
		img, err := os.ReadFile(g.Kernel)
		if err != nil {
			t.Fatal(err)
		}
		if !hasPVHNote(img) {
			t.Fatalf("%s has no PVH note", g.Kernel)
		}
	}
	initrd, err := os.ReadFile(g.Initrd)
	if err != nil {
		t.Fatal(err)
	}
	names := cpioNames(t, initrd)
	for _, want := range []string{"init", "bin/busybox", "dev/console", "lib/modules/virtio_blk.ko", "lib/modules/virtio_pci.ko", "lib/modules/isofs.ko", "lib/modules/load.order"} {
		if !names[want] {
			t.Errorf("initramfs lacks %s", want)
		}
	}
}
