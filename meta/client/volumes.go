package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Volume sizes. A chunk is a whole number of 4 KiB blocks (the chunk file's block size), and
// a volume a whole number of blocks, so that no NBD request maps to part of a block.
const (
	VolumeBlockBytes            = 4 << 10
	DefaultVolumeChunkSizeBytes = 4 << 20
	MinVolumeChunkSizeBytes     = 64 << 10
	MaxVolumeChunkSizeBytes     = 64 << 20
)

// volumeIDPrefix starts every volume ID; 16 hex digits follow.
const volumeIDPrefix = "vol-"

// NewVolumeID returns a random volume ID, "vol-" and 16 hex digits.
func NewVolumeID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("meta client: random volume id: %v", err)) // crypto/rand does not fail
	}
	return volumeIDPrefix + hex.EncodeToString(b[:])
}

// ValidVolumeID reports whether id has the form of a volume ID.
func ValidVolumeID(id string) bool {
	h, ok := strings.CutPrefix(id, volumeIDPrefix)
	if !ok || len(h) != 16 {
		return false
	}
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Validate says what is wrong with v's shape, naming the field and the bound.
func (v Volume) Validate() error {
	switch {
	case !ValidVolumeID(v.ID):
		return fmt.Errorf("%w: volume id %q is not vol- and 16 lowercase hex digits", ErrBadRequest, v.ID)
	case v.ChunkSizeBytes < MinVolumeChunkSizeBytes || v.ChunkSizeBytes > MaxVolumeChunkSizeBytes || v.ChunkSizeBytes&(v.ChunkSizeBytes-1) != 0:
		return fmt.Errorf("%w: chunk_size_bytes (%d) must be a power of two from %d to %d", ErrBadRequest, v.ChunkSizeBytes, MinVolumeChunkSizeBytes, MaxVolumeChunkSizeBytes)
	case v.SizeBytes <= 0 || v.SizeBytes%VolumeBlockBytes != 0:
		return fmt.Errorf("%w: size_bytes (%d) must be a positive multiple of %d", ErrBadRequest, v.SizeBytes, VolumeBlockBytes)
	case v.Attachment != nil && v.Attachment.Generation != v.LastGeneration:
		return fmt.Errorf("%w: attachment generation (%d) is not last_generation (%d)", ErrBadRequest, v.Attachment.Generation, v.LastGeneration)
	}
	switch v.State {
	case VolumeCreating, VolumeAvailable, VolumeInUse, VolumeDeleting, VolumeError:
	default:
		return fmt.Errorf("%w: volume state %q is not one of creating, available, in-use, deleting, error", ErrBadRequest, v.State)
	}
	return nil
}

// CreateVolume stores a new volume; ErrConflict if the ID exists. A zero ChunkSizeBytes
// becomes DefaultVolumeChunkSizeBytes, a zero CreatedAt now, an empty State available.
// extra ops (the volume's tags, say) are applied in the same transaction.
func (c *Client) CreateVolume(ctx context.Context, v Volume, extra ...Op) error {
	if v.ChunkSizeBytes == 0 {
		v.ChunkSizeBytes = DefaultVolumeChunkSizeBytes
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = time.Now().UTC()
	}
	if v.State == "" {
		v.State = VolumeAvailable
	}
	if err := v.Validate(); err != nil {
		return err
	}
	return c.createJSON(ctx, TableVolumes, "volume", v.ID, v, extra)
}

// Volume returns a volume and its ModIndex (for UpdateVolume and DeleteVolume).
func (c *Client) Volume(ctx context.Context, id string, opts ...ReadOption) (Volume, uint64, error) {
	var v Volume
	idx, err := c.getJSON(ctx, TableVolumes, id, &v, opts)
	return v, idx, err
}

// Volumes returns every volume, in ID order.
func (c *Client) Volumes(ctx context.Context, opts ...ReadOption) ([]Volume, error) {
	return listJSON[Volume](ctx, c, TableVolumes, "", opts)
}

// UpdateVolume replaces a volume if it is unchanged since modIndex; ErrConflict otherwise
// (including when it was deleted). Every change of a volume — lease, state, size — is a
// read, a change and an UpdateVolume, retried from the read on ErrConflict.
func (c *Client) UpdateVolume(ctx context.Context, v Volume, modIndex uint64) error {
	if err := v.Validate(); err != nil {
		return err
	}
	return c.replaceJSON(ctx, TableVolumes, "volume", v.ID, v, modIndex, nil)
}

// DeleteVolume removes a volume's record if it is unchanged since modIndex; ErrConflict
// otherwise. Whether it may go (not attached, chunks removed) is the caller's decision, made
// on the record read at modIndex. extra ops (removing its tags, say) are applied in the same
// transaction.
func (c *Client) DeleteVolume(ctx context.Context, id string, modIndex uint64, extra ...Op) error {
	return c.deleteAt(ctx, TableVolumes, "volume", id, modIndex, extra)
}
