// Package testutil holds helpers shared by tests across Stratus: a logger that writes to the
// test's log, and eventual assertions that replace sleeps.
package testutil

import (
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
// in this process returned. The caller binds it later, so the port comes from below the
// kernel's ephemeral range: the ports bind(:0) and outgoing connections are given come from
// that range, and any process could take one there between this check and the caller's
// bind. Below it only explicit binds take ports, and picking at random keeps other test
// processes doing the same from picking the same one.
func FreeAddr(t testing.TB, ip string) string {
	t.Helper()
	// Above the compute daemon's SSH ports (22200–22999, and 23200–23999 in its tests).
	low, high := 24000, ephemeralLow()
	for range 1000 {
		var addr string
		if high-low >= 1000 {
			addr = net.JoinHostPort(ip, strconv.Itoa(low+rand.IntN(high-low)))
		} else {
			addr = net.JoinHostPort(ip, "0") // the range is unusually low: let the kernel pick
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			if errors.Is(err, syscall.EADDRINUSE) {
				continue
			}
			t.Fatalf("listen on %s: %v", addr, err)
		}
		addr = ln.Addr().String()
		ln.Close()
		if _, taken := handedOut.LoadOrStore(addr, true); !taken {
			return addr
		}
	}
	t.Fatalf("no fresh port on %s after 1000 tries", ip)
	return ""
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's default when it
// cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(fields[0])
	if err != nil {
		return 32768
	}
	return n
}
