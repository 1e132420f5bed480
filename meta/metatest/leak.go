package metatest

import (
	"runtime"
	"strings"
	"time"
)

// Leaks waits up to timeout for every goroutine running meta or raft code to exit, and returns
// the stacks of those still running (empty if none). Call it from TestMain after m.Run: every
// node's Run must wait for everything it started.
func Leaks(timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		leaked := leaked()
		if leaked == "" || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(50 * time.Millisecond) // polling for exit; nothing to wait on
	}
}

func leaked() string {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "metatest.leaked") {
			continue
		}
		if strings.Contains(g, "stratus/meta.") || strings.Contains(g, "stratus/meta/client.") || strings.Contains(g, "hashicorp/raft") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}
