package image

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestCreateOverlayReadsBase(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img not installed (apt-get install qemu-utils)")
	}
	dir := t.TempDir()
	base := filepath.Join(dir, "base.raw")
	content := bytes.Repeat([]byte("B"), 1<<20)
	if err := os.WriteFile(base, content, 0o644); err != nil {
		t.Fatal(err)
	}
	o := Overlay{Path: filepath.Join(dir, "root.qcow2"), Base: base, BaseFormat: FormatRaw, SizeBytes: 2 << 20}
	if err := CreateOverlay(ctxT(t), o); err != nil {
		t.Fatal(err)
	}
	info, err := ReadInfo(ctxT(t), o.Path, FormatQCOW2)
	if err != nil {
		t.Fatal(err)
	}
	if info.Format != "qcow2" || info.BackingFile != base || info.BackingFileFormat != "raw" || info.VirtualSize != 2<<20 {
		t.Fatalf("overlay info %+v", info)
	}
	// Reading the overlay reads the base where it has no blocks of its own.
	flat := filepath.Join(dir, "flat.raw")
	if out, err := exec.Command("qemu-img", "convert", "-f", "qcow2", "-O", "raw", o.Path, flat).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v: %s", err, out)
	}
	got, err := os.ReadFile(flat)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:len(content)], content) || !bytes.Equal(got[len(content):], make([]byte, 1<<20)) {
		t.Fatal("overlay does not read as the base followed by zeros")
	}
	if err := CreateOverlay(ctxT(t), o); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second create: got %v, want ErrExist", err)
	}
	if err := CreateOverlay(ctxT(t), Overlay{Path: filepath.Join(dir, "x.qcow2"), Base: base, BaseFormat: "vmdk"}); err == nil {
		t.Fatal("unknown base format accepted")
	}
}
