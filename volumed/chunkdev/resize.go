package chunkdev

import (
	"fmt"

	objclient "stratus/objectd/client"
)

// SetSize grows the device to sizeBytes, a multiple of 4 KiB: requests up to the new end are
// served from then on, and NBD connections made later see the new size (a connection keeps
// the size it negotiated; NBD has no resize notice). The chunks past the old end need nothing:
// a chunk never written reads as zeros. Shrinking is refused: a file system may use the tail.
func (d *Device) SetSize(sizeBytes int64) error {
	if sizeBytes <= 0 || sizeBytes%objclient.ChunkBlockSize != 0 {
		return fmt.Errorf("chunkdev: size %d is not a positive multiple of %d", sizeBytes, objclient.ChunkBlockSize)
	}
	for {
		cur := d.size.Load()
		if sizeBytes < cur {
			return fmt.Errorf("chunkdev: volume %s cannot shrink from %d to %d bytes", d.cfg.Volume, cur, sizeBytes)
		}
		if d.size.CompareAndSwap(cur, sizeBytes) {
			return nil
		}
	}
}
