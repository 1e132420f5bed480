package testutil

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// Leaks waits up to timeout for every goroutine running code whose stack names any of marks
// (package paths followed by a dot, such as "stratus/meta.") to exit, and returns the stacks
// of those still running (empty if none).
func Leaks(timeout time.Duration, marks ...string) string {
	deadline := time.Now().Add(timeout)
	for {
		leaked := running(marks)
		if leaked == "" || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(50 * time.Millisecond) // polling for exit; nothing to wait on
	}
}

func running(marks []string) string {
	var out []string
	for _, g := range strings.Split(Stacks(), "\n\n") {
		// The goroutine asking, and TestMain waiting for it, are not leaks.
		if strings.Contains(g, "testutil.running") || strings.Contains(g, ".TestMain(") {
			continue
		}
		for _, m := range marks {
			if strings.Contains(g, m) {
				out = append(out, g)
				break
			}
		}
	}
	return strings.Join(out, "\n\n")
}

// MainCheckingLeaks runs the tests, then fails the package if goroutines of code named by
// marks outlive them (see Leaks): every Run and Close must wait for what it started. Call it
// from TestMain.
func MainCheckingLeaks(m *testing.M, marks ...string) {
	stop := WatchTimeout()
	code := m.Run()
	stop()
	if code == 0 {
		if leaked := Leaks(10*time.Second, marks...); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}
