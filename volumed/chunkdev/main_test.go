package chunkdev

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the package if goroutines of a device outlive the tests: Detach must wait
// for the repairer and every call must wait for what it started.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leaks(10 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

func leaks(timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		buf := make([]byte, 4<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var out []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "chunkdev.leaks") || strings.Contains(g, "chunkdev.TestMain") {
				continue
			}
			if strings.Contains(g, "stratus/volumed/chunkdev.") {
				out = append(out, g)
			}
		}
		if len(out) == 0 || time.Now().After(deadline) {
			return strings.Join(out, "\n\n")
		}
		time.Sleep(50 * time.Millisecond) // polling for exit; nothing to wait on
	}
}
