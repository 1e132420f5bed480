package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"time"
)

// ErrDigestMismatch is returned when fetched bytes do not hash to the digest asked for;
// nothing is kept.
var ErrDigestMismatch = errors.New("image digest mismatch")

// ErrBadDigest is returned for a digest that is not 64 lowercase hex digits.
var ErrBadDigest = errors.New("malformed sha256 digest")

// Fetcher writes the bytes of the image stored under key (an S3 bucket/key, say) to w.
type Fetcher func(ctx context.Context, key string, w io.Writer) error

// Ref names an image: where to fetch it and what its bytes must hash to.
type Ref struct {
	Key    string
	SHA256 string // lowercase hex
	// SizeBytes, if known, lets the cache make room before the download rather than after.
	SizeBytes int64
}

// Config configures a Cache.
type Config struct {
	// Dir holds the cached images; created if missing.
	Dir   string
	Fetch Fetcher
	// FetchTimeout bounds one download. Default 30 minutes.
	FetchTimeout time.Duration
	// MaxBytes bounds the cached images' bytes; zero means no bound. A download that would
	// pass it first evicts the least recently used images that are not in use (see
	// eviction.go); images in use stay even if the cache is then over its bound.
	MaxBytes int64
	// InUse returns the digests of the images instances use (bases of their overlays,
	// their kernels and ramdisks): never evicted. Nil means every image is in use; an error
	// means no eviction this time.
	InUse func() (map[string]bool, error)
	// MinIdle protects an image handed out by Get within this long (default 10 minutes),
	// covering the moment between a launch getting its images and recording them in use.
	MinIdle time.Duration
}

// Cache is a host's verified image cache. It is safe for concurrent use, and several
// processes may share its directory (each file appears by atomic rename).
type Cache struct {
	cfg      Config
	mu       sync.Mutex
	inflight map[string]*flight
	// evictMu makes evictions one at a time.
	evictMu sync.Mutex
	// evictions and evictedBytes count what eviction removed.
	evictions, evictedBytes atomic.Int64
}

type flight struct {
	done chan struct{}
	path string
	err  error
}

var digestPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// NewCache opens (creating it if needed) the cache in cfg.Dir.
func NewCache(cfg Config) (*Cache, error) {
	if cfg.Fetch == nil {
		return nil, errors.New("image cache: no fetcher")
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = 30 * time.Minute
	}
	if cfg.MinIdle <= 0 {
		cfg.MinIdle = 10 * time.Minute
	}
	// World-readable: libvirt's QEMU runs as its own user and opens bases and kernels.
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("image cache: %w", err)
	}
	return &Cache{cfg: cfg, inflight: map[string]*flight{}}, nil
}

// Path is where the image with the given digest lives in the cache (whether or not it is
// there yet).
func (c *Cache) Path(digest string) string {
	return filepath.Join(c.cfg.Dir, "sha256-"+digest)
}

// Get returns the path of the cached image ref names, fetching and verifying it first if it
// is not cached. It returns when the image is ready or ctx is done.
func (c *Cache) Get(ctx context.Context, ref Ref) (string, error) {
	if !digestPattern.MatchString(ref.SHA256) {
		return "", fmt.Errorf("image %s: %w: %q", ref.Key, ErrBadDigest, ref.SHA256)
	}
	path := c.Path(ref.SHA256)
	if _, err := os.Stat(path); err == nil {
		c.touch(path)
		return path, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("image %s: %w", ref.Key, err)
	}
	c.mu.Lock()
	f, ok := c.inflight[ref.SHA256]
	if !ok {
		f = &flight{done: make(chan struct{})}
		c.inflight[ref.SHA256] = f
		go c.download(ref, f)
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.path, f.err
	case <-ctx.Done():
		return "", fmt.Errorf("image %s: %w", ref.Key, ctx.Err())
	}
}

func (c *Cache) download(ref Ref, f *flight) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.FetchTimeout)
	defer cancel()
	f.path, f.err = c.fetchVerified(ctx, ref)
	c.mu.Lock()
	delete(c.inflight, ref.SHA256)
	c.mu.Unlock()
	close(f.done)
}

func (c *Cache) fetchVerified(ctx context.Context, ref Ref) (string, error) {
	if ref.SizeBytes > 0 {
		c.makeRoom(ref.SizeBytes, ref.SHA256)
	}
	tmp, err := os.CreateTemp(c.cfg.Dir, ".partial-")
	if err != nil {
		return "", fmt.Errorf("image %s: %w", ref.Key, err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	h := sha256.New()
	err = c.cfg.Fetch(ctx, ref.Key, io.MultiWriter(tmp, h))
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("fetch image %s: %w", ref.Key, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != ref.SHA256 {
		return "", fmt.Errorf("image %s: %w: got sha256 %s, want %s", ref.Key, ErrDigestMismatch, got, ref.SHA256)
	}
	if st, err := os.Stat(tmp.Name()); err == nil {
		c.makeRoom(st.Size(), ref.SHA256)
	}
	path := c.Path(ref.SHA256)
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("image %s: %w", ref.Key, err)
	}
	if err := syncDir(c.cfg.Dir); err != nil {
		return "", fmt.Errorf("image %s: %w", ref.Key, err)
	}
	return path, nil
}

// Verify re-hashes the cached image with the given digest and removes it if its bytes no
// longer match (a disk that rotted under it), returning ErrDigestMismatch then.
func (c *Cache) Verify(digest string) error {
	if !digestPattern.MatchString(digest) {
		return fmt.Errorf("%w: %q", ErrBadDigest, digest)
	}
	path := c.Path(digest)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return fmt.Errorf("verify %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != digest {
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("verify %s: remove corrupt image: %w", path, err)
		}
		return fmt.Errorf("verify %s: %w: got %s", path, ErrDigestMismatch, got)
	}
	return nil
}

// Remove drops an image from the cache. Overlays built on it break: the caller removes an
// image only when no instance on the host uses it.
func (c *Cache) Remove(digest string) error {
	if !digestPattern.MatchString(digest) {
		return fmt.Errorf("%w: %q", ErrBadDigest, digest)
	}
	err := os.Remove(c.Path(digest))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
