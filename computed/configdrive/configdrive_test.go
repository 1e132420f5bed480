package configdrive

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

// readTree reads the root directory of the tree a volume descriptor points at, the way an
// ISO 9660 reader does, and returns its files by name.
func readTree(t *testing.T, img []byte, descriptor int, joliet bool) map[string][]byte {
	t.Helper()
	d := img[descriptor*sectorSize:]
	if string(d[1:6]) != "CD001" {
		t.Fatalf("descriptor %d: no CD001", descriptor)
	}
	if joliet && string(d[88:91]) != "%/E" {
		t.Fatalf("descriptor %d: no Joliet escape", descriptor)
	}
	if got := binary.LittleEndian.Uint32(d[80:]); int(got)*sectorSize != len(img) {
		t.Fatalf("volume size %d sectors, image %d bytes", got, len(img))
	}
	root := d[156:]
	ext, size := binary.LittleEndian.Uint32(root[2:]), binary.LittleEndian.Uint32(root[10:])
	if binary.BigEndian.Uint32(root[6:]) != ext {
		t.Fatal("root extent both-endian mismatch")
	}
	dir := img[int(ext)*sectorSize : int(ext)*sectorSize+int(size)]
	files := map[string][]byte{}
	for off := 0; off < len(dir) && dir[off] != 0; off += int(dir[off]) {
		r := dir[off:]
		nameLen := int(r[32])
		raw := r[33 : 33+nameLen]
		if nameLen == 1 && (raw[0] == 0 || raw[0] == 1) {
			continue // . and ..
		}
		name := string(raw)
		if joliet {
			u := make([]uint16, nameLen/2)
			for i := range u {
				u[i] = binary.BigEndian.Uint16(raw[2*i:])
			}
			name = string(utf16.Decode(u))
		}
		fe, fs := binary.LittleEndian.Uint32(r[2:]), binary.LittleEndian.Uint32(r[10:])
		files[name] = img[int(fe)*sectorSize : int(fe)*sectorSize+int(fs)]
	}
	return files
}

func TestWriteNoCloudSeed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cidata.iso")
	userData := bytes.Repeat([]byte("#!/bin/sh\necho hello\n"), 200) // spans sectors
	seed := Seed{
		InstanceID: "i-0123456789abcdef0", Hostname: "ip-10-0-0-5",
		PublicKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1 user@host"},
		UserData:   userData, Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	if err := Write(path, seed); err != nil {
		t.Fatal(err)
	}
	img, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	joliet := readTree(t, img, sectorSVD, true)
	if !bytes.Equal(joliet["user-data"], userData) {
		t.Fatalf("joliet user-data: %d bytes, want %d", len(joliet["user-data"]), len(userData))
	}
	var meta map[string]any
	if err := json.Unmarshal(joliet["meta-data"], &meta); err != nil {
		t.Fatalf("meta-data %q: %v", joliet["meta-data"], err)
	}
	if meta["instance-id"] != seed.InstanceID || meta["local-hostname"] != seed.Hostname {
		t.Fatalf("meta-data: %v", meta)
	}
	if keys, _ := meta["public-keys"].([]any); len(keys) != 1 || keys[0] != seed.PublicKeys[0] {
		t.Fatalf("public-keys: %v", meta["public-keys"])
	}
	primary := readTree(t, img, sectorPVD, false)
	if !bytes.Equal(primary["USER_DATA.;1"], userData) {
		t.Fatalf("primary tree lacks USER_DATA.;1: %v", keys(primary))
	}
	if string(img[sectorPVD*sectorSize+40:sectorPVD*sectorSize+46]) != Label {
		t.Fatal("primary volume label is not cidata")
	}
	// blkid is how cloud-init's ds-identify finds the drive: by type and label.
	if blkid, err := exec.LookPath("blkid"); err == nil {
		out, err := exec.Command(blkid, "-p", "-o", "export", path).Output()
		if err != nil {
			t.Fatalf("blkid: %v", err)
		}
		if !strings.Contains(string(out), "TYPE=iso9660") || !strings.Contains(string(out), "LABEL=cidata") {
			t.Fatalf("blkid sees:\n%s", out)
		}
	}
}

func TestWriteRefusesBadSeed(t *testing.T) {
	dir := t.TempDir()
	if err := Write(filepath.Join(dir, "a.iso"), Seed{}); err == nil {
		t.Fatal("seed without instance ID accepted")
	}
	if err := Write(filepath.Join(dir, "b.iso"), Seed{InstanceID: "i-1", UserData: make([]byte, MaxUserData+1)}); err == nil {
		t.Fatal("oversized user data accepted")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("refused seeds left files: %v", entries)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
