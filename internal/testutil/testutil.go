// Package testutil holds helpers shared by tests across Stratus: a logger that writes to the
// test's log, and eventual assertions that replace sleeps.
package testutil

import (
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// Logger returns a logger whose output appears only when the test fails (or with -v).
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// Eventually calls check until it returns nil or timeout passes, then fails the test with the
// last error. It polls with a short, growing interval so fast conditions finish fast.
func Eventually(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := time.Millisecond
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %v", timeout, err)
		}
		time.Sleep(wait)
		if wait < 100*time.Millisecond {
			wait *= 2
		}
	}
}

// Payload returns n deterministic pseudo-random bytes: the same n and seed give the same
// bytes, so a test can regenerate what it wrote instead of keeping it.
func Payload(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

var handedOut sync.Map // addresses FreeAddr returned, never returned again

// FreeAddr returns ip:port with a port that was free a moment ago and that no earlier call
// in this process returned. The kernel may hand the same port to consecutive bind(:0)
// calls once each is released, so two addresses picked in a row could otherwise collide
// when a process listens on both.
func FreeAddr(t testing.TB, ip string) string {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatalf("listen on %s: %v", ip, err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if _, taken := handedOut.LoadOrStore(addr, true); !taken {
			return addr
		}
	}
	t.Fatalf("no fresh port on %s after 100 tries", ip)
	return ""
}
