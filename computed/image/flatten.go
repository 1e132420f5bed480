package image

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Flatten writes the disk the qcow2 overlay src shows — its own blocks over its base's — as
// one standalone qcow2 file dst, with no backing file: the bytes of an image saved from an
// instance's root disk. Unallocated and zero blocks take no room. The overlay is opened as
// qcow2 (never probed) and its base in the format the overlay records, which the host wrote
// at CreateOverlay. dst appears whole or not at all; an existing dst is replaced (a save
// done again after a crash). The instance must not be running: a running guest's disk
// changes under the copy.
func Flatten(ctx context.Context, src, dst string) error {
	if !filepath.IsAbs(src) || !filepath.IsAbs(dst) {
		return fmt.Errorf("flatten %s: paths must be absolute", src)
	}
	tmp := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".flattening")
	os.Remove(tmp)
	args := []string{"convert", "-q", "-f", "qcow2", "-O", "qcow2", src, tmp}
	if out, err := exec.CommandContext(ctx, "qemu-img", args...).CombinedOutput(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("flatten %s: qemu-img convert: %w: %s", src, err, strings.TrimSpace(string(out)))
	}
	if err := fsyncFile(tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("flatten %s: %w", src, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("flatten %s: %w", src, err)
	}
	return syncDir(filepath.Dir(dst))
}
