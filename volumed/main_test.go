package volumed_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"stratus/meta/metatest"
)

// TestMain fails the package if goroutines of meta, raft or volumed (a Keep loop) outlive
// the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		leaked := metatest.Leaks(10 * time.Second)
		buf := make([]byte, 1<<20)
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, "stratus/volumed.") && !strings.Contains(g, "volumed_test.TestMain") {
				leaked += "\n\n" + g
			}
		}
		if leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}
