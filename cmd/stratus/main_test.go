package main

import (
	"fmt"
	"os"
	"testing"
)

// TestMain stops what tests share across the binary (the console tests' browser and
// server) after they all ran.
func TestMain(m *testing.M) {
	code := m.Run()
	if err := stopConsoleFixtures(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}
