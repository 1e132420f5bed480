package daemon

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"stratus/computed/driver"
	"stratus/meta/client"
	vclient "stratus/volumed/client"
)

// volumes carries out the instance's volume changes: an attaching volume gets its lease
// (for this host), is waited for until the host's volumed serves it, is attached to the
// domain if there is one (else it joins the domain at definition) and is recorded
// attached; a detaching one is detached from the domain, its lease given up and its entry
// removed. A volume that cannot be attached (deleted, held elsewhere) loses its entry.
func (w *worker) volumes(ctx context.Context, in client.Instance, defined bool) error {
	var errs []error
	for _, v := range in.Volumes {
		switch v.State {
		case client.VolumeAttaching:
			errs = append(errs, w.attach(ctx, v, defined))
		case client.VolumeDetaching:
			errs = append(errs, w.detach(ctx, v, defined))
		}
	}
	return errors.Join(errs...)
}

func (w *worker) attach(ctx context.Context, v client.InstanceVolume, defined bool) error {
	d := w.d
	disk, err := d.nbdDisk(v)
	if err != nil {
		return err
	}
	if err := d.takeLease(ctx, v.VolumeID); err != nil {
		var held *vclient.HeldError
		if errors.As(err, &held) || errors.Is(err, vclient.ErrState) || errors.Is(err, client.ErrNotFound) {
			w.log.Warn("volume cannot be attached: entry dropped", "volume", v.VolumeID, "err", err)
			return w.dropVolume(ctx, v.VolumeID)
		}
		return err
	}
	if err := d.waitServed(ctx, v.VolumeID); err != nil {
		return err
	}
	if defined {
		err := w.timed(ctx, "attach", func(ctx context.Context) error { return d.drv.AttachNBD(ctx, w.id, disk) })
		if err != nil && !(errors.Is(err, driver.ErrTargetInUse) && w.hasDisk(ctx, disk)) {
			return err
		}
	}
	_, err = d.update(ctx, w.id, func(in *client.Instance) bool {
		for i := range in.Volumes {
			if in.Volumes[i].VolumeID == v.VolumeID && in.Volumes[i].State == client.VolumeAttaching {
				in.Volumes[i].State, in.Volumes[i].AttachTime = client.VolumeAttached, time.Now().UTC()
				return true
			}
		}
		return false
	})
	if err == nil {
		w.log.Info("volume attached", "volume", v.VolumeID, "device", v.Device, "target", disk.Target)
	}
	return err
}

// hasDisk reports whether the domain has disk's volume at disk's target already (an attach
// that a crash kept from being recorded).
func (w *worker) hasDisk(ctx context.Context, disk driver.NBDDisk) bool {
	cctx, cancel := context.WithTimeout(ctx, w.d.cfg.CallTimeout)
	defer cancel()
	list, err := w.d.drv.List(cctx)
	if err != nil {
		return false
	}
	for _, di := range list {
		if di.Name == w.id {
			for _, v := range di.Volumes {
				if v.Target == disk.Target && v.Export == disk.Export {
					return true
				}
			}
		}
	}
	return false
}

func (w *worker) detach(ctx context.Context, v client.InstanceVolume, defined bool) error {
	d := w.d
	if defined {
		target, err := client.VolumeTarget(v.Device)
		if err != nil {
			return err
		}
		err = w.timed(ctx, "detach", func(ctx context.Context) error { return d.drv.DetachNBD(ctx, w.id, target) })
		if err != nil && !errors.Is(err, driver.ErrNotAttached) {
			return err
		}
	}
	if err := d.releaseVolume(ctx, v.VolumeID, false); err != nil {
		return err
	}
	w.log.Info("volume detached", "volume", v.VolumeID)
	return w.dropVolume(ctx, v.VolumeID)
}

// dropVolume removes a volume's entry from the instance's record.
func (w *worker) dropVolume(ctx context.Context, volumeID string) error {
	_, err := w.d.update(ctx, w.id, func(in *client.Instance) bool {
		for i, v := range in.Volumes {
			if v.VolumeID == volumeID {
				in.Volumes = append(in.Volumes[:i:i], in.Volumes[i+1:]...)
				return true
			}
		}
		return false
	})
	return err
}

// takeLease makes this host the holder of the volume's attachment lease; holding it already
// (a step repeated after a crash) is fine.
func (d *Daemon) takeLease(ctx context.Context, volumeID string) error {
	cctx, cancel := context.WithTimeout(ctx, d.cfg.CallTimeout)
	defer cancel()
	v, _, err := d.mc.Volume(cctx, volumeID)
	if err != nil {
		return err
	}
	if a := v.Attachment; a != nil && a.Host == d.cfg.Host && v.State == client.VolumeInUse {
		return nil
	}
	_, err = vclient.Attach(cctx, d.mc, volumeID, d.cfg.Host, false, d.cfg.LeaseTTL)
	return err
}

// releaseVolume gives up this host's lease of the volume (the volume becomes available) and,
// with remove, marks it deleting for the volume daemons' reapers. A volume not held here or
// gone needs nothing.
func (d *Daemon) releaseVolume(ctx context.Context, volumeID string, remove bool) error {
	cctx, cancel := context.WithTimeout(ctx, d.cfg.CallTimeout)
	defer cancel()
	v, _, err := d.mc.Volume(cctx, volumeID)
	if errors.Is(err, client.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if a := v.Attachment; a != nil && a.Host == d.cfg.Host && v.State == client.VolumeInUse {
		err := vclient.Detach(cctx, d.mc, vclient.Lease{VolumeID: volumeID, Host: a.Host, Generation: a.Generation})
		if err != nil && !errors.Is(err, vclient.ErrFenced) {
			return err
		}
	}
	if !remove {
		return nil
	}
	for range 10 {
		v, idx, err := d.mc.Volume(cctx, volumeID)
		if errors.Is(err, client.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if v.State != client.VolumeAvailable || v.Attachment != nil {
			return nil // attached elsewhere meanwhile, or deleting already: leave it
		}
		if v.LastGeneration == 0 {
			err = d.mc.DeleteVolume(cctx, volumeID, idx)
		} else {
			v.State = client.VolumeDeleting
			err = d.mc.UpdateVolume(cctx, v, idx)
		}
		if !errors.Is(err, client.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("volume %s: changed under every delete", volumeID)
}

// waitServed waits until the host's volumed serves the volume: qemu-img opens the export
// (the same NBD handshake QEMU does when the disk is attached).
func (d *Daemon) waitServed(ctx context.Context, volumeID string) error {
	wctx, cancel := context.WithTimeout(ctx, d.cfg.AttachTimeout)
	defer cancel()
	uri := "nbd://" + d.cfg.NBDAddr + "/" + volumeID
	var out []byte
	var err error
	for {
		cctx, ccancel := context.WithTimeout(wctx, 5*time.Second)
		out, err = exec.CommandContext(cctx, "qemu-img", "info", "-f", "raw", "--output=json", uri).CombinedOutput()
		ccancel()
		if err == nil {
			return nil
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("volume %s not served at %s within %v: %v: %s", volumeID, d.cfg.NBDAddr, d.cfg.AttachTimeout, err, out)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
