package meta

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"stratus/internal/pki"
)

// Config configures a meta node.
type Config struct {
	// jsonOnly makes the node speak only JSON and read every body as JSON, as nodes did before
	// the binary wire form; tests of rolling upgrades set it (export_test.go).
	jsonOnly bool

	// NodeID names this node in the Raft configuration. It must be unique and stable across
	// restarts; the node's address may change.
	NodeID string
	// DataDir holds the Raft log (raft.db), snapshots (snapshots/) and the state machine
	// (fsm.db, rebuilt from the latest snapshot and the log at every start).
	DataDir string
	// AdvertiseAddr is the address other nodes and clients use to reach this node; empty
	// uses the listener's address.
	AdvertiseAddr string
	// Bootstrap makes this node the single voter of a new cluster if it has no Raft state
	// yet. It is ignored once state exists, so it is safe to leave on.
	Bootstrap bool
	// ClusterKey (32 bytes) seals secret values (access keys) before they enter the log.
	// Every node of a cluster needs the same key; losing it loses the secrets.
	ClusterKey []byte
	// OldClusterKeys still open values sealed before the key was rotated; new seals always
	// use ClusterKey. Rotating: give every node the new key with the old one here, restart
	// them one at a time; values are resealed with the new key as they are rewritten.
	OldClusterKeys [][]byte
	// Identity is the node's certificate and the cluster CA: the node serves its API and Raft
	// over mutual TLS, checks every caller's role, and presents it to other members. Nil
	// serves plain TCP and trusts every caller, which only tests and benchmarks do.
	Identity *pki.Identity
	// SecretReadsPerSecond and SecretReadBurst limit how fast one caller may read secrets
	// (the proxy's signature checks); a caller far above what caching proxies need is
	// enumerating keys.
	SecretReadsPerSecond float64
	SecretReadBurst      int

	// HeartbeatTimeout and ElectionTimeout bound how long a follower waits before starting an
	// election: lower values fail over faster but risk needless elections on a busy host.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	// LeaderLeaseTimeout is how long a leader stays leader without hearing from a quorum.
	LeaderLeaseTimeout time.Duration
	// CommitTimeout bounds the delay before a follower learns of a commit with no new entries.
	CommitTimeout time.Duration
	// SnapshotInterval is how often the node checks whether to snapshot; SnapshotThreshold
	// is how many new log entries trigger one. TrailingLogs entries are kept after a
	// snapshot, so a follower that lags less than that catches up from the log, and one that
	// lags more receives the snapshot.
	SnapshotInterval  time.Duration
	SnapshotThreshold uint64
	TrailingLogs      uint64
	// RetainSnapshots is the number of snapshots kept on disk.
	RetainSnapshots int

	// MaxBatchRequests caps the requests batched into one Raft log entry, and MaxBatchBytes
	// its encoded size (a single larger request still forms a batch of its own). Larger batches raise throughput under load; the batcher never waits
	// to fill a batch, so they do not add latency when idle.
	MaxBatchRequests int
	MaxBatchBytes    int
	// MaxInflightBatches is how many batches may be in Raft at once; beyond it new requests
	// queue and form the next batch. Raft itself writes all entries queued at the leader in one
	// disk write, so a generous limit costs little and saves requests from waiting a whole
	// round for a slot; a small one builds bigger entries.
	MaxInflightBatches int
	// ApplyTimeout bounds how long a write waits to be committed before failing with
	// ErrUnavailable (a leader without quorum).
	ApplyTimeout time.Duration
	// DedupWindow is how long applied request IDs are remembered; a retry later than this is
	// applied again. It must exceed the clients' retry timeout.
	DedupWindow time.Duration
	// WatchHistory is the number of recent changes kept in memory for watchers; a watcher
	// further behind is told to resync.
	WatchHistory int
	// FSMMmapBytes is the initial memory map of the state machine's database. A snapshot
	// holds a read transaction while it streams, and the database cannot grow its map while
	// one is open, so a map larger than the data avoids stalling writes during snapshots.
	FSMMmapBytes int

	// Logger receives the node's logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the node's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Gatherer, if set, is served at /metrics on the node's listener.
	Gatherer prometheus.Gatherer
	// Dial opens connections to other nodes; nil uses net.Dialer. Tests inject faults here.
	Dial func(network, addr string, timeout time.Duration) (net.Conn, error)
}

