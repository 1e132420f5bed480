package daemon

import (
	"context"
	"errors"
	"time"

	"stratus/meta/client"
	objclient "stratus/objectd/client"
)

// followImages removes the images this host saved once they are deregistered: their parts
// and manifest from the object store, then the record. It follows the images table as
// follow does the instances table (a watch, a resync at least every ResyncInterval). The
// EC2 API cannot delete objects (its certificate reaches no storage node), which is why
// DeregisterImage of a saved image only marks it and the host that wrote the bytes removes
// them. Instances launched from the image keep their disks: their hosts hold the image in
// their caches.
func (d *Daemon) followImages(ctx context.Context) {
	var after uint64
	for ctx.Err() == nil {
		ims, err := d.mc.Images(ctx)
		if err == nil {
			for _, im := range ims {
				if im.Created() && im.Host == d.cfg.Host && im.State == client.ImageDeregistered {
					if err := d.removeSavedImage(ctx, im.ID); err != nil && ctx.Err() == nil {
						d.log.Warn("remove deregistered image", "image", im.ID, "err", err)
					}
				}
			}
		} else if ctx.Err() == nil {
			d.log.Warn("list images", "err", err)
		}
		w, err := d.mc.Watch(ctx, client.TableImages, "", after, d.cfg.ResyncInterval)
		switch {
		case err == nil:
			after = w.Index
		case ctx.Err() == nil:
			d.log.Warn("watch images", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// removeSavedImage deletes the objects of the deregistered image id and then its record,
// conditional on the record read. Deleting names already deleted costs only tombstones, so
// a removal cut short is simply done again.
func (d *Daemon) removeSavedImage(ctx context.Context, id string) error {
	cctx, cancel := context.WithTimeout(ctx, d.cfg.CallTimeout)
	im, idx, err := d.mc.Image(cctx, id)
	cancel()
	if errors.Is(err, client.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if im.State != client.ImageDeregistered {
		return nil
	}
	if im.Manifest != "" {
		cctx, cancel := context.WithTimeout(ctx, d.cfg.CallTimeout)
		m, err := readManifest(cctx, d.objs, im.Manifest, im.ManifestVersion)
		cancel()
		if err != nil && !errors.Is(err, objclient.ErrNotFound) {
			return err
		}
		names := []string{}
		for _, p := range m.Parts {
			names = append(names, p.Name)
		}
		for _, name := range append(names, im.Manifest) {
			cctx, cancel := context.WithTimeout(ctx, d.cfg.CallTimeout)
			_, err := d.objs.Delete(cctx, name, nil)
			cancel()
			if err != nil {
				return err
			}
		}
	}
	cctx, cancel = context.WithTimeout(ctx, d.cfg.CallTimeout)
	defer cancel()
	if err := d.mc.DeleteImage(cctx, id, idx); err != nil && !errors.Is(err, client.ErrNotFound) {
		return err
	}
	d.log.Info("deregistered image removed", "image", id)
	return nil
}
