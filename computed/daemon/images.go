package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	e, err := resolveObject(ctx, d.mc, im)
	if err != nil {
		return err
	}
	return copyObject(ctx, d.objs, e, w)
}

// imageFile returns the cached file of image id, which must be available and of kind,
// fetching it first if needed.
func (d *Daemon) imageFile(ctx context.Context, id string, kind client.ImageKind) (string, client.Image, error) {
	im, _, err := d.mc.Image(ctx, id)
	if errors.Is(err, client.ErrNotFound) {
		return "", im, fmt.Errorf("%w: image %s does not exist", errNoImage, id)
	}
	if err != nil {
		return "", im, fmt.Errorf("image %s: %w", id, err)
	}
	if im.Kind != kind || im.State != client.ImageAvailable {
		return "", im, fmt.Errorf("%w: image %s is a %s image in state %s, not an available %s image", errNoImage, id, im.Kind, im.State, kind)
	}
	ref := image.Ref{Key: im.ID, SHA256: im.SHA256}
	if _, err := os.Stat(d.cache.Path(ref.SHA256)); ref.SHA256 == "" || err != nil {
		// Not cached: the object must exist, in a bucket of the image's account.
		if _, err := resolveObject(ctx, d.mc, im); err != nil {
			return "", im, err
		}
	}
	if ref.SHA256 == "" {
		if ref, err = d.stage(ctx, im); err != nil {
			return "", im, err
		}
		defer os.Remove(strings.TrimPrefix(ref.Key, stagedPrefix))
	}
	if _, err := os.Stat(d.cache.Path(ref.SHA256)); err == nil {
		d.m.imageCache.WithLabelValues("hit").Inc()
	} else {
		d.m.imageCache.WithLabelValues("miss").Inc()
	}
	p, err := d.cache.Get(ctx, ref)
	if errors.Is(err, image.ErrDigestMismatch) {
		return "", im, fmt.Errorf("%w: image %s: the object's bytes are not the ones registered: %v", errNoImage, id, err)
	}
	if err != nil {
		return "", im, fmt.Errorf("image %s: %w", id, err)
	}
	return p, im, nil
}

// stage handles an image registered without a digest: its object's current version is
// downloaded once per version into the staging directory while hashed, and the digest is
// remembered, so the cache (content-addressed) can take it and later launches find it
// there without a download.
func (d *Daemon) stage(ctx context.Context, im client.Image) (image.Ref, error) {
	e, err := resolveObject(ctx, d.mc, im)
	if err != nil {
		return image.Ref{}, err
	}
	version := fmt.Sprintf("%s@%d", im.ID, e.Version)
	d.mu.Lock()
	digest := d.digests[version]
	d.mu.Unlock()
	if digest != "" {
		if _, err := os.Stat(d.cache.Path(digest)); err == nil {
			return image.Ref{Key: im.ID, SHA256: digest}, nil
		}
	}
	f, err := os.CreateTemp(d.stagingDir(), im.ID+".*")
	if err != nil {
		return image.Ref{}, err
	}
	h := sha256.New()
	err = copyObject(ctx, d.objs, e, io.MultiWriter(f, h))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return image.Ref{}, fmt.Errorf("image %s: %w", im.ID, err)
	}
	digest = hex.EncodeToString(h.Sum(nil))
	d.mu.Lock()
	d.digests[version] = digest
	d.mu.Unlock()
	return image.Ref{Key: stagedPrefix + f.Name(), SHA256: digest}, nil
}

// errNoImage is an instance whose images cannot be used: its launch fails for good.
var errNoImage = errors.New("image unusable")