// DefaultConfig returns a Config with production defaults; NodeID and DataDir must be set.
func DefaultConfig() Config {
	return Config{
		HeartbeatTimeout:   1000 * time.Millisecond,
		ElectionTimeout:    1000 * time.Millisecond,
		LeaderLeaseTimeout: 500 * time.Millisecond,
		CommitTimeout:      50 * time.Millisecond,
		SnapshotInterval:   30 * time.Second,
		SnapshotThreshold:  16384,
		TrailingLogs:       10240,
		RetainSnapshots:    2,
		MaxBatchRequests:   512,
		MaxBatchBytes:      4 << 20,
		MaxInflightBatches: 16,
		ApplyTimeout:       10 * time.Second,
		DedupWindow:        10 * time.Minute,
		WatchHistory:       65536,
		FSMMmapBytes:       1 << 30,

		SecretReadsPerSecond: 100,
		SecretReadBurst:      1000,
	}
}

// Validate reports whether the config is usable; messages name the field and the bound.
func (c Config) Validate() error {
	var errs []error
	if c.NodeID == "" {
		errs = append(errs, errors.New("node_id is required"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir is required"))
	}
	if len(c.ClusterKey) != 32 {
		errs = append(errs, fmt.Errorf("cluster_key is %d bytes, want 32", len(c.ClusterKey)))
	}
	for i, k := range c.OldClusterKeys {
		if len(k) != 32 {
			errs = append(errs, fmt.Errorf("old_cluster_keys[%d] is %d bytes, want 32", i, len(k)))
		}
	}
	if c.SecretReadsPerSecond <= 0 || c.SecretReadBurst < 1 {
		errs = append(errs, fmt.Errorf("secret_reads_per_second (%g) must be positive and secret_read_burst (%d) at least 1", c.SecretReadsPerSecond, c.SecretReadBurst))
	}
	if c.HeartbeatTimeout < 5*time.Millisecond || c.ElectionTimeout < 5*time.Millisecond {
		errs = append(errs, fmt.Errorf("heartbeat_timeout (%v) and election_timeout (%v) must be at least 5ms", c.HeartbeatTimeout, c.ElectionTimeout))
	}
	if c.LeaderLeaseTimeout <= 0 || c.LeaderLeaseTimeout > c.HeartbeatTimeout {
		errs = append(errs, fmt.Errorf("leader_lease_timeout (%v) must be positive and at most heartbeat_timeout (%v)", c.LeaderLeaseTimeout, c.HeartbeatTimeout))
	}
	if c.CommitTimeout <= 0 || c.SnapshotInterval <= 0 {
		errs = append(errs, fmt.Errorf("commit_timeout (%v) and snapshot_interval (%v) must be positive", c.CommitTimeout, c.SnapshotInterval))
	}
	if c.SnapshotThreshold == 0 || c.RetainSnapshots < 1 {
		errs = append(errs, fmt.Errorf("snapshot_threshold (%d) and retain_snapshots (%d) must be at least 1", c.SnapshotThreshold, c.RetainSnapshots))
	}
	if c.MaxBatchRequests < 1 || c.MaxInflightBatches < 1 {
		errs = append(errs, fmt.Errorf("max_batch_requests (%d) and max_inflight_batches (%d) must be at least 1", c.MaxBatchRequests, c.MaxInflightBatches))
	}
	if c.MaxBatchBytes < 1<<10 {
		errs = append(errs, fmt.Errorf("max_batch_bytes (%d) must be at least 1024", c.MaxBatchBytes))
	}
	if c.ApplyTimeout <= 0 {
		errs = append(errs, fmt.Errorf("apply_timeout (%v) must be positive", c.ApplyTimeout))
	}
	if c.DedupWindow < time.Minute {
		errs = append(errs, fmt.Errorf("dedup_window (%v) must be at least 1m", c.DedupWindow))
	}
	if c.WatchHistory < 1 {
		errs = append(errs, fmt.Errorf("watch_history (%d) must be at least 1", c.WatchHistory))
	}
	if c.FSMMmapBytes < 0 {
		errs = append(errs, fmt.Errorf("fsm_mmap_bytes (%d) must not be negative", c.FSMMmapBytes))
	}
	return errors.Join(errs...)
}
