package main

import (
	"fmt"
	"os"
	"testing"

	"stratus/internal/testutil"
)

// TestMain stops what tests share across the binary (the console tests' browser and
// server) after they all ran.
func TestMain(m *testing.M) {
	stop := testutil.WatchTimeout()
	code := m.Run()
	stop()
	if err := stopConsoleFixtures(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}
