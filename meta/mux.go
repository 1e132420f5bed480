package meta

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// A meta node serves Raft and its HTTP API on one listener, so a node has one address. Raft
// connections announce themselves with raftMagic as their first byte (no HTTP request starts
// with it); every other connection is HTTP. Part of the wire protocol; never change it.
const raftMagic byte = 0xfe

// sniffTimeout bounds how long an accepted connection may take to send its first byte.
const sniffTimeout = 10 * time.Second

// mux splits one listener into a Raft stream layer and an HTTP listener.
type mux struct {
	ln   net.Listener
	log  *slog.Logger
	raft *chanListener
	http *chanListener
	wg   sync.WaitGroup // sniffing goroutines

	mu    sync.Mutex
	conns map[*trackedConn]struct{} // inbound Raft connections, closed at shutdown
}

func newMux(ln net.Listener, advertise net.Addr, log *slog.Logger) *mux {
	done := make(chan struct{})
	var once sync.Once
	closeAll := func() { once.Do(func() { close(done) }) }
	return &mux{
		conns: map[*trackedConn]struct{}{},
		ln:    ln,
		log:   log,
		raft:  &chanListener{ch: make(chan net.Conn), done: done, close: closeAll, addr: advertise},
		http:  &chanListener{ch: make(chan net.Conn), done: done, close: closeAll, addr: advertise},
	}
}

// serve accepts connections until the listener is closed, then waits for its goroutines.
func (m *mux) serve() error {
	defer m.wg.Wait()
	for {
		conn, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.raft.done:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.route(conn)
		}()
	}
}

func (m *mux) route(conn net.Conn) {
	var b [1]byte
	_ = conn.SetReadDeadline(time.Now().Add(sniffTimeout))
	if _, err := conn.Read(b[:]); err != nil {
		conn.Close()
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	target := m.http
	if b[0] == raftMagic {
		target = m.raft
		tc := &trackedConn{Conn: conn, m: m}
		m.mu.Lock()
		m.conns[tc] = struct{}{}
		m.mu.Unlock()
		conn = tc
	} else {
		conn = &peekedConn{Conn: conn, first: b[0], has: true}
	}
	select {
	case target.ch <- conn:
	case <-target.done:
		conn.Close()
	}
}

// close stops accepting and unblocks both sub-listeners.
func (m *mux) close() error {
	m.raft.close()
	return m.ln.Close()
}

// closeRaftConns closes inbound Raft connections that raft's transport left open: its
// handlers block reading them until the peer writes or hangs up.
func (m *mux) closeRaftConns() {
	m.mu.Lock()
	conns := make([]*trackedConn, 0, len(m.conns))
	for c := range m.conns {
		conns = append(conns, c)
	}
	m.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// trackedConn removes itself from the mux's set when closed.
type trackedConn struct {
	net.Conn
	m *mux
}

func (c *trackedConn) Close() error {
	c.m.mu.Lock()
	delete(c.m.conns, c)
	c.m.mu.Unlock()
	return c.Conn.Close()
}

// chanListener is a net.Listener fed by the mux.
type chanListener struct {
	ch    chan net.Conn
	done  chan struct{}
	close func()
	addr  net.Addr
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error   { l.close(); return nil }
func (l *chanListener) Addr() net.Addr { return l.addr }

// peekedConn replays the byte the mux read.
type peekedConn struct {
	net.Conn
	first byte
	has   bool
}

func (c *peekedConn) Read(p []byte) (int, error) {
	if c.has && len(p) > 0 {
		p[0] = c.first
		c.has = false
		return 1, nil
	}
	return c.Conn.Read(p)
}

// streamLayer is the raft.StreamLayer of a node: inbound Raft connections come from the mux,
// outbound ones are dialled and marked with raftMagic.
type streamLayer struct {
	*chanListener
	dial func(network, addr string, timeout time.Duration) (net.Conn, error)
}

var _ raft.StreamLayer = (*streamLayer)(nil)

// Dial implements raft.StreamLayer.
func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	conn, err := s.dial("tcp", string(addr), timeout)
	if err != nil {
		return nil, err
	}
	_ = conn.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := conn.Write([]byte{raftMagic}); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetWriteDeadline(time.Time{})
	return conn, nil
}

// addr is a net.Addr for an advertised host:port.
type addr string

func (a addr) Network() string { return "tcp" }
func (a addr) String() string  { return string(a) }
