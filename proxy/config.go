package proxy

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config tunes the data path.
type Config struct {
	// ChunkBytes is the size of the buffer a write is streamed through: the memory one
	// request holds. Larger chunks cost fewer system calls per byte.
	ChunkBytes int
	// MaxLagBytes is how far one replica's stream may trail the body (rounded up to whole
	// chunks) before the write waits for it. Each replica writes at its own pace from a ring
	// of chunk buffers, so a replica that is briefly slower does not slow the others; one
	// that falls this far behind holds the write for at most the post-quorum grace, once a
	// quorum is past it, and is then dropped (a handoff gets its copy after the write). A
	// write holds ChunkBytes + MaxLagBytes (rounded up) of memory, whatever its length;
	// zero streams in lockstep through one buffer.
	MaxLagBytes int
	// ConnectTimeout bounds how long a write waits for a replica to take its first bytes
	// before replacing it with a handoff. Lower fails over faster but gives up on a node
	// that is merely slow.
	ConnectTimeout time.Duration
	// NodeTimeout bounds calls that move no object content (delete, head), per node, and
	// how long a stream may make no progress.
	NodeTimeout time.Duration
	// PostQuorumTimeout is how long a write or delete that a quorum has stored waits for
	// the remaining replicas (or twice what the quorum took, if that is longer). One slow
	// or unreachable node must not hold up every write; replication brings it what it
	// missed.
	PostQuorumTimeout time.Duration
	// SlowReadTimeout is how long a read waits for a replica's first answer before it also
	// asks the next one (and takes whichever answers first). Lower cuts tail latency when a
	// node hangs, at the price of duplicate reads when nodes are merely busy.
	SlowReadTimeout time.Duration
	// ReadAttempts is how many devices a read asks, primaries first then handoffs,
	// before giving up. Zero means twice the replica count.
	ReadAttempts int
	// ErrorLimit is how many consecutive failures make a node skipped, for
	// ErrorSuppression; a node that answers resets its count.
	ErrorLimit       int
	ErrorSuppression time.Duration
	// MaxClockSkew bounds the timestamps the proxy's clock takes from storage nodes'
	// answers: one further ahead of this proxy's wall clock is not followed. Set it to the
	// nodes' max_clock_skew, which refuses writes dated further ahead of their clocks; a
	// proxy whose clock is slower than the nodes' by more than this does not catch up.
	MaxClockSkew time.Duration
	// Registerer receives the proxy's metrics (stratus_proxy_*, metrics.go); nil registers
	// none. Proxies that share a Registerer collide: New fails for the second.
	Registerer prometheus.Registerer `json:"-"`
}

// DefaultConfig returns the configuration for a typical cluster.
func DefaultConfig() Config {
	return Config{
		ChunkBytes:        1 << 20,
		MaxLagBytes:       1 << 20,
		ConnectTimeout:    5 * time.Second,
		NodeTimeout:       10 * time.Second,
		PostQuorumTimeout: 500 * time.Millisecond,
		SlowReadTimeout:   time.Second,
		ErrorLimit:        10,
		ErrorSuppression:  60 * time.Second,
		MaxClockSkew:      10 * time.Minute,
	}
}

// Validate reports what is wrong with the configuration.
func (c Config) Validate() error {
	switch {
	case c.ChunkBytes < 4<<10 || c.ChunkBytes > 64<<20:
		return fmt.Errorf("proxy: chunk_bytes (%d) must be between 4 KiB and 64 MiB", c.ChunkBytes)
	case c.MaxLagBytes < 0 || c.MaxLagBytes > 256<<20:
		return fmt.Errorf("proxy: max_lag_bytes (%d) must be between 0 and 256 MiB", c.MaxLagBytes)
	case c.ConnectTimeout <= 0 || c.NodeTimeout <= 0 || c.PostQuorumTimeout <= 0 || c.SlowReadTimeout <= 0:
		return fmt.Errorf("proxy: connect_timeout, node_timeout, post_quorum_timeout and slow_read_timeout must be positive")
	case c.ReadAttempts < 0 || c.ErrorLimit < 1 || c.ErrorSuppression < 0:
		return fmt.Errorf("proxy: read_attempts ≥ 0, error_limit ≥ 1 and error_suppression ≥ 0 required")
	case c.MaxClockSkew <= 0:
		return fmt.Errorf("proxy: max_clock_skew (%v) must be positive", c.MaxClockSkew)
	}
	return nil
}
