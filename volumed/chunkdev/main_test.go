package chunkdev

import (
	"testing"

	"stratus/internal/testutil"
)

// TestMain fails the package if goroutines of a device outlive the tests: Detach must wait
// for the repairer and every call must wait for what it started.
func TestMain(m *testing.M) { testutil.MainCheckingLeaks(m, "stratus/volumed/chunkdev.") }
