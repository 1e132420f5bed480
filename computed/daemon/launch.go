package daemon

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"stratus/computed/configdrive"
	"stratus/computed/driver"
	"stratus/computed/image"
	"stratus/meta/client"
)

// An instance's files, in its directory.
const (
	rootDiskFile    = "root.qcow2"
	configDriveFile = "config.iso"
	consoleLogFile  = "console.log"
)

// launch defines and starts the instance's domain: its images fetched into the cache, its
// root-disk overlay (kept if it exists: a relaunch after the domain was lost keeps the
// disk), its config drive, its NIC and the volumes already attached.
func (w *worker) launch(ctx context.Context, in client.Instance) error {
	d := w.d
	dir := d.instanceDir(in.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	spec := driver.Spec{Name: in.ID, VCPUs: in.VCPUs, MemoryMiB: in.MemoryMiB, Type: d.cfg.DomainType,
		ConsoleLog: filepath.Join(dir, consoleLogFile), Owner: d.cfg.DomainOwner()}
	// Where the time goes, for stratus_computed_launch_phase_seconds: the images (a miss if
	// any was downloaded), the disks (overlay, config drive), define and start.
	var imageTime, diskTime time.Duration
	missed := false
	imageFile := func(id string, kind client.ImageKind) (string, client.Image, error) {
		start := time.Now()
		p, im, hit, err := d.cachedImageFile(ctx, id, kind)
		imageTime += time.Since(start)
		missed = missed || !hit
		return p, im, err
	}
	kernelID, ramdiskID := in.KernelID, in.RamdiskID
	var rootBase string // the cached image under the root disk's overlay
	if client.ValidImageID(in.ImageID, client.ImageKernel) && kernelID == "" {
		kernelID = in.ImageID // a kernel boot with no root disk
	}
	if client.ValidImageID(in.ImageID, client.ImageMachine) {
		base, im, err := imageFile(in.ImageID, client.ImageMachine)
		if err != nil {
			return err
		}
		rootBase = base
		if kernelID == "" {
			kernelID, ramdiskID = im.KernelID, im.RamdiskID
		}
		spec.RootDisk = filepath.Join(dir, rootDiskFile)
		if _, err := os.Stat(spec.RootDisk); errors.Is(err, os.ErrNotExist) {
			start := time.Now()
			err := w.timed(ctx, "overlay", func(ctx context.Context) error {
				return image.CreateOverlay(ctx, image.Overlay{Path: spec.RootDisk, Base: base, BaseFormat: image.Format(im.Format)})
			})
			diskTime += time.Since(start)
			if err != nil {
				return err
			}
		}
	}
	if kernelID != "" {
		p, _, err := imageFile(kernelID, client.ImageKernel)
		if err != nil {
			return err
		}
		spec.Kernel, spec.Cmdline = p, d.cfg.KernelCmdline
		if spec.RootDisk != "" {
			spec.Cmdline += " root=/dev/vda"
		}
		if ramdiskID != "" {
			if spec.Initrd, _, err = imageFile(ramdiskID, client.ImageRamdisk); err != nil {
				return err
			}
		}
	}
	if err := d.recordImagesInUse(in.ID, rootBase, spec.Kernel, spec.Initrd); err != nil {
		return err
	}
	userData, err := in.DecodeUserData()
	if err != nil {
		return fmt.Errorf("%w: %v", errNoImage, err)
	}
	seed := configdrive.Seed{InstanceID: in.ID, Hostname: in.ID, UserData: userData}
	if in.PublicKey != "" {
		seed.PublicKeys = []string{in.PublicKey}
	}
	spec.ConfigDrive = filepath.Join(dir, configDriveFile)
	start := time.Now()
	if err := configdrive.Write(spec.ConfigDrive, seed); err != nil {
		return err
	}
	diskTime += time.Since(start)
	imagePhase := phaseImageHit
	if missed {
		imagePhase = phaseImageMiss
	}
	d.m.launchPhase.WithLabelValues(imagePhase).Observe(imageTime.Seconds())
	d.m.launchPhase.WithLabelValues(phaseDisks).Observe(diskTime.Seconds())
	nic, netRec, err := d.nic(in)
	if err != nil {
		return err
	}
	spec.NIC = nic
	for _, v := range in.Volumes {
		if v.State == client.VolumeAttached {
			disk, err := d.nbdDisk(v)
			if err != nil {
				return err
			}
			spec.Volumes = append(spec.Volumes, disk)
		}
	}
	start = time.Now()
	err = w.timed(ctx, "define", func(ctx context.Context) error { return d.drv.Define(ctx, spec) })
	d.m.launchPhase.WithLabelValues(phaseDefine).Observe(time.Since(start).Seconds())
	if errors.Is(err, driver.ErrInvalidSpec) {
		return fmt.Errorf("%w: %v", errNoImage, err)
	}
	if err != nil && !errors.Is(err, driver.ErrExists) {
		return err
	}
	if _, err := d.update(ctx, in.ID, func(in *client.Instance) bool {
		if in.Network == netRec {
			return false
		}
		in.Network = netRec
		return true
	}); err != nil {
		return err
	}
	start = time.Now()
	err = w.timed(ctx, "start", func(ctx context.Context) error { return d.drv.Start(ctx, in.ID) })
	d.m.launchPhase.WithLabelValues(phaseStart).Observe(time.Since(start).Seconds())
	return err
}

// nic is the instance's network interface: on the host's libvirt network, or in user mode
// with a forwarded SSH port of its own (the one it had, after a relaunch). The MAC is
// derived from the instance ID, so it is the same at every definition.
func (d *Daemon) nic(in client.Instance) (*driver.NIC, client.InstanceNetwork, error) {
	sum := sha256.Sum256([]byte(in.ID))
	mac := fmt.Sprintf("52:54:00:%02x:%02x:%02x", sum[0], sum[1], sum[2])
	if d.network != "" {
		return &driver.NIC{Network: d.network, MAC: mac}, client.InstanceNetwork{Mode: "libvirt-network:" + d.network, MAC: mac}, nil
	}
	port, err := d.sshPort(in.ID, in.Network.SSHForwardPort)
	if err != nil {
		return nil, client.InstanceNetwork{}, err
	}
	return &driver.NIC{MAC: mac, SSHHostPort: port}, client.InstanceNetwork{Mode: "user", MAC: mac, SSHForwardPort: port}, nil
}

// sshPort returns a loopback port for instance id's forwarded SSH, whose domain is not
// running: want if it is free (the instance's own, or no one's), else the first free one of
// the range.
func (d *Daemon) sshPort(id string, want int) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	free := func(p int) bool {
		if owner, taken := d.ports[p]; taken && owner != id {
			return false
		}
		return portFree(p)
	}
	if want >= d.cfg.SSHPortFirst && want <= d.cfg.SSHPortLast && free(want) {
		d.ports[want] = id
		return want, nil
	}
	if d.ports[want] == id {
		delete(d.ports, want) // taken by another program while the instance was down
	}
	for p := d.cfg.SSHPortFirst; p <= d.cfg.SSHPortLast; p++ {
		if free(p) {
			d.ports[p] = id
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free SSH port in %d-%d", d.cfg.SSHPortFirst, d.cfg.SSHPortLast)
}

// portFree reports whether loopback port p can be listened on now.
func portFree(p int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// startDefined starts the instance's defined, stopped domain. In user-mode networking the
// definition names the guest's forwarded SSH port; if another program took that port while
// the guest was down, QEMU could not start, so the domain is defined again (launch picks a
// free port and records it) instead.
func (w *worker) startDefined(ctx context.Context, in client.Instance) error {
	d := w.d
	if port := in.Network.SSHForwardPort; in.Network.Mode == "user" && port != 0 && !portFree(port) {
		w.log.Warn("forwarded SSH port taken while the instance was down; defining it again on another", "port", port)
		if err := w.timed(ctx, "undefine", func(ctx context.Context) error { return d.drv.Undefine(ctx, w.id) }); err != nil && !errors.Is(err, driver.ErrNotFound) {
			return err
		}
		return w.launch(ctx, in)
	}
	return w.timed(ctx, "start", func(ctx context.Context) error { return d.drv.Start(ctx, w.id) })
}

// releasePorts forgets the ports instance id held.
func (d *Daemon) releasePorts(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for p, holder := range d.ports {
		if holder == id {
			delete(d.ports, p)
		}
	}
}

// nbdDisk is the disk of volume v, served by the host's volumed.
func (d *Daemon) nbdDisk(v client.InstanceVolume) (driver.NBDDisk, error) {
	target, err := client.VolumeTarget(v.Device)
	if err != nil {
		return driver.NBDDisk{}, err
	}
	host, port, err := net.SplitHostPort(d.cfg.NBDAddr)
	if err != nil {
		return driver.NBDDisk{}, err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return driver.NBDDisk{}, fmt.Errorf("nbd address %s: %w", d.cfg.NBDAddr, err)
	}
	return driver.NBDDisk{Target: target, Serial: v.VolumeID, Host: host, Port: p, Export: v.VolumeID}, nil
}
