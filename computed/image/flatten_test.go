package image

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestFlattenKeepsOverlayWrites: an overlay written over a raw base flattens to a qcow2 with
// no backing file that reads as the base with the overlay's writes on top.
func TestFlattenKeepsOverlayWrites(t *testing.T) {
	if _, err := exec.LookPath("qemu-io"); err != nil {
		t.Skip("qemu-io not installed (apt-get install qemu-utils)")
	}
	dir := t.TempDir()
	base := filepath.Join(dir, "base.raw")
	if err := os.WriteFile(base, bytes.Repeat([]byte("B"), 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	o := Overlay{Path: filepath.Join(dir, "root.qcow2"), Base: base, BaseFormat: FormatRaw}
	if err := CreateOverlay(ctxT(t), o); err != nil {
		t.Fatal(err)
	}
	// The guest's write: 64 KiB of 'W' at 128 KiB.
	if out, err := exec.Command("qemu-io", "-f", "qcow2", "-c", "write -P 0x57 128k 64k", o.Path).CombinedOutput(); err != nil {
		t.Fatalf("qemu-io: %v: %s", err, out)
	}
	flat := filepath.Join(dir, "saved.qcow2")
	if err := Flatten(ctxT(t), o.Path, flat); err != nil {
		t.Fatal(err)
	}
	info, err := ReadInfo(ctxT(t), flat, FormatQCOW2)
	if err != nil {
		t.Fatal(err)
	}
	if info.Format != "qcow2" || info.BackingFile != "" || info.VirtualSize != 1<<20 {
		t.Fatalf("flattened image %+v, want a 1 MiB qcow2 with no backing file", info)
	}
	if err := os.Remove(base); err != nil { // the flattened image needs no base
		t.Fatal(err)
	}
	raw := filepath.Join(dir, "saved.raw")
	if out, err := exec.Command("qemu-img", "convert", "-f", "qcow2", "-O", "raw", flat, raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v: %s", err, out)
	}
	got, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("B"), 1<<20)
	copy(want[128<<10:], bytes.Repeat([]byte("W"), 64<<10))
	if !bytes.Equal(got, want) {
		t.Fatal("the flattened image does not read as the base with the overlay's write")
	}
	if ents, _ := filepath.Glob(filepath.Join(dir, ".*")); len(ents) != 0 {
		t.Fatalf("temporary files left: %v", ents)
	}
}
