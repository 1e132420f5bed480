package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"stratus/computed/image"
	"stratus/internal/hlc"
	"stratus/meta/client"
	"stratus/proxy"
)

// ObjectStore reads objects and writes and deletes the images the host saves (a
// *proxy.Proxy with a computed certificate: storage nodes let it write names under
// ".image/" only).
type ObjectStore interface {
	ObjectReader
	Put(ctx context.Context, req proxy.PutRequest, body io.Reader, commit func(context.Context, proxy.PutResult) error) (proxy.PutResult, error)
	Delete(ctx context.Context, name string, commit func(context.Context, hlc.Timestamp) error) (hlc.Timestamp, error)
}

// DefaultSavedImagePartBytes is the size of the objects a saved image is cut into: small
// enough that one failed upload costs little to redo, large enough that a manifest of a big
// disk stays small.
const DefaultSavedImagePartBytes = 64 << 20

// maxSaveAttempts is how many times saving an image is tried before it is recorded failed.
const maxSaveAttempts = 3

// SaveTimeout bounds flattening a root disk, and uploading it, each: both grow with the
// disk (uploads are also bounded per part, so a stalled one fails sooner).
const SaveTimeout = time.Hour

// Saved images. CreateImage (the EC2 API) writes a pending image record naming this
// instance and sets the instance's CreateImage; the instance is stopped. The worker, which
// alone changes the domain, saves the root disk before anything else it would do (a start,
// a termination): it flattens the overlay into one qcow2 file in staging, writes it to the
// object store as parts under ImageObjectPrefix (parts first, then the manifest listing
// them with their versions, in the format of an S3 multipart manifest), records the image
// available with the manifest and the file's SHA-256 (so a launch fetches it straight into
// the verified cache) and clears the request. Saving again after a crash writes the same
// names again; nothing refers to them until the image record names the manifest.

// partName is the object holding part n of saved image id.
func partName(id string, n int) string {
	return client.ImageObjectPrefix(id) + "part/" + strconv.Itoa(n)
}

// manifestName is the object listing the parts of saved image id.
func manifestName(id string) string { return client.ImageObjectPrefix(id) + "manifest" }

// saveImage carries out in's CreateImage request.
func (w *worker) saveImage(ctx context.Context, in client.Instance) error {
	d := w.d
	id := in.CreateImage
	cctx, cancel := context.WithTimeout(ctx, d.cfg.CallTimeout)
	im, _, err := d.mc.Image(cctx, id)
	cancel()
	if err != nil && !errors.Is(err, client.ErrNotFound) {
		return err
	}
	if err == nil && im.State == client.ImagePending && im.SourceInstance == in.ID && im.Host == d.cfg.Host {
		err = w.saveRootDisk(ctx, in, im)
		if err != nil {
			w.saveFailures++
			if ctx.Err() != nil || w.saveFailures < maxSaveAttempts && !errors.Is(err, errNoRootDisk) {
				return err // the daemon stopping, or another try
			}
			w.log.Warn("saving the image failed for good", "image", id, "err", err)
			if ferr := d.updateImage(ctx, id, func(im *client.Image) bool {
				if im.State != client.ImagePending {
					return false
				}
				im.State = client.ImageFailed
				msg := err.Error()
				if len(msg) > maxReasonBytes {
					msg = strings.ToValidUTF8(msg[:maxReasonBytes], "") + "…"
				}
				im.StateReason = &client.StateReason{Code: "Server.InternalError", Message: "Server.InternalError: " + msg}
				return true
			}); ferr != nil {
				return ferr
			}
		}
		w.saveFailures = 0
	} else {
		w.log.Warn("image request names no pending image of this instance and host; dropped", "image", id)
	}
	_, err = d.update(ctx, in.ID, func(cur *client.Instance) bool {
		if cur.CreateImage != id {
			return false
		}
		cur.CreateImage = ""
		return true
	})
	return err
}

var errNoRootDisk = errors.New("the instance has no root disk")

// maxReasonBytes bounds the error text kept in a failed image's record (qemu-img's output
// can be long; the record is at most 64 KiB).
const maxReasonBytes = 1024

