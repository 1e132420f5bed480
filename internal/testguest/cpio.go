package testguest

import (
	"bufio"
	"fmt"
	"io"
	"sort"
)

// cpioEntry is one file, directory or symlink of an initramfs.
type cpioEntry struct {
	Name string // path without a leading slash
	Mode uint32 // file type bits and permissions, as in stat(2)
	Data []byte // file contents, or a symlink's target
	// RdevMajor and RdevMinor name the device of a character or block device node.
	RdevMajor, RdevMinor uint32
}

const (
	modeDir     = 0o040000
	modeRegular = 0o100000
	modeSymlink = 0o120000
	modeCharDev = 0o020000
)

// writeCPIO writes entries as a "newc" cpio archive, the format the kernel unpacks into the
// initial rootfs. Entries are written sorted by name so a directory precedes what it holds
// and the same inputs give the same bytes.
func writeCPIO(w io.Writer, entries []cpioEntry) error {
	sorted := append([]cpioEntry(nil), entries...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	bw := bufio.NewWriter(w)
	ino := uint32(1)
	for _, e := range sorted {
		if err := writeCPIOEntry(bw, ino, e); err != nil {
			return fmt.Errorf("cpio %s: %w", e.Name, err)
		}
		ino++
	}
	if err := writeCPIOEntry(bw, 0, cpioEntry{Name: "TRAILER!!!"}); err != nil {
		return err
	}
	return bw.Flush()
}

func writeCPIOEntry(w *bufio.Writer, ino uint32, e cpioEntry) error {
	nlink := uint32(1)
	if e.Mode&0o170000 == modeDir {
		nlink = 2
	}
	name := e.Name + "\x00"
	// newc header: magic then 13 eight-digit hex fields.
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		ino, e.Mode, 0, 0, nlink, 0, len(e.Data), 0, 0, e.RdevMajor, e.RdevMinor, len(name), 0)
	if _, err := w.WriteString(hdr); err != nil {
		return err
	}
	if _, err := w.WriteString(name); err != nil {
		return err
	}
	if err := pad4(w, len(hdr)+len(name)); err != nil {
		return err
	}
	if _, err := w.Write(e.Data); err != nil {
		return err
	}
	return pad4(w, len(e.Data))
}

func pad4(w *bufio.Writer, n int) error {
	if r := n % 4; r != 0 {
		_, err := w.Write(make([]byte, 4-r))
		return err
	}
	return nil
}
