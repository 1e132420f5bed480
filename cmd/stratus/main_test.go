package main

import (
	"os"
	"testing"
)

// TestMain stops what tests share across the binary (the console tests' browser and
// server) after they all ran.
func TestMain(m *testing.M) {
	code := m.Run()
	stopConsoleFixtures()
	os.Exit(code)
}
