package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"stratus/computed/image"
	"stratus/meta/client"
)

// stagedPrefix marks a cache key that names a file already downloaded and hashed (an image
// registered without a digest) rather than an image ID.
const stagedPrefix = "staged:"

// fetch is the image cache's Fetcher: key is an image ID, read from the object store, or a
// staged file.
func (d *Daemon) fetch(ctx context.Context, key string, w io.Writer) error {
	if p, ok := strings.CutPrefix(key, stagedPrefix); ok {
		if filepath.Dir(p) != d.stagingDir() {
			return fmt.Errorf("staged image %s is not in %s", p, d.stagingDir())
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	}
	im, _, err := d.mc.Image(ctx, key)
	if err != nil {
		return fmt.Errorf("image %s: %w", key, err)
	}
	if im.Created() {
		// Saved by a host from an instance's root disk: parts in the system namespace.
		n, err := copyParts(ctx, d.objs, im.Manifest, im.ManifestVersion, w)
		if err == nil && n != im.SizeBytes {
			err = fmt.Errorf("read %d bytes, the image record says %d", n, im.SizeBytes)
		}
		if err != nil {
			return fmt.Errorf("image %s: %w", im.ID, err)
		}
		return nil
	}
	e, err := resolveObject(ctx, d.mc, im)
	if err != nil {
		return err
	}
	return copyObject(ctx, d.objs, e, w)
}

// imageFile returns the cached file of image id, which must be available and of kind,
// fetching it first if needed.
func (d *Daemon) imageFile(ctx context.Context, id string, kind client.ImageKind) (string, client.Image, error) {
	p, im, _, err := d.cachedImageFile(ctx, id, kind)
	return p, im, err
}

// cachedImageFile is imageFile also reporting whether the image was in the cache (hit) or
// had to be downloaded.
func (d *Daemon) cachedImageFile(ctx context.Context, id string, kind client.ImageKind) (string, client.Image, bool, error) {
	im, _, err := d.mc.Image(ctx, id)
	if errors.Is(err, client.ErrNotFound) {
		return "", im, false, fmt.Errorf("%w: image %s does not exist", errNoImage, id)
	}
	if err != nil {
		return "", im, false, fmt.Errorf("image %s: %w", id, err)
	}
	if im.Kind != kind || im.State != client.ImageAvailable {
		return "", im, false, fmt.Errorf("%w: image %s is a %s image in state %s, not an available %s image", errNoImage, id, im.Kind, im.State, kind)
	}
	ref := image.Ref{Key: im.ID, SHA256: im.SHA256, SizeBytes: im.SizeBytes}
	if _, err := os.Stat(d.cache.Path(ref.SHA256)); !im.Created() && (ref.SHA256 == "" || err != nil) {
		// Not cached: the object must exist, in a bucket of the image's account.
		if _, err := resolveObject(ctx, d.mc, im); err != nil {
			return "", im, false, err
		}
	}
	downloaded := false
	if ref.SHA256 == "" {
		if ref, downloaded, err = d.stage(ctx, im); err != nil {
			return "", im, false, err
		}
		if downloaded {
			defer os.Remove(strings.TrimPrefix(ref.Key, stagedPrefix))
		}
	}
	hit := false
	if _, err := os.Stat(d.cache.Path(ref.SHA256)); err == nil && !downloaded {
		hit = true
		d.m.imageCache.WithLabelValues("hit").Inc()
	} else {
		d.m.imageCache.WithLabelValues("miss").Inc()
	}
	p, err := d.cache.Get(ctx, ref)
	if errors.Is(err, image.ErrDigestMismatch) {
		return "", im, false, fmt.Errorf("%w: image %s: the object's bytes are not the ones registered: %v", errNoImage, id, err)
	}
	if err != nil {
		return "", im, false, fmt.Errorf("image %s: %w", id, err)
	}
	return p, im, hit, nil
}

// stage handles an image registered without a digest: its object's current version is
// downloaded once per version into the staging directory while hashed, and the digest is
// remembered, so the cache (content-addressed) can take it and later launches find it
// there without a download.
func (d *Daemon) stage(ctx context.Context, im client.Image) (ref image.Ref, downloaded bool, err error) {
	e, err := resolveObject(ctx, d.mc, im)
	if err != nil {
		return image.Ref{}, false, err
	}
	version := fmt.Sprintf("%s@%d", im.ID, e.Version)
	d.mu.Lock()
	digest := d.digests[version]
	d.mu.Unlock()
	if digest != "" {
		if _, err := os.Stat(d.cache.Path(digest)); err == nil {
			return image.Ref{Key: im.ID, SHA256: digest}, false, nil
		}
	}
	f, err := os.CreateTemp(d.stagingDir(), im.ID+".*")
	if err != nil {
		return image.Ref{}, false, err
	}
	h := sha256.New()
	err = copyObject(ctx, d.objs, e, io.MultiWriter(f, h))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return image.Ref{}, false, fmt.Errorf("image %s: %w", im.ID, err)
	}
	digest = hex.EncodeToString(h.Sum(nil))
	d.mu.Lock()
	d.digests[version] = digest
	err = d.saveDigests()
	d.mu.Unlock()
	if err != nil {
		d.log.Warn("remember image digests", "err", err)
	}
	return image.Ref{Key: stagedPrefix + f.Name(), SHA256: digest}, true, nil
}

// digestsFile remembers, across restarts, the digests of images registered without one
// (image ID @ object version → SHA-256), so a restarted daemon finds them in its cache
// instead of downloading them again to learn the digest.
func (d *Daemon) digestsFile() string { return filepath.Join(d.cfg.DataDir, "image-digests.json") }

// loadDigests reads the digests remembered, keeping those whose image is still cached.
func (d *Daemon) loadDigests() error {
	data, err := os.ReadFile(d.digestsFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("%s: %w", d.digestsFile(), err)
	}
	for k, digest := range m {
		if _, err := os.Stat(d.cache.Path(digest)); err == nil {
			d.digests[k] = digest
		}
	}
	return nil
}

// saveDigests writes the digests remembered, atomically; d.mu is held.
func (d *Daemon) saveDigests() error {
	data, err := json.Marshal(d.digests)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(d.cfg.DataDir, ".image-digests.*")
	if err != nil {
		return err
	}
	if _, err = tmp.Write(data); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), d.digestsFile())
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// errNoImage is an instance whose images cannot be used: its launch fails for good.
var errNoImage = errors.New("image unusable")
