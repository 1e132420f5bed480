package meta_test

import (
	"testing"

	"stratus/internal/testutil"
	"stratus/meta/metatest"
)

// TestMain fails the package if goroutines of meta or raft outlive the tests.
func TestMain(m *testing.M) { testutil.MainCheckingLeaks(m, metatest.LeakMarks...) }
