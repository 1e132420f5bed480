package metatest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"stratus/internal/testutil"
	"stratus/meta"
	"stratus/meta/client"
)

// ClusterKey is the cluster key of test clusters.
var ClusterKey = []byte("metatest-cluster-key-32-bytes!!!")

// Config returns a node config tuned for tests: short Raft timeouts so failover takes about a
// second, and no logging.
func Config() meta.Config {
	cfg := meta.DefaultConfig()
	cfg.ClusterKey = ClusterKey
	cfg.HeartbeatTimeout = 500 * time.Millisecond
	cfg.ElectionTimeout = 500 * time.Millisecond
	cfg.LeaderLeaseTimeout = 250 * time.Millisecond
	cfg.CommitTimeout = 20 * time.Millisecond
	cfg.ApplyTimeout = 5 * time.Second
	cfg.FSMMmapBytes = 16 << 20
	return cfg
}

// Options shape a test cluster.
type Options struct {
	Nodes int // number of voters; default 3
	// Configure, if set, adjusts each node's config (after Config, before the node starts).
	Configure func(*meta.Config)
	// Quiet drops the nodes' logs instead of sending them to t.Log.
	Quiet bool
}

// Cluster is a running in-process meta cluster. Stop and Restart are not safe for concurrent
// use; the rest is.
type Cluster struct {
	t     testing.TB
	opts  Options
	Net   *FaultNet
	Nodes []*Node
}

// Node is one member of a Cluster.
type Node struct {
	ID       string
	Addr     string
	Dir      string
	Registry *prometheus.Registry // the current run's metrics

	cancel context.CancelFunc
	done   chan error
}

// Running reports whether the node is started.
func (n *Node) Running() bool { return n.cancel != nil }

// New starts a cluster: node 0 bootstraps, the others join through it. It returns once every
// node is ready; t.Cleanup stops them.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	c := &Cluster{t: t, opts: opts, Net: NewFaultNet()}
	dirs := make([]string, opts.Nodes)
	for i := range dirs {
		dirs[i] = t.TempDir()
	}
	t.Cleanup(c.Close) // after TempDir, so nodes stop before their directories are removed
	for i := 0; i < opts.Nodes; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		n := &Node{ID: fmt.Sprintf("m%d", i), Addr: ln.Addr().String(), Dir: dirs[i]}
		c.Nodes = append(c.Nodes, n)
		c.start(n, ln, i == 0)
		if i == 0 {
			c.waitReady(n)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = c.NodeClient(0).Join(ctx, n.ID, n.Addr)
		cancel()
		if err != nil {
			t.Fatalf("join %s: %v", n.ID, err)
		}
		c.waitReady(n)
	}
	return c
}

// StartUnjoined starts a node that is in no cluster (not bootstrapped, not joined).
func StartUnjoined(t testing.TB) *Cluster {
	t.Helper()
	c := &Cluster{t: t, opts: Options{Nodes: 1}, Net: NewFaultNet()}
	dir := t.TempDir()
	t.Cleanup(c.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	n := &Node{ID: "loner", Addr: ln.Addr().String(), Dir: dir}
	c.Nodes = append(c.Nodes, n)
	c.start(n, ln, false)
	return c
}

func (c *Cluster) start(n *Node, ln net.Listener, bootstrap bool) {
	c.t.Helper()
	cfg := Config()
	cfg.NodeID = n.ID
	cfg.DataDir = n.Dir
	cfg.Bootstrap = bootstrap
	cfg.Dial = c.Net.Dialer(n.Addr)
	if !c.opts.Quiet {
		cfg.Logger = testutil.Logger(c.t).With("test_node", n.ID)
	}
	n.Registry = prometheus.NewRegistry()
	cfg.Registerer = n.Registry
	if c.opts.Configure != nil {
		c.opts.Configure(&cfg)
	}
	srv, err := meta.New(cfg, ln)
	if err != nil {
		ln.Close()
		c.t.Fatalf("new node %s: %v", n.ID, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.done = make(chan error, 1)
	go func() { n.done <- srv.Run(ctx) }()
}

func (c *Cluster) waitReady(n *Node) {
	c.t.Helper()
	testutil.Eventually(c.t, 20*time.Second, func() error {
		st, err := c.Status(n)
		if err != nil {
			return err
		}
		if st.LeaderID == "" {
			return fmt.Errorf("node %s has no leader", n.ID)
		}
		return nil
	})
}

// Stop stops node i and waits for it to exit.
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	n := c.Nodes[i]
	if n.cancel == nil {
		return
	}
	n.cancel()
	n.cancel = nil
	if err := <-n.done; err != nil {
		c.t.Errorf("node %s: %v", n.ID, err)
	}
}

// Restart starts a stopped node i again on its old address and data.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	n := c.Nodes[i]
	var ln net.Listener
	testutil.Eventually(c.t, 10*time.Second, func() error {
		var err error
		ln, err = net.Listen("tcp", n.Addr)
		return err
	})
	c.start(n, ln, false)
}

// Close stops every node.
func (c *Cluster) Close() {
	for i := range c.Nodes {
		c.Stop(i)
	}
}

// Client returns a client of every node; t.Cleanup closes it.
func (c *Cluster) Client() *client.Client {
	c.t.Helper()
	var eps []string
	for _, n := range c.Nodes {
		eps = append(eps, n.Addr)
	}
	return c.newClient(client.DefaultConfig(eps...))
}

// NodeClient returns a client of node i only.
func (c *Cluster) NodeClient(i int) *client.Client {
	c.t.Helper()
	return c.newClient(client.DefaultConfig(c.Nodes[i].Addr))
}

func (c *Cluster) newClient(cfg client.Config) *client.Client {
	cl, err := client.New(cfg)
	if err != nil {
		c.t.Fatalf("meta client: %v", err)
	}
	c.t.Cleanup(func() { cl.Close() })
	return cl
}

// Status asks node n for its status, without retries.
func (c *Cluster) Status(n *Node) (client.Status, error) {
	cfg := client.DefaultConfig(n.Addr)
	cfg.CallTimeout, cfg.RetryTimeout = time.Second, time.Second
	cl, err := client.New(cfg)
	if err != nil {
		return client.Status{}, err
	}
	defer cl.Close()
	return cl.Status(context.Background())
}

// Leader waits up to timeout for a running node outside exclude to report itself leader, and
// returns its index.
func (c *Cluster) Leader(timeout time.Duration, exclude ...int) int {
	c.t.Helper()
	leader := -1
	testutil.Eventually(c.t, timeout, func() error {
		for i, n := range c.Nodes {
			if !n.Running() || contains(exclude, i) {
				continue
			}
			if st, err := c.Status(n); err == nil && st.State == "Leader" {
				leader = i
				return nil
			}
		}
		return errors.New("no leader")
	})
	return leader
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
