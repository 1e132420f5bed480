package snapshot

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/minio/sha256-simd"

	"stratus/internal/hlc"
	"stratus/meta/client"
	objclient "stratus/objectd/client"
	"stratus/proxy"
)

// Object names. They start with "." so they never collide with an S3 bucket, and storage
// nodes let volumed certificates reach object routes under ".snap/" only.
const (
	// NamePrefix starts every object of this package: the one prefix storage nodes open
	// to volumed certificates on their object routes.
	NamePrefix     = objclient.SnapshotNamePrefix
	chunkPrefix    = NamePrefix + "chunk/"
	manifestPrefix = NamePrefix + "manifest/"
)

// ChunkName is the object holding the content with SHA-256 sha.
func ChunkName(sha [sha256.Size]byte) string { return chunkPrefix + hex.EncodeToString(sha[:]) }

// ManifestName is the object holding the manifest of snapshot id.
func ManifestName(id string) string { return manifestPrefix + id }

// Config tunes a Store. The zero value of a field means its default.
type Config struct {
	// CallTimeout bounds each call: one meta request, one chunk upload or read. Default 30s.
	CallTimeout time.Duration
	// Attempts bounds the retries of a conditional write that loses to concurrent ones,
	// and of an upload refused as older than a replica's version. Default 64.
	Attempts int
	// UploadWait is how long an acquirer waits for another's upload of the same content
	// to be recorded before it uploads the content itself. Default 30s.
	UploadWait time.Duration
	// TombstoneHoldoff is how long a deleted chunk's record is kept after its tombstone
	// was stamped, so that a tombstone still in flight to a slow replica cannot be dated
	// after a new upload of the same content. Default 1m (beyond the proxy's node
	// timeouts, which bound a tombstone's flight).
	TombstoneHoldoff time.Duration
	// Parallel is how many references Delete releases at once. Default 8.
	Parallel int
	// ManifestCacheEntries bounds the chunk entries of the manifests Manifest keeps in
	// memory (about 80 bytes each; a 1 TiB volume in 4 MiB chunks has up to 262144).
	// Default 1<<20.
	ManifestCacheEntries int
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{CallTimeout: 30 * time.Second, Attempts: 64, UploadWait: 30 * time.Second,
		TombstoneHoldoff: time.Minute, Parallel: 8, ManifestCacheEntries: 1 << 20}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.CallTimeout <= 0 {
		c.CallTimeout = d.CallTimeout
	}
	if c.Attempts <= 0 {
		c.Attempts = d.Attempts
	}
	if c.UploadWait <= 0 {
		c.UploadWait = d.UploadWait
	}
	if c.TombstoneHoldoff < 0 {
		c.TombstoneHoldoff = 0
	}
	if c.Parallel <= 0 {
		c.Parallel = d.Parallel
	}
	if c.ManifestCacheEntries <= 0 {
		c.ManifestCacheEntries = d.ManifestCacheEntries
	}
	return c
}

// Store reads and writes snapshots: chunks, reference counts, manifests. It is safe for
// concurrent use.
type Store struct {
	cfg Config
	mc  *client.Client
	px  *proxy.Proxy
	log *slog.Logger

	mu        sync.Mutex
	manifests map[string]*Manifest // cache of Manifest, by snapshot ID
	order     []string             // cache insertion order, oldest first
	cached    int                  // entries of the cached manifests
}

// New returns a Store over the catalog mc (a volumed or admin certificate) and the object
// store px (a volumed certificate reaches object routes under ".snap/" only). A zero
// TombstoneHoldoff in cfg is taken as is (tests); other zero fields get their defaults.
func New(cfg Config, mc *client.Client, px *proxy.Proxy, logger *slog.Logger) *Store {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Store{cfg: cfg.withDefaults(), mc: mc, px: px, log: logger, manifests: map[string]*Manifest{}}
}

// Ref names the content of one chunk as a snapshot holds it.
type Ref struct {
	SHA  [sha256.Size]byte
	Zero bool // all zero bytes: not stored, SHA unused
	// Timestamp is the version of the chunk's object when it was referenced.
	Timestamp hlc.Timestamp
	Size      int64 // bytes of content
	// Uploaded reports that PutChunk stored the content (no snapshot held it). It is not
	// part of the manifest: it feeds the snapshot's StoredBytes.
	Uploaded bool
}

// Hex is the SHA-256 in lowercase hex, the key of the chunk's record.
func (r Ref) Hex() string { return hex.EncodeToString(r.SHA[:]) }

// call returns ctx bounded by the call timeout.
func (s *Store) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.CallTimeout)
}

// PutChunk references data (one whole chunk) for a snapshot: all-zero content is not stored
// (Ref.Zero); other content gets a reference, and is uploaded unless some snapshot already
// holds it. The caller must put the Ref in a manifest that Complete writes, or Release it.
func (s *Store) PutChunk(ctx context.Context, data []byte) (Ref, error) {
	if isZero(data) {
		return Ref{Zero: true, Size: int64(len(data))}, nil
	}
	ref := Ref{SHA: sha256.Sum256(data), Size: int64(len(data))}
	if err := s.acquire(ctx, &ref, data); err != nil {
		return Ref{}, fmt.Errorf("snapshot chunk %s: %w", ref.Hex(), err)
	}
	return ref, nil
}

// AddRef adds a reference to content a snapshot already holds (the parent's unchanged
// chunks), without uploading it. ErrChunkGone if no snapshot holds it any more: the caller
// then uses PutChunk with the content. A zero ref needs nothing.
func (s *Store) AddRef(ctx context.Context, ref Ref) error {
	if ref.Zero {
		return nil
	}
	if err := s.acquire(ctx, &ref, nil); err != nil {
		return fmt.Errorf("snapshot chunk %s: %w", ref.Hex(), err)
	}
	return nil
}

// isZero reports whether b is all zero bytes.
func isZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
