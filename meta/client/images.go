package client

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// ImageKind is what an image boots as: a machine image (EMI/AMI, a root disk), a kernel
// (EKI/AKI) or a ramdisk (ERI/ARI).
type ImageKind string

const (
	ImageMachine ImageKind = "machine"
	ImageKernel  ImageKind = "kernel"
	ImageRamdisk ImageKind = "ramdisk"
)

// imageIDPrefixes are the ID prefixes of each kind, as in EC2.
var imageIDPrefixes = map[ImageKind]string{ImageMachine: "ami-", ImageKernel: "aki-", ImageRamdisk: "ari-"}

// ImageState is an image's registration state.
type ImageState string

const (
	ImagePending      ImageState = "pending"
	ImageAvailable    ImageState = "available"
	ImageFailed       ImageState = "failed"
	ImageDeregistered ImageState = "deregistered"
)

// Image is a registered image (table images, key = ID): an object in the S3 store that
// compute hosts fetch into their verified cache.
type Image struct {
	ID          string    `json:"id"`                // "ami-", "aki-" or "ari-" and 17 hex digits
	Account     string    `json:"account,omitempty"` // owner; "" for images an operator registered
	Kind        ImageKind `json:"kind"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	// Bucket and Key name the S3 object holding the image's bytes. The account must own the
	// bucket: compute hosts check it before fetching (an operator's image may name any).
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	// Format is how a machine image's bytes are laid out, "raw" or "qcow2"; it is never
	// probed from the bytes. Kernels and ramdisks are files, with no format.
	Format    string `json:"format,omitempty"`
	SizeBytes int64  `json:"size_bytes,omitempty"`
	// SHA256 is the lowercase hex digest of the object's bytes. When set, a host refuses
	// bytes that do not match it (an object overwritten since registration); when empty,
	// a host hashes what it fetches and caches it under that digest.
	SHA256         string     `json:"sha256,omitempty"`
	KernelID       string     `json:"kernel_id,omitempty"`  // a machine image's default kernel (aki-)
	RamdiskID      string     `json:"ramdisk_id,omitempty"` // and ramdisk (ari-)
	RootDeviceName string     `json:"root_device_name,omitempty"`
	State          ImageState `json:"state"`
	CreatedAt      time.Time  `json:"created_at"`

	// An image made by CreateImage from an instance's root disk has no bucket: the compute
	// host running the instance (Host) saves the disk, flattened to qcow2, as objects under
	// ImageObjectPrefix(ID) in the object store's system namespace, which no S3 caller
	// reaches, and Manifest (with ManifestVersion) names the list of their parts. It is
	// pending until saved, then available, or failed with StateReason. Deregistered, the
	// same host removes the objects and then the record.
	SourceInstance  string       `json:"source_instance,omitempty"`
	Host            string       `json:"host,omitempty"`
	Manifest        string       `json:"manifest,omitempty"`
	ManifestVersion uint64       `json:"manifest_version,omitempty"`
	StateReason     *StateReason `json:"state_reason,omitempty"`
}

// ImageObjectPrefix is where the objects of an image made by CreateImage live: under the
// object store's ".image/" namespace (objclient.ImageNamePrefix), which compute hosts may
// write and S3 names never reach.
func ImageObjectPrefix(id string) string { return ".image/" + id + "/" }

// Created reports whether im was made by CreateImage (its bytes saved by a compute host)
// rather than registered from an S3 object.
func (im Image) Created() bool { return im.SourceInstance != "" }

// NewImageID returns a random ID of an image of the given kind; "" for an unknown kind.
func NewImageID(kind ImageKind) string {
	p, ok := imageIDPrefixes[kind]
	if !ok {
		return ""
	}
	return newEC2ID(p)
}

// ValidImageID reports whether id has the form of an image ID of the given kind.
func ValidImageID(id string, kind ImageKind) bool {
	p, ok := imageIDPrefixes[kind]
	return ok && validEC2ID(id, p)
}

// Validate says what is wrong with im's shape, naming the field.
func (im Image) Validate() error {
	if _, ok := imageIDPrefixes[im.Kind]; !ok {
		return fmt.Errorf("%w: image kind %q is not machine, kernel or ramdisk", ErrBadRequest, im.Kind)
	}
	switch {
	case !ValidImageID(im.ID, im.Kind):
		return fmt.Errorf("%w: %s image id %q is not %s and 17 lowercase hex digits", ErrBadRequest, im.Kind, im.ID, imageIDPrefixes[im.Kind])
	case !im.Created() && (im.Bucket == "" || im.Key == ""):
		return fmt.Errorf("%w: image %s needs a bucket and a key", ErrBadRequest, im.ID)
	case im.Created() && (im.Kind != ImageMachine || !ValidInstanceID(im.SourceInstance) || im.Host == "" || im.Bucket != "" || im.Key != ""):
		return fmt.Errorf("%w: image %s: an image created from an instance is a machine image with a valid source instance, a host and no bucket or key", ErrBadRequest, im.ID)
	case im.Manifest != "" && !strings.HasPrefix(im.Manifest, ImageObjectPrefix(im.ID)):
		return fmt.Errorf("%w: image %s: manifest %q is not under %s", ErrBadRequest, im.ID, im.Manifest, ImageObjectPrefix(im.ID))
	case im.Created() && im.State == ImageAvailable && im.Manifest == "":
		return fmt.Errorf("%w: image %s: an available created image needs its manifest", ErrBadRequest, im.ID)
	case im.SHA256 != "" && !validHex(im.SHA256, 64):
		return fmt.Errorf("%w: image %s: sha256 %q is not 64 lowercase hex digits", ErrBadRequest, im.ID, im.SHA256)
	case im.SizeBytes < 0:
		return fmt.Errorf("%w: image %s: negative size_bytes", ErrBadRequest, im.ID)
	case im.KernelID != "" && !ValidImageID(im.KernelID, ImageKernel):
		return fmt.Errorf("%w: image %s: kernel_id %q is not an aki- ID", ErrBadRequest, im.ID, im.KernelID)
	case im.RamdiskID != "" && !ValidImageID(im.RamdiskID, ImageRamdisk):
		return fmt.Errorf("%w: image %s: ramdisk_id %q is not an ari- ID", ErrBadRequest, im.ID, im.RamdiskID)
	}
	if im.Kind == ImageMachine && im.Format != "raw" && im.Format != "qcow2" {
		return fmt.Errorf("%w: machine image %s: format %q is not raw or qcow2", ErrBadRequest, im.ID, im.Format)
	}
	switch im.State {
	case ImagePending, ImageAvailable, ImageFailed, ImageDeregistered:
	default:
		return fmt.Errorf("%w: image state %q is not one of pending, available, failed, deregistered", ErrBadRequest, im.State)
	}
	return nil
}

// CreateImage stores a new image; ErrConflict if the ID exists. A zero CreatedAt becomes
// now, an empty State available. extra ops (its tags) are applied in the same transaction.
func (c *Client) CreateImage(ctx context.Context, im Image, extra ...Op) error {
	if im.CreatedAt.IsZero() {
		im.CreatedAt = time.Now().UTC()
	}
	if im.State == "" {
		im.State = ImageAvailable
	}
	if err := im.Validate(); err != nil {
		return err
	}
	return c.createJSON(ctx, TableImages, "image", im.ID, im, extra)
}

// Image returns an image and its ModIndex (for UpdateImage and DeleteImage).
func (c *Client) Image(ctx context.Context, id string, opts ...ReadOption) (Image, uint64, error) {
	var im Image
	idx, err := c.getJSON(ctx, TableImages, id, &im, opts)
	return im, idx, err
}

// Images returns every image, in ID order.
func (c *Client) Images(ctx context.Context, opts ...ReadOption) ([]Image, error) {
	return listJSON[Image](ctx, c, TableImages, "", opts)
}

// UpdateImage replaces an image if it is unchanged since modIndex; ErrConflict otherwise.
// extra ops are applied in the same transaction.
func (c *Client) UpdateImage(ctx context.Context, im Image, modIndex uint64, extra ...Op) error {
	if err := im.Validate(); err != nil {
		return err
	}
	return c.replaceJSON(ctx, TableImages, "image", im.ID, im, modIndex, extra)
}

// DeleteImage removes an image's record if it is unchanged since modIndex; ErrConflict
// otherwise. extra ops (removing its tags) are applied in the same transaction.
func (c *Client) DeleteImage(ctx context.Context, id string, modIndex uint64, extra ...Op) error {
	return c.deleteAt(ctx, TableImages, "image", id, modIndex, extra)
}

// validHex reports whether s is n lowercase hex digits.
func validHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