// saveRootDisk flattens in's root disk, uploads it and records im available.
func (w *worker) saveRootDisk(ctx context.Context, in client.Instance, im client.Image) error {
	d := w.d
	root := filepath.Join(d.instanceDir(in.ID), rootDiskFile)
	if _, err := os.Stat(root); err != nil {
		return fmt.Errorf("%w: %v", errNoRootDisk, err)
	}
	flat := filepath.Join(d.stagingDir(), im.ID+".qcow2")
	defer os.Remove(flat)
	if err := w.timedFor(ctx, "flatten", SaveTimeout, func(ctx context.Context) error { return image.Flatten(ctx, root, flat) }); err != nil {
		return err
	}
	var m manifest
	var size int64
	h := sha256.New()
	err := w.timedFor(ctx, "upload", SaveTimeout, func(ctx context.Context) error {
		var err error
		m, size, err = d.uploadParts(ctx, im.ID, flat, h)
		return err
	})
	if err != nil {
		return err
	}
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, d.cfg.CallTimeout)
	res, err := d.objs.Put(pctx, proxy.PutRequest{Name: manifestName(im.ID), Length: int64(len(body)),
		ContentType: "application/json"}, bytes.NewReader(body), nil)
	cancel()
	if err != nil {
		return fmt.Errorf("image %s: manifest: %w", im.ID, err)
	}
	digest := hex.EncodeToString(h.Sum(nil))
	if err := d.updateImage(ctx, im.ID, func(cur *client.Image) bool {
		if cur.State != client.ImagePending {
			return false
		}
		cur.State, cur.StateReason = client.ImageAvailable, nil
		cur.Manifest, cur.ManifestVersion = manifestName(im.ID), uint64(res.Timestamp)
		cur.Format, cur.SizeBytes, cur.SHA256 = string(image.FormatQCOW2), size, digest
		return true
	}); err != nil {
		return err
	}
	w.log.Info("image saved", "image", im.ID, "bytes", size, "parts", len(m.Parts))
	return nil
}

// uploadParts writes the file at path as the parts of image id, hashing it into h, and
// returns their manifest and the total size.
func (d *Daemon) uploadParts(ctx context.Context, id, path string, h io.Writer) (manifest, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return manifest{}, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return manifest{}, 0, err
	}
	partBytes := d.cfg.SavedImagePartBytes
	if partBytes <= 0 {
		partBytes = DefaultSavedImagePartBytes
	}
	var m manifest
	for off, n := int64(0), 0; off < st.Size() || n == 0; n++ {
		length := min(partBytes, st.Size()-off)
		name := partName(id, n)
		// A part's upload is bounded by four call timeouts, room for 64 MiB on slow disks.
		pctx, cancel := context.WithTimeout(ctx, 4*d.cfg.CallTimeout)
		res, err := d.objs.Put(pctx, proxy.PutRequest{Name: name, Length: length, ContentType: "application/octet-stream"},
			io.TeeReader(io.NewSectionReader(f, off, length), h), nil)
		cancel()
		if err != nil {
			return manifest{}, 0, fmt.Errorf("image %s: part %d: %w", id, n, err)
		}
		m.Parts = append(m.Parts, manifestPart{Name: name, Version: uint64(res.Timestamp), Size: length})
		off += length
	}
	return m, st.Size(), nil
}

// updateImage reads image id, lets change modify it and writes it back conditionally,
// again from a fresh read on a conflict. change returns false to write nothing.
func (d *Daemon) updateImage(ctx context.Context, id string, change func(*client.Image) bool) error {
	for i := 0; ; i++ {
		cctx, cancel := context.WithTimeout(ctx, d.cfg.CallTimeout)
		im, idx, err := d.mc.Image(cctx, id)
		if err == nil && change(&im) {
			err = d.mc.UpdateImage(cctx, im, idx)
		}
		cancel()
		if err == nil || !errors.Is(err, client.ErrConflict) || i >= 20 {
			return err
		}
	}
}
