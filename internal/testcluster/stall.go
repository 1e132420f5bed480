package testcluster

import (
	"net"
	"sync"
)

// stallGate freezes a node's connections as SIGSTOP freezes a process: while it is shut, the
// node reads and writes nothing on any connection, old or new, and the kernel goes on
// accepting connections and buffering what peers send until the socket buffers fill.
type stallGate struct {
	mu   sync.Mutex
	open chan struct{} // closed while the gate is open
}

func newStallGate() *stallGate {
	g := &stallGate{open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *stallGate) shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		g.open = make(chan struct{})
	default: // already shut
	}
}

func (g *stallGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

// wait returns once the gate is open, or closed is.
func (g *stallGate) wait(closed <-chan struct{}) {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
	case <-closed:
	}
}

// stallListener hands out connections that pass through a stallGate.
type stallListener struct {
	net.Listener
	gate *stallGate
}

func (l stallListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &stallConn{Conn: c, gate: l.gate, closed: make(chan struct{})}, nil
}

type stallConn struct {
	net.Conn
	gate      *stallGate
	closeOnce sync.Once
	closed    chan struct{}
}

func (c *stallConn) Read(b []byte) (int, error) {
	c.gate.wait(c.closed)
	return c.Conn.Read(b)
}

func (c *stallConn) Write(b []byte) (int, error) {
	c.gate.wait(c.closed)
	return c.Conn.Write(b)
}

func (c *stallConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// Stall freezes the node as SIGSTOP would: it stops reading and writing on every
// connection, while the kernel still accepts new ones and buffers what callers send, until
// Resume (or the end of the test, before the node stops). Its background work
// (replication) is not frozen; tests run it by hand.
func (n *Node) Stall() {
	n.gate.shut()
	n.t.Cleanup(n.Resume)
}

// Resume undoes Stall.
func (n *Node) Resume() { n.gate.release() }
