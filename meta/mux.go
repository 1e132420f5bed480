package meta

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"stratus/internal/pki"
)

// A meta node serves Raft and its HTTP API on one listener, so a node has one address. Over
// TLS, Raft connections ask for the application protocol raftProto and every other
// connection is HTTP. Without TLS (tests), Raft connections announce themselves with
// raftMagic as their first byte (no HTTP request starts with it). Part of the wire protocol;
// never change either.
const (
	raftMagic byte = 0xfe
	raftProto      = "stratus-raft/1"
)

// sniffTimeout bounds how long an accepted connection may take to send its first byte.
const sniffTimeout = 10 * time.Second

// mux splits one listener into a Raft stream layer and an HTTP listener.
type mux struct {
	ln   net.Listener
	log  *slog.Logger
	id   *pki.Identity // nil: plain TCP
	tls  *tls.Config
	raft *chanListener
	http *chanListener
	wg   sync.WaitGroup // sniffing goroutines

	mu    sync.Mutex
	conns map[*trackedConn]struct{} // inbound Raft connections, closed at shutdown
}

func newMux(ln net.Listener, advertise net.Addr, id *pki.Identity, log *slog.Logger) *mux {
	done := make(chan struct{})
	var once sync.Once
	closeAll := func() { once.Do(func() { close(done) }) }
	var tc *tls.Config
	if id != nil {
		tc = id.ServerTLS()
		tc.NextProtos = []string{"http/1.1", raftProto}
	}
	return &mux{
		conns: map[*trackedConn]struct{}{},
		ln:    ln,
		log:   log,
		id:    id,
		tls:   tc,
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
	if m.tls != nil {
		m.routeTLS(conn)
		return
	}
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

// routeTLS completes the handshake and routes by the protocol the client asked for. A Raft
// connection must come from a member (role meta); HTTP callers are checked per request.
func (m *mux) routeTLS(conn net.Conn) {
	tc := tls.Server(conn, m.tls)
	ctx, cancel := context.WithTimeout(context.Background(), sniffTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		m.log.Debug("tls handshake", "remote", conn.RemoteAddr().String(), "err", err)
		conn.Close()
		return
	}
	target := m.http
	if cs := tc.ConnectionState(); cs.NegotiatedProtocol == raftProto {
		p, err := m.id.Verify(cs.PeerCertificates)
		if err == nil {
			err = pki.Permit(p, "replicate the catalog", pki.RoleMeta)
		}
		if err != nil {
			m.log.Warn("raft connection refused", "remote", conn.RemoteAddr().String(), "err", err)
			tc.Close()
			return
		}
		target = m.raft
		t := &trackedConn{Conn: tc, m: m}
		m.mu.Lock()
		m.conns[t] = struct{}{}
		m.mu.Unlock()
		conn = t
	} else {
		conn = tc // as a *tls.Conn, so the HTTP server fills in each request's TLS state
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
// outbound ones are dialled and marked with raftMagic, or over TLS asked for raftProto.
type streamLayer struct {
	*chanListener
	dial func(network, addr string, timeout time.Duration) (net.Conn, error)
	tls  *tls.Config // nil: plain TCP
}

var _ raft.StreamLayer = (*streamLayer)(nil)

// Dial implements raft.StreamLayer.
func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	conn, err := s.dial("tcp", string(addr), timeout)
	if err != nil {
		return nil, err
	}
	if s.tls != nil {
		cfg := s.tls.Clone()
		cfg.NextProtos = []string{raftProto}
		if host, _, err := net.SplitHostPort(string(addr)); err == nil {
			cfg.ServerName = host
		}
		tc := tls.Client(conn, cfg)
		_ = tc.SetDeadline(time.Now().Add(timeout))
		if err := tc.Handshake(); err != nil {
			conn.Close()
			return nil, fmt.Errorf("raft handshake with %s: %w", addr, err)
		}
		_ = tc.SetDeadline(time.Time{})
		return tc, nil
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
