// Package testcluster starts real Stratus daemons inside a test process, on 127.0.0.1
// with random ports and temporary directories, and stops them when the test ends. Tests
// of the layers above talk to them through the same clients production uses.
package testcluster

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"stratus/internal/pki"
	"stratus/internal/testutil"
	"stratus/objectd"
	objclient "stratus/objectd/client"
	"stratus/ring"
)

// StorageOptions shapes a set of storage nodes.
type StorageOptions struct {
	Nodes     int // default 3
	Devices   int // per node, default 1
	Replicas  int // default 3
	PartPower int // default 6
	// PKI, if set, is a cluster trust directory (pki.Ensure; e.g. a metatest cluster's PKI):
	// each node gets a storage-node certificate of its CA and serves mutual TLS, so callers
	// need a certificate of the same CA with a role the route allows.
	PKI string
}

// Storage is a set of objectd nodes with a ring over their devices. Node i sits in zone
// i+1 on its own 127.0.0.x address where the system allows it, so replicas spread one
// per node.
type Storage struct {
	Nodes []*Node
	Ring  *ring.Ring
}

// Node is one running objectd.
type Node struct {
	Addr    string
	Dir     string
	Devices []string

	t    testing.TB
	ring *ring.Ring
	id   *pki.Identity // nil: plain HTTP
	gate *stallGate    // Stall and Resume; it outlives restarts
	mu   sync.Mutex
	srv  *objectd.Server
	stop func()
}

// StartStorage starts the nodes and hands each the ring; they stop when the test ends.
func StartStorage(t testing.TB, opts StorageOptions) *Storage {
	t.Helper()
	opts.Nodes = orDefault(opts.Nodes, 3)
	opts.Devices = orDefault(opts.Devices, 1)
	opts.Replicas = orDefault(opts.Replicas, 3)
	opts.PartPower = orDefault(opts.PartPower, 6)
	st := &Storage{}
	b, err := ring.NewBuilder(ring.BuilderConfig{PartPower: opts.PartPower, Replicas: opts.Replicas})
	if err != nil {
		t.Fatal(err)
	}
	lns := make([]net.Listener, opts.Nodes)
	for i := range opts.Nodes {
		lns[i] = listen(t, i)
		n := &Node{Addr: lns[i].Addr().String(), Dir: t.TempDir(), t: t, gate: newStallGate()}
		if opts.PKI != "" {
			host, _, _ := net.SplitHostPort(n.Addr)
			ids, err := pki.Ensure(opts.PKI, "testcluster", pki.IssueRequest{Role: pki.RoleObjectd, Name: fmt.Sprintf("objectd-%d", i), Hosts: []string{host}})
			if err != nil {
				t.Fatal(err)
			}
			n.id = ids[0]
		}
		for d := range opts.Devices {
			name := fmt.Sprintf("d%d", d)
			n.Devices = append(n.Devices, name)
			if err := objectd.InitDevice(filepath.Join(n.Dir, name)); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Add(ring.Device{Region: 1, Zone: i + 1, Host: n.Addr, Name: name, Weight: 100}); err != nil {
				t.Fatal(err)
			}
		}
		st.Nodes = append(st.Nodes, n)
	}
	if _, err := b.Rebalance(ring.RebalanceOptions{Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if st.Ring, err = b.Ring(); err != nil {
		t.Fatal(err)
	}
	for i, n := range st.Nodes {
		n.ring = st.Ring
		n.start(lns[i])
	}
	return st
}

// listen takes a random port on 127.0.0.(i+1), falling back to 127.0.0.1.
func listen(t testing.TB, i int) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:0", i%250+1))
	if err != nil {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func (n *Node) start(ln net.Listener) {
	n.t.Helper()
	cfg := objectd.DefaultConfig()
	cfg.DevicesDir = n.Dir
	cfg.MountCheck = false
	cfg.ReplicationInterval = 0
	cfg.AuditInterval = 0
	cfg.ReconstructInterval = 0
	cfg.AdvertiseAddr = n.Addr
	cfg.Identity = n.id
	srv, err := objectd.New(cfg, testutil.Logger(n.t).With("node", n.Addr), prometheus.NewRegistry())
	if err != nil {
		n.t.Fatal(err)
	}
	srv.SetRing(n.ring)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, stallListener{Listener: ln, gate: n.gate}) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				n.t.Errorf("objectd %s: %v", n.Addr, err)
			}
		})
	}
	n.mu.Lock()
	n.srv, n.stop = srv, stop
	n.mu.Unlock()
	n.t.Cleanup(stop)
}

// Stop stops the node; its data stays.
func (n *Node) Stop() {
	n.mu.Lock()
	stop := n.stop
	n.mu.Unlock()
	stop()
}

// Restart starts a stopped node again on the same address and data.
func (n *Node) Restart() {
	n.t.Helper()
	var ln net.Listener
	var err error
	// The port was just released; another process may race for it, so retry briefly.
	for range 50 {
		if ln, err = net.Listen("tcp", n.Addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		n.t.Fatalf("relisten on %s: %v", n.Addr, err)
	}
	n.start(ln)
}

// Server returns the running objectd.
func (n *Node) Server() *objectd.Server {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.srv
}

// ReplicateAll runs one replication pass on every node.
func (s *Storage) ReplicateAll(ctx context.Context) error {
	for _, n := range s.Nodes {
		if _, err := n.Server().ReplicateOnce(ctx); err != nil {
			return fmt.Errorf("replicate %s: %w", n.Addr, err)
		}
	}
	return nil
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// Holds reports whether node n holds the current version of name on a device the ring
// makes a primary for it.
func (s *Storage) Holds(ctx context.Context, n *Node, name string) bool {
	p := s.Ring.Partition(name)
	cfg := objclient.Config{Timeout: 5 * time.Second}
	if n.id != nil {
		cfg.TLS = n.id.ClientTLS(pki.RoleObjectd) // a storage node's certificate reads any object
	}
	cl := objclient.New(cfg)
	defer cl.CloseIdleConnections()
	for _, d := range s.Ring.Primaries(p, nil) {
		if d.Host != n.Addr {
			continue
		}
		if _, err := cl.Head(ctx, objclient.Target{Host: d.Host, Device: d.Name, Partition: uint32(p)}, name); err == nil {
			return true
		}
	}
	return false
}

// PolicyRing builds another ring over the same devices with replicas replicas (an
// erasure-coded policy's ring has K+M), for the proxy's SetPolicyRing. Nodes do not need
// it: they keep its objects apart by the ring name requests carry.
func (s *Storage) PolicyRing(t testing.TB, replicas int) *ring.Ring {
	t.Helper()
	b, err := ring.NewBuilder(ring.BuilderConfig{PartPower: s.Ring.PartPower(), Replicas: replicas})
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range s.Nodes {
		for _, d := range n.Devices {
			if _, err := b.Add(ring.Device{Region: 1, Zone: i + 1, Host: n.Addr, Name: d, Weight: 100}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := b.Rebalance(ring.RebalanceOptions{Seed: 2}); err != nil {
		t.Fatal(err)
	}
	r, err := b.Ring()
	if err != nil {
		t.Fatal(err)
	}
	return r
}
