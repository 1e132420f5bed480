package objectd

import (
	"errors"
	"fmt"
	"net"
	"time"

	"stratus/internal/faultfs"
	"stratus/internal/pki"
)

// Config configures a storage node. The zero value of a field is not its default: start from
// DefaultConfig.
type Config struct {
	// DevicesDir holds one directory per device, named as in the ring (e.g. /srv/node/sdb1).
	// A device serves requests only while its directory holds the marker file written by
	// InitDevice, so an unmounted disk (whose mount point is an empty directory on the root
	// file system) answers 507 instead of filling the root disk.
	DevicesDir string `json:"devices_dir"`
	// MountCheck additionally requires each device directory to be a mount point. It is the
	// production setting; turn it off for devices that are plain directories (tests, a
	// single-machine `stratus server`). With it on, Run refuses to start when no directory
	// under DevicesDir is a mount point (ErrNoMountedDevice): the disks were not mounted,
	// and every request would fail.
	MountCheck bool `json:"mount_check"`
	// AdvertiseAddr is this node's "ip:port" as written in the ring; ring devices with this
	// Host are this node's. Empty means the listener's address.
	AdvertiseAddr string `json:"advertise_addr"`

	// RingPath is the ring file to load and watch. Empty means no ring: the node serves
	// requests but does not replicate until SetRing is called.
	RingPath string `json:"ring_path"`
	// RingCheckInterval is how often the ring file is checked for a newer version.
	RingCheckInterval time.Duration `json:"ring_check_interval"`

	// ReclaimAge is how long a tombstone is kept. It must exceed the longest time a replica
	// can be away (down, or partitioned) and come back: a replica that missed the delete and
	// returns after the tombstone is reclaimed would resurrect the object.
	ReclaimAge time.Duration `json:"reclaim_age"`

	// ReplicationInterval is the pause between the end of one replication pass and the start
	// of the next. Zero disables the background replicator (ReplicateOnce still works).
	ReplicationInterval time.Duration `json:"replication_interval"`
	// ReplicationConcurrency is how many partitions are replicated at once. More finishes a
	// pass sooner on many disks at the price of more seeks and connections.
	ReplicationConcurrency int `json:"replication_concurrency"`
	// ReplicationBytesPerSecond caps the object bytes this node pushes to peers, shared by
	// all workers, so healing does not starve client traffic. Zero means no cap.
	ReplicationBytesPerSecond int64 `json:"replication_bytes_per_second"`
	// ReplicationTimeout bounds each request to a peer during replication.
	ReplicationTimeout time.Duration `json:"replication_timeout"`

	// ReconstructInterval is the pause between reconstructor passes over the trees of
	// erasure-coded policies' rings (reconstructor.go). Zero disables the background
	// reconstructor (ReconstructOnce still works).
	ReconstructInterval time.Duration `json:"reconstruct_interval"`
	// ReconstructBytesPerSecond caps the bytes the reconstructor decodes, writes and pushes
	// for rebuilds and reverts (0: no cap); its checksum checks go at the auditor's rate.
	ReconstructBytesPerSecond int64 `json:"reconstruct_bytes_per_second"`

	// AuditInterval is the pause between auditor passes. Zero disables the background auditor
	// (AuditOnce still works).
	AuditInterval time.Duration `json:"audit_interval"`
	// AuditBytesPerSecond caps how fast the auditor re-reads objects, so it never competes
	// with client reads for the disk. Zero means no cap.
	AuditBytesPerSecond int64 `json:"audit_bytes_per_second"`

	// MaxClockSkew is how far ahead of this node's clock a version's timestamp may be. A
	// write (PUT, DELETE, or pushed by a peer) dated later is refused, and the replicator
	// does not spread one it holds: under last-writer-wins a version from the far future
	// would beat every write until then. Too small refuses writers whose clocks run a little
	// fast; the proxies' clocks must stay within it of the nodes'.
	MaxClockSkew time.Duration `json:"max_clock_skew"`

	// BodyIdleTimeout is how long a PUT or push body may go without delivering a byte before
	// the node gives up on it. It frees the request of a sender that died without closing
	// its connection; too short fails uploads from slow senders.
	BodyIdleTimeout time.Duration `json:"body_idle_timeout"`

	// MaxOpenChunks is how many chunk files (volume backing store) the node keeps open
	// between requests, each with its block table in memory (32 KiB for a 4 MiB chunk). More
	// saves reopening (and re-reading the table of) chunks of busy volumes; each costs a
	// file descriptor. A file closed with unflushed writes is fdatasynced first.
	MaxOpenChunks int `json:"max_open_chunks"`

	// SmallObjectMax is the largest object (content bytes) stored in the device's
	// small-object log instead of as a file of its own; tombstones go there too. 0 stores
	// everything as files; DefaultConfig sets DefaultSmallObjectMax. A log record costs its share of one write and
	// one fdatasync per batch, where a file costs up to three inode creations, a file
	// fsync, a rename and a directory barrier. Logs already on a device are read, served,
	// replicated, audited and compacted whatever this is.
	SmallObjectMax int64 `json:"small_object_max"`
	// SmallObjectSegmentMax is the size at which a log's active segment is sealed and a new
	// one started; 0 means 64 MiB. Compaction rewrites whole sealed segments, so smaller
	// segments reclaim space sooner in smaller steps, at the cost of more files.
	SmallObjectSegmentMax int64 `json:"small_object_segment_max"`
	// SmallObjectCompactInterval is how often the node checks whether a log needs
	// compacting; 0 means 10 s.
	SmallObjectCompactInterval time.Duration `json:"small_object_compact_interval"`

	// ShutdownTimeout bounds how long Run waits for in-flight requests after ctx ends.
	ShutdownTimeout time.Duration `json:"shutdown_timeout"`

	// Identity is the node's certificate and the cluster CA it trusts. When set, the node
	// serves only mutual TLS and checks every caller's certificate and role (see auth.go),
	// and calls its peers over TLS as a storage node. Nil serves plain HTTP with no caller
	// checks: only for tests and benchmarks; every stratus command sets it.
	Identity *pki.Identity `json:"-"`

	// FS is the file system used for object files; nil means the real one. Tests inject
	// faults (a full disk, a failing fsync) through it.
	FS faultfs.FS `json:"-"`
	// Now is the clock for tombstone reclaim, MaxClockSkew and the rate limits on repeated
	// log lines; nil means time.Now. Tests move it.
	Now func() time.Time `json:"-"`
	// IsMountPoint reports whether a device directory is a mount point, for MountCheck; nil
	// means the real check (the directory is on another file system than its parent).
	// Tests pose plain directories as mounted disks with it.
	IsMountPoint func(dir string) (bool, error) `json:"-"`
}

