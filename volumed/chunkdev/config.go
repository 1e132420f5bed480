package chunkdev

import (
	"fmt"
	"log/slog"
	"regexp"
	"time"

	objclient "stratus/objectd/client"
)

// Config describes one attachment of a volume.
type Config struct {
	// Volume is the volume ID ("vol-<16 hex>"); it names the chunks.
	Volume string
	// SizeBytes is the volume's size, a multiple of 4 KiB.
	SizeBytes int64
	// ChunkSizeBytes is the volume's chunk size; zero means 4 MiB. It must match the size
	// the chunks were created with.
	ChunkSizeBytes int64
	// Generation is the attach lease's generation (1 to 2^32-1). Every change carries it,
	// and it is the high half of every sequence.
	Generation uint64
	// CallTimeout bounds each call to a storage node when the caller's ctx allows longer.
	// Shorter fails over from a hung node sooner; too short fails calls a busy node would
	// finish.
	CallTimeout time.Duration
	// PostQuorumGrace is how long replicas that have not answered a change get once a
	// quorum has (at least twice what the quorum took). Past it they are marked behind and
	// repaired, so a slow node costs repairs instead of latency.
	PostQuorumGrace time.Duration
	// RepairConcurrency bounds the repairs running at once.
	RepairConcurrency int
	// RepairRetryMax is the longest wait between attempts to repair a chunk whose replica
	// is down; the wait starts at a tenth of it and doubles.
	RepairRetryMax time.Duration
	// Base, for a clone, is the snapshot it was created from: chunks no replica holds
	// read from it, and their first change copies them to the replicas. Nil otherwise.
	Base Base
	// Logger receives Warn lines for replicas marked behind and repairs that fail.
	Logger *slog.Logger
	// Metrics, if set, receives the device's metrics under its volume label (a daemon's
	// shared set); New's Registerer is then unused.
	Metrics *Metrics
}

// DefaultConfig returns the defaults for the tunables.
func DefaultConfig() Config {
	return Config{
		ChunkSizeBytes:    objclient.DefaultChunkSize,
		CallTimeout:       10 * time.Second,
		PostQuorumGrace:   500 * time.Millisecond,
		RepairConcurrency: 4,
		RepairRetryMax:    5 * time.Second,
	}
}

var volumeID = regexp.MustCompile(`^vol-[0-9a-f]{16}$`)

// Validate reports the first field out of bounds.
func (c *Config) Validate() error {
	switch {
	case !volumeID.MatchString(c.Volume):
		return fmt.Errorf("volume (%q) must be vol-<16 hex digits>", c.Volume)
	case c.ChunkSizeBytes != 0 && objclient.CheckChunkSize(c.ChunkSizeBytes) != nil:
		return fmt.Errorf("chunk_size_bytes (%d) must be a multiple of %d up to %d", c.ChunkSizeBytes, objclient.ChunkBlockSize, objclient.MaxChunkSize)
	case c.SizeBytes <= 0 || c.SizeBytes%objclient.ChunkBlockSize != 0:
		return fmt.Errorf("size_bytes (%d) must be a positive multiple of %d", c.SizeBytes, objclient.ChunkBlockSize)
	case c.Generation == 0 || c.Generation >= 1<<32:
		return fmt.Errorf("generation (%d) must be between 1 and %d", c.Generation, uint64(1<<32-1))
	case c.CallTimeout < 0 || c.PostQuorumGrace < 0 || c.RepairRetryMax < 0:
		return fmt.Errorf("call_timeout, post_quorum_grace and repair_retry_max must not be negative")
	case c.RepairConcurrency < 0:
		return fmt.Errorf("repair_concurrency (%d) must not be negative", c.RepairConcurrency)
	}
	return nil
}

func (c *Config) fill() {
	d := DefaultConfig()
	if c.ChunkSizeBytes == 0 {
		c.ChunkSizeBytes = d.ChunkSizeBytes
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = d.CallTimeout
	}
	if c.PostQuorumGrace == 0 {
		c.PostQuorumGrace = d.PostQuorumGrace
	}
	if c.RepairConcurrency == 0 {
		c.RepairConcurrency = d.RepairConcurrency
	}
	if c.RepairRetryMax == 0 {
		c.RepairRetryMax = d.RepairRetryMax
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}
