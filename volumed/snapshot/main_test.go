package snapshot_test

import (
	"testing"

	"stratus/internal/testutil"
	"stratus/meta/metatest"
)

// TestMain fails the package if goroutines of meta, raft, objectd or this package outlive
// the tests.
func TestMain(m *testing.M) {
	testutil.MainCheckingLeaks(m, append(metatest.LeakMarks, "stratus/volumed/snapshot.", "stratus/objectd.")...)
}