// DefaultSmallObjectMax is the production SmallObjectMax: up to 256 KiB a log record
// costs 3-6x less than a file per object at the storage node (BENCHMARKS.md, "Small-object
// log"); above it the file path streams the body instead of gathering it, and the log would
// hold each record whole in memory.
const DefaultSmallObjectMax = 256 << 10

// maxSmallObject bounds SmallObjectMax: a log record is read into memory whole.
const maxSmallObject = 1 << 20

// minSegmentMax and maxSegmentMax bound SmallObjectSegmentMax: below the minimum a log is
// mostly segment files; compaction reads a whole segment into memory. (A batch larger than
// the limit still goes into one segment, which is then sealed.)
const (
	minSegmentMax = 64 << 10
	maxSegmentMax = 1 << 30
)

// DefaultConfig returns production defaults. DevicesDir must still be set.
func DefaultConfig() Config {
	return Config{
		MountCheck:                true,
		RingCheckInterval:         15 * time.Second,
		ReclaimAge:                7 * 24 * time.Hour,
		ReplicationInterval:       30 * time.Second,
		ReplicationConcurrency:    4,
		ReplicationBytesPerSecond: 0,
		ReplicationTimeout:        5 * time.Minute,
		AuditInterval:             time.Hour,
		ReconstructInterval:       5 * time.Minute,
		AuditBytesPerSecond:       10 << 20,
		MaxClockSkew:              10 * time.Minute,
		BodyIdleTimeout:           time.Minute,
		MaxOpenChunks:             1024,
		SmallObjectMax:            DefaultSmallObjectMax,
		ShutdownTimeout:           10 * time.Second,
	}
}

