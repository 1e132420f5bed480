package chaos

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// link is a TCP forwarder that stands in front of a storage node: the ring names the
// link's address, so every proxy and peer reaches the node through it. Cutting the link
// makes the node unreachable the way a network partition does: connections in flight
// break, and new ones are accepted but never answered (a black hole), so callers find
// out only through their own deadlines.
type link struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newLink(listen, target string) (*link, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	l := &link{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	l.wg.Add(1)
	go l.serve()
	return l, nil
}

func (l *link) addr() string { return l.ln.Addr().String() }

func (l *link) serve() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.handle(c)
		}()
	}
}

// track registers c so that cut and close can break it; false means the link is cut (or
// closing) and c was not registered.
func (l *link) track(cs ...net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut || l.conns == nil {
		return false
	}
	for _, c := range cs {
		l.conns[c] = struct{}{}
	}
	return true
}

func (l *link) untrack(cs ...net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range cs {
		delete(l.conns, c)
		c.Close()
	}
}

func (l *link) handle(c net.Conn) {
	if !l.track(c) {
		l.blackhole(c)
		return
	}
	up, err := net.DialTimeout("tcp", l.target, 2*time.Second)
	if err != nil {
		// The node is down: refuse the way its own port would.
		l.untrack(c)
		return
	}
	if !l.track(up) {
		l.untrack(c, up)
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
	l.untrack(c, up)
}

// blackhole holds c open, reading and dropping whatever arrives, until the link heals or
// closes; the caller sees a connection that never answers.
func (l *link) blackhole(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 32<<10)
	for {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, err := c.Read(buf)
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			return
		}
		l.mu.Lock()
		open := l.cut && l.conns != nil
		l.mu.Unlock()
		if !open {
			return
		}
	}
}

// setCut cuts (true) or heals (false) the link.
func (l *link) setCut(cut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = cut
	if cut {
		for c := range l.conns {
			c.Close()
		}
	}
}

func (l *link) close() {
	l.ln.Close()
	l.mu.Lock()
	for c := range l.conns {
		c.Close()
	}
	l.conns = nil
	l.mu.Unlock()
	l.wg.Wait()
}
