package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Format is a disk image format qemu understands.
type Format string

// The base formats an overlay may sit on.
const (
	FormatRaw   Format = "raw"
	FormatQCOW2 Format = "qcow2"
)

// Overlay describes an instance's root disk: a qcow2 file whose unwritten blocks read from
// Base.
type Overlay struct {
	Path string
	// Base is the cached image, absolute; BaseFormat is its registered format.
	Base       string
	BaseFormat Format
	// SizeBytes is the disk's virtual size; 0 keeps the base's. It may grow the disk, never
	// shrink it.
	SizeBytes int64
}

// CreateOverlay makes o.Path with qemu-img. The file appears whole or not at all (it is
// created beside its final name and renamed); an existing file is an error, so an
// instance's disk is never replaced.
func CreateOverlay(ctx context.Context, o Overlay) error {
	if !filepath.IsAbs(o.Base) || !filepath.IsAbs(o.Path) {
		return fmt.Errorf("overlay %s: base and path must be absolute", o.Path)
	}
	if o.BaseFormat != FormatRaw && o.BaseFormat != FormatQCOW2 {
		return fmt.Errorf("overlay %s: base format %q: want raw or qcow2", o.Path, o.BaseFormat)
	}
	if o.SizeBytes < 0 {
		return fmt.Errorf("overlay %s: negative size", o.Path)
	}
	if _, err := os.Lstat(o.Path); err == nil {
		return fmt.Errorf("overlay %s: %w", o.Path, os.ErrExist)
	}
	tmp := filepath.Join(filepath.Dir(o.Path), "."+filepath.Base(o.Path)+".creating")
	os.Remove(tmp) // a leftover of a crash mid-create
	args := []string{"create", "-q", "-f", "qcow2", "-b", o.Base, "-F", string(o.BaseFormat), tmp}
	if o.SizeBytes > 0 {
		args = append(args, strconv.FormatInt(o.SizeBytes, 10))
	}
	if out, err := exec.CommandContext(ctx, "qemu-img", args...).CombinedOutput(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("overlay %s: qemu-img create: %w: %s", o.Path, err, strings.TrimSpace(string(out)))
	}
	if err := fsyncFile(tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("overlay %s: %w", o.Path, err)
	}
	if err := os.Rename(tmp, o.Path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("overlay %s: %w", o.Path, err)
	}
	return syncDir(filepath.Dir(o.Path))
}

// Info is what qemu-img reports about an image.
type Info struct {
	Format            string `json:"format"`
	VirtualSize       int64  `json:"virtual-size"`
	BackingFile       string `json:"backing-filename"`
	BackingFileFormat string `json:"backing-filename-format"`
}

// ReadInfo runs qemu-img info on path, opened as format (never probed).
func ReadInfo(ctx context.Context, path string, format Format) (Info, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "qemu-img", "info", "--output=json", "-f", string(format), path)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return Info{}, fmt.Errorf("qemu-img info %s: %w: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	var info Info
	if err := json.Unmarshal(out, &info); err != nil {
		return Info{}, fmt.Errorf("qemu-img info %s: %w", path, err)
	}
	return info, nil
}

func fsyncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
