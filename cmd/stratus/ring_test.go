package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// stratus runs the CLI in-process and returns its standard output.
func stratus(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func mustStratus(t *testing.T, args ...string) string {
	t.Helper()
	out, err := stratus(t, args...)
	if err != nil {
		t.Fatalf("stratus %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// TestRingLifecycle walks the operator's path from the README: create, add, rebalance,
// write, add a host, rebalance, diff, lookup.
func TestRingLifecycle(t *testing.T) {
	dir := t.TempDir()
	b := filepath.Join(dir, "object.builder")
	mustStratus(t, "ring", "create", b, "10", "3", "1")
	mustStratus(t, "ring", "add", b,
		"r1z1-10.0.1.1:6200/sda", "100", "r1z1-10.0.1.1:6200/sdb", "100",
		"r1z2-10.0.2.1:6200/sda", "100", "r1z2-10.0.2.1:6200/sdb", "100",
		"r1z3-10.0.3.1:6200/sda", "100", "r1z3-10.0.3.1:6200/sdb", "100")
	out := mustStratus(t, "ring", "rebalance", b, "--seed", "1")
	if !strings.Contains(out, "placed 3072 new") {
		t.Fatalf("rebalance output:\n%s", out)
	}
	mustStratus(t, "ring", "write-ring", b)
	old := filepath.Join(dir, "old.ring")
	data, err := os.ReadFile(filepath.Join(dir, "object.ring"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(old, data, 0o644)

	mustStratus(t, "ring", "add", b, "--region", "1", "--zone", "1", "--ip", "10.0.1.2", "--device", "sda", "--weight", "100")
	mustStratus(t, "ring", "add", b, "--region", "1", "--zone", "2", "--ip", "10.0.2.2", "--device", "sda", "--weight", "100")
	mustStratus(t, "ring", "add", b, "--region", "1", "--zone", "3", "--ip", "10.0.3.2", "--device", "sda", "--weight", "100")
	var rep struct {
		Moved   int     `json:"moved"`
		Balance float64 `json:"balance_pct"`
		Seed    uint64  `json:"seed"`
	}
	if err := json.Unmarshal([]byte(mustStratus(t, "ring", "rebalance", b, "--json", "--seed", "2")), &rep); err != nil {
		t.Fatal(err)
	}
	// Three of nine equal devices are new: a third of 3072 partition-replicas.
	if rep.Moved < 1000 || rep.Moved > 1075 || rep.Balance > 1 || rep.Seed != 2 {
		t.Fatalf("after adding 3 of 9 devices: %+v", rep)
	}
	mustStratus(t, "ring", "write-ring", b)
	var df struct {
		Moved    int     `json:"moved"`
		Fraction float64 `json:"fraction"`
	}
	if err := json.Unmarshal([]byte(mustStratus(t, "ring", "diff", "--json", old, filepath.Join(dir, "object.ring"))), &df); err != nil {
		t.Fatal(err)
	}
	if df.Moved != rep.Moved {
		t.Fatalf("diff says %d moved, rebalance said %d", df.Moved, rep.Moved)
	}
	show := mustStratus(t, "ring", "show", b)
	for _, want := range []string{"1024 partitions, 3 replicas", "10.0.3.2:6200", "balance"} {
		if !strings.Contains(show, want) {
			t.Fatalf("show lacks %q:\n%s", want, show)
		}
	}
	look := mustStratus(t, "ring", "lookup", filepath.Join(dir, "object.ring"), "photos/cat.jpg")
	if strings.Count(look, "primary") != 3 || strings.Count(look, "handoff") != 3 {
		t.Fatalf("lookup:\n%s", look)
	}
	mustStratus(t, "ring", "validate", filepath.Join(dir, "object.ring"))
	mustStratus(t, "ring", "dispersion", b)
}

// TestRingBadInput: each mistake is a one-line error and leaves the builder as it was.
func TestRingBadInput(t *testing.T) {
	dir := t.TempDir()
	b := filepath.Join(dir, "object.builder")
	mustStratus(t, "ring", "create", b, "8", "3", "1")
	mustStratus(t, "ring", "add", b, "r1z1-10.0.0.1:6200/sda", "100", "r1z1-10.0.0.1:6200/sdb", "100")
	before, _ := os.ReadFile(b)
	for _, args := range [][]string{
		{"ring", "create", b, "8", "3", "1"},                                             // exists
		{"ring", "create", filepath.Join(dir, "x"), "25", "3", "1"},                      // part power
		{"ring", "add", b, "r1z1-10.0.0.1:6200/sda", "100"},                              // duplicate
		{"ring", "add", b, "r1z1-10.0.0.1:6200/sdc", "-5"},                               // negative weight
		{"ring", "add", b, "10.0.0.1:6200/sdc", "5"},                                     // malformed
		{"ring", "add", b, "r1z1-10.0.0.3:6200/sdc", "5", "r1z1-10.0.0.1:6200/sda", "5"}, // second is a duplicate: nothing added
		{"ring", "remove", b, "d9"},                                                      // unknown
		{"ring", "remove", b, "10.0.0.1"},                                                // two matches without --yes
		{"ring", "set-weight", b, "d0", "-1"},
		{"ring", "rebalance", b},  // two devices, three replicas
		{"ring", "write-ring", b}, // not rebalanced
	} {
		out, err := stratus(t, args...)
		if err == nil {
			t.Errorf("stratus %s: no error; output %q", strings.Join(args, " "), out)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("stratus %s: error spans lines: %q", strings.Join(args, " "), err)
		}
		if after, _ := os.ReadFile(b); !bytes.Equal(before, after) {
			t.Fatalf("stratus %s changed the builder", strings.Join(args, " "))
		}
	}
	os.WriteFile(filepath.Join(dir, "trunc.ring"), before[:len(before)/2], 0o644)
	if _, err := stratus(t, "ring", "validate", filepath.Join(dir, "trunc.ring")); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("truncated file: %v", err)
	}
}
