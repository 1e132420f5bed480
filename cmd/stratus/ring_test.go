package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"stratus/internal/testutil"
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
		Balance float64 `json:"balance_ratio"`
		Seed    uint64  `json:"seed"`
	}
	if err := json.Unmarshal([]byte(mustStratus(t, "ring", "rebalance", b, "--json", "--seed", "2")), &rep); err != nil {
		t.Fatal(err)
	}
	// Three of nine equal devices are new: a third of 3072 partition-replicas.
	if rep.Moved < 1000 || rep.Moved > 1075 || rep.Balance > 0.01 || rep.Seed != 2 {
		t.Fatalf("after adding 3 of 9 devices: %+v", rep)
	}
	mustStratus(t, "ring", "write-ring", b)
	var df struct {
		Moved    int     `json:"moved"`
		Fraction float64 `json:"moved_ratio"`
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

// TestRingShowJSON: `ring show --json` parses, uses snake_case keys in base units, and
// gives null, not +Inf, for the balance of a device of weight 0 — both while it still
// holds partitions (min_part_hours pins them) and once it is empty.
func TestRingShowJSON(t *testing.T) {
	dir := t.TempDir()
	b := filepath.Join(dir, "object.builder")
	mustStratus(t, "ring", "create", b, "8", "3", "1")
	mustStratus(t, "ring", "add", b,
		"r1z1-10.0.1.1:6200/sda", "100", "r1z2-10.0.2.1:6200/sda", "100", "r1z3-10.0.3.1:6200/sda", "100",
		"r1z1-10.0.1.2:6200/sda", "100", "r1z2-10.0.2.2:6200/sda", "100")
	mustStratus(t, "ring", "rebalance", b, "--seed", "1")
	// Removing d4 moves its replicas at once and pins their partitions for an hour, so
	// d3, set to weight 0 in the same pass, keeps the replicas it shares with d4.
	mustStratus(t, "ring", "set-weight", b, "d3", "0")
	mustStratus(t, "ring", "remove", b, "d4")
	checkJSON(t, mustStratus(t, "ring", "rebalance", b, "--seed", "2", "--json"))

	type device struct {
		ID           int      `json:"id"`
		Weight       float64  `json:"weight"`
		Parts        int      `json:"parts"`
		PartsWanted  float64  `json:"parts_wanted"`
		BalanceRatio *float64 `json:"balance_ratio"`
	}
	var show struct {
		Kind          string                  `json:"kind"`
		Version       uint64                  `json:"version"`
		Partitions    int                     `json:"partitions"`
		BalanceRatio  *float64                `json:"balance_ratio"`
		OverloadRatio *float64                `json:"overload_ratio"`
		Devices       []device                `json:"devices"`
		Levels        []struct{ Name string } `json:"levels"`
	}
	decode := func() {
		t.Helper()
		out := mustStratus(t, "ring", "show", b, "--json")
		checkJSON(t, out)
		show.Devices = nil
		if err := json.Unmarshal([]byte(out), &show); err != nil {
			t.Fatal(err)
		}
		if show.Kind != "builder" || show.Partitions != 256 || show.BalanceRatio == nil ||
			show.OverloadRatio == nil || len(show.Levels) != 4 || len(show.Devices) != 4 {
			t.Fatalf("show --json:\n%s", out)
		}
		for _, d := range show.Devices {
			if d.ID == 3 {
				continue
			}
			if d.Weight != 100 || d.PartsWanted != 256 || d.BalanceRatio == nil {
				t.Fatalf("d%d = %+v, want weight 100, 256 parts wanted, a balance_ratio", d.ID, d)
			}
		}
	}
	decode()
	d3 := show.Devices[3]
	if d3.ID != 3 || d3.Weight != 0 || d3.PartsWanted != 0 || d3.Parts == 0 || d3.BalanceRatio != nil {
		t.Fatalf("draining d3 = %+v, want weight 0, some parts, balance_ratio null", d3)
	}
	if show := mustStratus(t, "ring", "show", b); !strings.Contains(show, "drain") {
		t.Fatalf("text show does not mark d3 as draining:\n%s", show)
	}

	mustStratus(t, "ring", "pretend-min-part-hours-passed", b)
	mustStratus(t, "ring", "rebalance", b, "--seed", "3")
	decode()
	if d3 := show.Devices[3]; d3.Parts != 0 || d3.BalanceRatio != nil {
		t.Fatalf("drained d3 = %+v, want no parts, balance_ratio null", d3)
	}
	for _, d := range show.Devices[:3] {
		if *d.BalanceRatio != 0 {
			t.Fatalf("after the drain d%d = %+v, want balance_ratio 0", d.ID, d)
		}
	}
}

// TestRingJSONConvention: every ring command's --json output parses and follows the
// convention checkJSON checks.
func TestRingJSONConvention(t *testing.T) {
	dir := t.TempDir()
	b := filepath.Join(dir, "object.builder")
	r := filepath.Join(dir, "object.ring")
	for _, args := range [][]string{
		{"create", b, "8", "3", "1", "--overload", "10%"},
		{"add", b, "r1z1-10.0.1.1:6200/sda", "100", "r1z2-10.0.2.1:6200/sda", "100",
			"r1z3-10.0.3.1:6200/sda", "100", "r1z1-10.0.1.2:6200/sda_ssd", "100"},
		{"rebalance", b, "--seed", "1"},
		{"write-ring", b},
		{"set-weight", b, "d3", "0"},
		{"set-overload", b, "0.05"},
		{"set-min-part-hours", b, "2"},
		{"pretend-min-part-hours-passed", b},
		{"rebalance", b, "--seed", "2"},
		{"show", b},
		{"show", r},
		{"dispersion", b},
		{"validate", b},
		{"validate", r},
		{"lookup", r, "photos/cat.jpg"},
		{"diff", r, r},
		{"remove", b, "d3"},
	} {
		t.Run(args[0], func(t *testing.T) {
			checkJSON(t, mustStratus(t, append([]string{"ring", "--json"}, args...)...))
		})
	}
}

// checkJSON fails unless out follows the machine-output convention.
func checkJSON(t *testing.T, out string) {
	t.Helper()
	testutil.MachineJSON(t, []byte(out))
}
