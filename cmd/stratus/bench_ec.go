package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ecServerArgs are the flags of the suite's server for its erasure-coded cases: devices
// enough for every fragment, the policy, and no reconstructor, so that fragments the
// degraded reads' cases delete stay lost while they are measured; and errors only in its
// log, which would otherwise warn of every read that went around them.
func ecServerArgs(layout string, devices int) ([]string, error) {
	k, m, err := parseECLayout(layout)
	if err != nil {
		return nil, err
	}
	if devices < k+m {
		return nil, fmt.Errorf("--ec %s needs --ec-devices %d or more", layout, k+m)
	}
	return []string{"--devices", strconv.Itoa(devices), "--ec", layout, "--reconstruct-interval", "0", "--log-level", "error"}, nil
}

// loseFragments returns the suite's way to make the fragments of a policy's objects
// unreadable: it deletes the policy's tree on the server's first n devices, which holds
// one fragment archive of every object (each device is in every partition of the EC ring
// when there are K+M devices; with more, of the objects placed there).
func (s *benchServer) loseFragments(policy string) func(n int) error {
	return loseFragmentsUnder(s.data, policy)
}

// loseFragmentsUnder is loseFragments for the server whose data directory is data.
func loseFragmentsUnder(data, policy string) func(n int) error {
	return func(n int) error {
		for i := 1; i <= n; i++ {
			dir := filepath.Join(data, "devices", fmt.Sprintf("d%d", i), "objects-"+policy)
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
		}
		return nil
	}
}

// parseSizes reads a comma-separated list of sizes (parseSize).
func parseSizes(s string) ([]int64, error) {
	var out []int64
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := parseSize(f)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}
