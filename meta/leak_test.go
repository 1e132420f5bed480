package meta_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"stratus/meta/metatest"
)

// TestMain fails the package if goroutines of meta or raft outlive the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := metatest.Leaks(10 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}
