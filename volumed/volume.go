package volumed

import (
	"context"
	"errors"
	"fmt"

	"stratus/meta/client"
)

// Resize grows volumeID to sizeBytes and returns the volume as stored. A smaller size is
// ErrShrink (shrinking would cut data a file system may use); the same size changes nothing.
// An attached volume may grow: its holder's volumed serves the new size to NBD connections
// made from then on; a connection keeps the size it negotiated (NBD has no resize notice),
// so a running QEMU sees it only once the drive is opened again (docs/volumes.md).
func Resize(ctx context.Context, mc *client.Client, volumeID string, sizeBytes int64) (client.Volume, error) {
	for {
		v, idx, err := mc.Volume(ctx, volumeID)
		if err != nil {
			return client.Volume{}, fmt.Errorf("resize volume %s: %w", volumeID, err)
		}
		if sizeBytes < v.SizeBytes {
			return v, fmt.Errorf("resize volume %s to %d bytes: %w (it has %d)", volumeID, sizeBytes, ErrShrink, v.SizeBytes)
		}
		if sizeBytes == v.SizeBytes {
			return v, nil
		}
		if v.State == client.VolumeDeleting || v.State == client.VolumeCreating {
			return v, fmt.Errorf("resize volume %s: %w: it is %s", volumeID, ErrState, v.State)
		}
		v.SizeBytes = sizeBytes
		err = mc.UpdateVolume(ctx, v, idx)
		if errors.Is(err, client.ErrConflict) {
			continue
		}
		if err != nil {
			return v, fmt.Errorf("resize volume %s: %w", volumeID, err)
		}
		return v, nil
	}
}

// Delete starts the deletion of volumeID and reports whether the record is already gone.
// It refuses (ErrState) while the volume is attached, even if the lease expired: detach it
// first, which says whose lease goes. A volume never attached holds no chunks, and its record
// is deleted at once (gone is true). Otherwise the volume becomes deleting, with a
// conditional write on the version that was checked (so an attach racing the delete either
// wins, and the delete is refused, or finds the volume deleting), and a volumed removes its
// chunks and then the record (Reap). Deleting a volume that is already deleting changes
// nothing.
func Delete(ctx context.Context, mc *client.Client, volumeID string) (gone bool, err error) {
	for {
		v, idx, err := mc.Volume(ctx, volumeID)
		if err != nil {
			return false, fmt.Errorf("delete volume %s: %w", volumeID, err)
		}
		if v.State == client.VolumeDeleting {
			return false, nil
		}
		if a := v.Attachment; a != nil {
			return false, fmt.Errorf("delete volume %s: %w: it is in use by host %s (generation %d); detach it first", volumeID, ErrState, a.Host, a.Generation)
		}
		if v.LastGeneration == 0 {
			err = mc.DeleteVolume(ctx, volumeID, idx)
		} else {
			v.State = client.VolumeDeleting
			err = mc.UpdateVolume(ctx, v, idx)
		}
		if errors.Is(err, client.ErrConflict) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("delete volume %s: %w", volumeID, err)
		}
		return v.LastGeneration == 0, nil
	}
}
