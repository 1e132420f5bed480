package testguest

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// errNoVmlinux means the bzImage's payload is in a compression we do not undo, or what it
// holds cannot be booted directly; the caller boots the bzImage instead.
var errNoVmlinux = errors.New("no bootable vmlinux in bzImage")

// extractVmlinux returns the uncompressed ELF kernel inside a bzImage, as the kernel tree's
// scripts/extract-vmlinux does, but reading the payload's place from the boot protocol
// header instead of scanning for magic numbers. QEMU boots that ELF through its PVH entry
// point, which skips the decompression the bzImage would run inside the guest (slow under
// TCG), so the kernel must carry the Xen PVH ELF note.
func extractVmlinux(bz []byte) ([]byte, error) {
	if len(bz) < 0x250 || string(bz[0x202:0x206]) != "HdrS" {
		return nil, fmt.Errorf("%w: not a bzImage", errNoVmlinux)
	}
	setupSects := int(bz[0x1f1])
	if setupSects == 0 {
		setupSects = 4
	}
	payloadOff := (setupSects+1)*512 + int(binary.LittleEndian.Uint32(bz[0x248:]))
	payloadLen := int(binary.LittleEndian.Uint32(bz[0x24c:]))
	if payloadOff+payloadLen > len(bz) || payloadLen < 4 {
		return nil, fmt.Errorf("%w: payload out of range", errNoVmlinux)
	}
	payload := bz[payloadOff : payloadOff+payloadLen]
	var raw []byte
	var err error
	switch {
	case bytes.HasPrefix(payload, []byte{0x1f, 0x8b}):
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(bytes.NewReader(payload)); err == nil {
			raw, err = io.ReadAll(zr)
		}
	case binary.LittleEndian.Uint32(payload) == lz4LegacyMagic:
		raw, err = decodeLZ4Legacy(payload)
	default:
		return nil, fmt.Errorf("%w: payload compression % x not supported", errNoVmlinux, payload[:4])
	}
	if err != nil {
		return nil, fmt.Errorf("decompress kernel payload: %w", err)
	}
	if !hasPVHNote(raw) {
		return nil, fmt.Errorf("%w: vmlinux has no PVH entry note", errNoVmlinux)
	}
	return raw, nil
}

// xenElfnotePhys32Entry is the ELF note type (owner "Xen") that names a kernel's 32-bit PVH
// entry point; QEMU needs it to boot an ELF kernel.
const xenElfnotePhys32Entry = 18

func hasPVHNote(img []byte) bool {
	f, err := elf.NewFile(bytes.NewReader(img))
	if err != nil {
		return false
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		notes, err := io.ReadAll(p.Open())
		if err != nil {
			continue
		}
		for len(notes) >= 12 {
			nameSz := int(f.ByteOrder.Uint32(notes))
			descSz := int(f.ByteOrder.Uint32(notes[4:]))
			typ := f.ByteOrder.Uint32(notes[8:])
			nameEnd := 12 + align4(nameSz)
			end := nameEnd + align4(descSz)
			if end > len(notes) {
				break
			}
			if typ == xenElfnotePhys32Entry && bytes.HasPrefix(notes[12:12+nameSz], []byte("Xen")) {
				return true
			}
			notes = notes[end:]
		}
	}
	return false
}

func align4(n int) int { return (n + 3) &^ 3 }
