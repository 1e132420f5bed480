package volumed_test

import (
	"testing"

	"stratus/internal/testutil"
	"stratus/meta/metatest"
)

// TestMain fails the package if goroutines of meta, raft or volumed (a Keep loop, a served
// device) outlive the tests.
func TestMain(m *testing.M) {
	testutil.MainCheckingLeaks(m, append(metatest.LeakMarks, "stratus/volumed.", "stratus/volumed/chunkdev.", "stratus/volumed/nbd.")...)
}
