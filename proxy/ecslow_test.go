package proxy_test

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"
)

// TestECSlowNodeDoesNotHoldLargeWrite: a node that stops taking bytes in the middle of a
// large write (here: takes none at all, past what the sockets buffer) costs the write
// about the post-quorum timeout, not the node timeout: its stream is dropped once it
// trails the others by its whole buffer, and the read goes around it.
func TestECSlowNodeDoesNotHoldLargeWrite(t *testing.T) {
	st, p := ecCluster(t, 6, 1)
	hung := st.Nodes[4]
	hung.Stop()
	ln, err := net.Listen("tcp", hung.Addr)
	if err != nil {
		t.Skipf("cannot take over %s: %v", hung.Addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	body := payload(48<<20, 17)
	start := time.Now()
	res, err := putEC(t, p, "b/large-hung", body)
	took := time.Since(start)
	if err != nil || res.Replicas != 5 {
		t.Fatalf("put with a hung node: %+v %v", res, err)
	}
	t.Logf("48 MiB written with a node taking nothing in %v", took)
	if took > 5*time.Second {
		t.Fatalf("put took %v with a hung node (node timeout 10s)", took)
	}
	got, err := readEC(t, p, "b/large-hung", res.Timestamp, int64(len(body)), nil)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("read with a hung node: %v", err)
	}
}
