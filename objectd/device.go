package objectd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"stratus/objectd/client"
)

// MarkerFile is the file whose presence marks a directory as an initialised device. It lives
// on the device's own file system, so when the disk is not mounted the marker is absent and
// the node refuses the device instead of writing into the root file system.
const MarkerFile = ".stratus-device"

// InitDevice prepares dir as a device: it creates the directory if needed and writes the
// marker file. Run it once per disk after mounting it (`stratus objectd init-device`).
func InitDevice(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("init device %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, MarkerFile), os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("init device %s: %w", dir, err)
	}
	_, err = f.WriteString("stratus objectd device\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("init device %s: %w", dir, err)
	}
	return syncDir(dir)
}

// devicePath returns the directory of device dev if the device may be used: its name is
// plain, the marker is present and, with mount checks on, it is a mount point.
func (s *store) devicePath(dev string) (string, error) {
	if err := client.CheckDevice(dev); err != nil {
		return "", fmt.Errorf("%w: %v", client.ErrDeviceUnavailable, err)
	}
	dir := filepath.Join(s.root, dev)
	if _, err := s.fs.Stat(filepath.Join(dir, MarkerFile)); err != nil {
		return "", fmt.Errorf("%w: device %s: no marker file (not mounted or not initialised)", client.ErrDeviceUnavailable, dev)
	}
	if s.mountCheck {
		ok, err := s.isMountPoint(dir)
		if err != nil || !ok {
			return "", fmt.Errorf("%w: device %s is not a mount point", client.ErrDeviceUnavailable, dev)
		}
	}
	return dir, nil
}

// deviceCheck is one directory under the root as the start-up check sees it.
type deviceCheck struct {
	name    string
	mounted bool  // it is a mount point; only looked at with mount checks on
	err     error // why requests to it answer 507; nil if it is usable
}

// checkDevices examines every directory under the root.
func (s *store) checkDevices() ([]deviceCheck, error) {
	ents, err := s.fs.ReadDir(s.root)
	if err != nil {
		return nil, fmt.Errorf("list devices in %s: %w", s.root, err)
	}
	var out []deviceCheck
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		c := deviceCheck{name: e.Name()}
		if s.mountCheck {
			c.mounted, _ = s.isMountPoint(filepath.Join(s.root, e.Name()))
		}
		_, c.err = s.devicePath(e.Name())
		out = append(out, c)
	}
	return out, nil
}

// devices lists the usable devices under the root.
func (s *store) devices() ([]string, error) {
	ents, err := s.fs.ReadDir(s.root)
	if err != nil {
		return nil, fmt.Errorf("list devices in %s: %w", s.root, err)
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if _, err := s.devicePath(e.Name()); err == nil {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// isMountPoint reports whether dir is on a different file system from its parent, or is the
// root of one.
func isMountPoint(dir string) (bool, error) {
	var st, pst syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return false, err
	}
	if err := syscall.Stat(filepath.Join(dir, ".."), &pst); err != nil {
		return false, err
	}
	return st.Dev != pst.Dev || st.Ino == pst.Ino, nil
}

// syncDir fsyncs a directory so that entries created or renamed in it are durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// noSpace wraps err as client.ErrNoSpace when the disk is full, so the node answers 507.
func noSpace(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %v", client.ErrNoSpace, err)
	}
	return err
}
