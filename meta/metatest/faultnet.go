package metatest

import (
	"errors"
	"net"
	"sync"
	"time"
)

// ErrPartitioned is returned by dials between nodes that a FaultNet has separated.
var ErrPartitioned = errors.New("metatest: partitioned")

// FaultNet carries the traffic between nodes (Raft and forwarded requests) and can cut a node
// off from its peers. Clients dial nodes directly, so a test can still talk to a partitioned
// node and watch it fail to commit.
type FaultNet struct {
	mu       sync.Mutex
	isolated map[string]bool
	conns    map[*faultConn]struct{}
}

// NewFaultNet returns a network with no faults.
func NewFaultNet() *FaultNet {
	return &FaultNet{isolated: map[string]bool{}, conns: map[*faultConn]struct{}{}}
}

// Dialer returns the dial function for the node at from (meta.Config.Dial).
func (f *FaultNet) Dialer(from string) func(network, addr string, timeout time.Duration) (net.Conn, error) {
	return func(network, addr string, timeout time.Duration) (net.Conn, error) {
		f.mu.Lock()
		cut := f.isolated[from] || f.isolated[addr]
		f.mu.Unlock()
		if cut {
			return nil, &net.OpError{Op: "dial", Net: network, Err: ErrPartitioned}
		}
		c, err := net.DialTimeout(network, addr, timeout)
		if err != nil {
			return nil, err
		}
		fc := &faultConn{Conn: c, f: f, from: from, to: addr}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.isolated[from] || f.isolated[addr] {
			c.Close()
			return nil, &net.OpError{Op: "dial", Net: network, Err: ErrPartitioned}
		}
		f.conns[fc] = struct{}{}
		return fc, nil
	}
}

// Isolate cuts the node at addr off from every other node and closes their connections.
func (f *FaultNet) Isolate(addr string) {
	f.mu.Lock()
	f.isolated[addr] = true
	var cut []*faultConn
	for c := range f.conns {
		if c.from == addr || c.to == addr {
			cut = append(cut, c)
		}
	}
	f.mu.Unlock()
	for _, c := range cut {
		c.Close()
	}
}

// Heal reconnects the node at addr.
func (f *FaultNet) Heal(addr string) {
	f.mu.Lock()
	delete(f.isolated, addr)
	f.mu.Unlock()
}

type faultConn struct {
	net.Conn
	f        *FaultNet
	from, to string
}

func (c *faultConn) Close() error {
	c.f.mu.Lock()
	delete(c.f.conns, c)
	c.f.mu.Unlock()
	return c.Conn.Close()
}
