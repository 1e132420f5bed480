package objectd

import (
	"net"
	"net/http"
	"sync"
)

// unusedConns tracks the connections that have not carried a request yet, so that shutdown
// can close them at once. http.Server.Shutdown leaves such a connection open for 5 s, since it
// cannot tell one about to send its first request from one that never will, and clients leave
// them behind routinely: a Go transport that dials for a request another connection then
// serves keeps the new one, unused, in its pool. Peers replicating to a node hold a few, and
// without this every stop of a node that took part in replication lasted 5 s longer.
type unusedConns struct {
	mu sync.Mutex
	m  map[net.Conn]struct{}
}

// track is the server's ConnState hook.
func (u *unusedConns) track(c net.Conn, st http.ConnState) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if st == http.StateNew {
		if u.m == nil {
			u.m = map[net.Conn]struct{}{}
		}
		u.m[c] = struct{}{}
		return
	}
	delete(u.m, c)
}

// closeAll closes every connection that has carried no request. Shutdown runs it once the
// listeners are closed; a request racing it on such a connection fails as it would a moment
// later against the closed listener, and clients retry elsewhere.
func (u *unusedConns) closeAll() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for c := range u.m {
		c.Close()
	}
	clear(u.m)
}