// Validate reports the first field that is out of bounds.
func (c *Config) Validate() error {
	switch {
	case c.DevicesDir == "":
		return errors.New("devices_dir is required")
	case c.RingCheckInterval <= 0:
		return fmt.Errorf("ring_check_interval (%v) must be positive", c.RingCheckInterval)
	case c.ReclaimAge < time.Hour:
		return fmt.Errorf("reclaim_age (%v) must be at least 1h", c.ReclaimAge)
	case c.ReplicationInterval < 0:
		return fmt.Errorf("replication_interval (%v) must not be negative", c.ReplicationInterval)
	case c.ReplicationConcurrency < 1 || c.ReplicationConcurrency > 256:
		return fmt.Errorf("replication_concurrency (%d) must be between 1 and 256", c.ReplicationConcurrency)
	case c.ReconstructBytesPerSecond < 0:
		return fmt.Errorf("reconstruct_bytes_per_second (%d) must not be negative", c.ReconstructBytesPerSecond)
	case c.ReplicationBytesPerSecond < 0:
		return fmt.Errorf("replication_bytes_per_second (%d) must not be negative", c.ReplicationBytesPerSecond)
	case c.ReplicationTimeout <= 0:
		return fmt.Errorf("replication_timeout (%v) must be positive", c.ReplicationTimeout)
	case c.AuditInterval < 0:
		return fmt.Errorf("audit_interval (%v) must not be negative", c.AuditInterval)
	case c.AuditBytesPerSecond < 0:
		return fmt.Errorf("audit_bytes_per_second (%d) must not be negative", c.AuditBytesPerSecond)
	case c.MaxClockSkew <= 0:
		return fmt.Errorf("max_clock_skew (%v) must be positive", c.MaxClockSkew)
	case c.BodyIdleTimeout <= 0:
		return fmt.Errorf("body_idle_timeout (%v) must be positive", c.BodyIdleTimeout)
	case c.MaxOpenChunks < 1 || c.MaxOpenChunks > 1<<20:
		return fmt.Errorf("max_open_chunks (%d) must be between 1 and %d", c.MaxOpenChunks, 1<<20)
	case c.SmallObjectMax < 0 || c.SmallObjectMax > maxSmallObject:
		return fmt.Errorf("small_object_max (%d) must be between 0 and %d", c.SmallObjectMax, maxSmallObject)
	case c.SmallObjectSegmentMax != 0 && (c.SmallObjectSegmentMax < minSegmentMax || c.SmallObjectSegmentMax > maxSegmentMax):
		return fmt.Errorf("small_object_segment_max (%d) must be 0 or between %d and %d", c.SmallObjectSegmentMax, minSegmentMax, maxSegmentMax)
	case c.SmallObjectCompactInterval < 0:
		return fmt.Errorf("small_object_compact_interval (%v) must not be negative", c.SmallObjectCompactInterval)
	case c.ShutdownTimeout <= 0:
		return fmt.Errorf("shutdown_timeout (%v) must be positive", c.ShutdownTimeout)
	}
	if c.AdvertiseAddr != "" {
		if _, _, err := net.SplitHostPort(c.AdvertiseAddr); err != nil {
			return fmt.Errorf("advertise_addr (%q) must be ip:port: %v", c.AdvertiseAddr, err)
		}
	}
	return nil
}
