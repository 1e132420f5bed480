package metatest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"stratus/internal/pki"
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
	// TLS runs the cluster with mutual TLS from a cluster CA made for it: nodes hold role meta
	// certificates, and Client and NodeClient present an admin certificate (ClientAs another).
	TLS bool
}

// Cluster is a running in-process meta cluster. Stop and Restart are not safe for concurrent
// use; the rest is.
type Cluster struct {
	t     testing.TB
	opts  Options
	Net   *FaultNet
	Nodes []*Node
	// PKI is the directory of the cluster CA and certificates when Options.TLS is set.
	PKI string

	idMu sync.Mutex
	ids  map[string]*pki.Identity
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
	if opts.TLS {
		c.PKI = t.TempDir()
	}
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
	if c.PKI != "" {
		cfg.Identity = c.Identity(pki.IssueRequest{Role: pki.RoleMeta, Name: n.ID, Hosts: []string{"127.0.0.1"}})
	}
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

// Identity issues (or reuses) a certificate of the cluster CA; Options.TLS must be set.
func (c *Cluster) Identity(req pki.IssueRequest) *pki.Identity {
	c.t.Helper()
	c.idMu.Lock()
	defer c.idMu.Unlock()
	if id := c.ids[req.Name]; id != nil {
		return id
	}
	ids, err := pki.Ensure(c.PKI, "metatest", req)
	if err != nil {
		c.t.Fatalf("identity %s: %v", req.Name, err)
	}
	if c.ids == nil {
		c.ids = map[string]*pki.Identity{}
	}
	c.ids[req.Name] = ids[0]
	return ids[0]
}

// Client returns a client of every node; t.Cleanup closes it.
func (c *Cluster) Client() *client.Client {
	c.t.Helper()
	return c.ClientAs(pki.RoleAdmin)
}

// ClientAs returns a client of every node that presents a certificate of role (with TLS;
// without, the role is ignored).
func (c *Cluster) ClientAs(role pki.Role) *client.Client {
	c.t.Helper()
	var eps []string
	for _, n := range c.Nodes {
		eps = append(eps, n.Addr)
	}
	return c.newClient(client.DefaultConfig(eps...), role)
}

// NodeClient returns an admin's client of node i only.
func (c *Cluster) NodeClient(i int) *client.Client {
	c.t.Helper()
	return c.newClient(client.DefaultConfig(c.Nodes[i].Addr), pki.RoleAdmin)
}

func (c *Cluster) newClient(cfg client.Config, role pki.Role) *client.Client {
	c.t.Helper()
	if c.PKI != "" {
		cfg.TLS = c.Identity(pki.IssueRequest{Role: role, Name: "test-" + string(role)}).ClientTLS(pki.RoleMeta)
	}
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
	if c.PKI != "" {
		cfg.TLS = c.Identity(pki.IssueRequest{Role: pki.RoleAdmin, Name: "test-admin"}).ClientTLS(pki.RoleMeta)
	}
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
