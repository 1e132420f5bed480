package main

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stratus/bench"
)

// TestServerECCases: `stratus server --devices 6 --ec 4+2` serves buckets on the policy
// ec-4-2 as soon as it is ready, and the bench suite's erasure-coded cases run against it
// without an error: PUT and GET beside the replicated policy, and GET with the fragments
// of one and two devices deleted.
func TestServerECCases(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	f := serverFlags{dataDir: filepath.Join(dir, "data"), devices: 6, replicas: 3, partPower: 6, ec: "4+2",
		metaListen: "127.0.0.1:0", objListen: "127.0.0.1:0", front: frontFlags{listen: "127.0.0.1:0", region: "us-east-1"}}
	creds, _ := startServer(t, ctx, f)
	lose := loseFragmentsUnder(f.dataDir, "ec-4-2")
	var archives []int
	res, err := bench.RunSuite(ctx, bench.SuiteConfig{Endpoint: creds.Endpoint, Region: "us-east-1", AccessKey: creds.AccessKey,
		SecretKey: creds.SecretKey, Duration: 300 * time.Millisecond, Cases: []string{"ec"}, Dir: dir,
		EC: bench.ECSuite{Policy: "ec-4-2", Replicated: "replicated-3", Sizes: []int64{200 << 10}, Concurrency: 2, Repeats: 1,
			LoseFragments: func(n int) error {
				// What the cases are about to lose must be there: the objects were erasure-coded.
				archives = append(archives, countArchives(filepath.Join(f.dataDir, "devices", fmt.Sprintf("d%d", n), "objects-ec-4-2")))
				return lose(n)
			}}})
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]bool{}
	for _, r := range res.Runs {
		labels[r.Config.Op+" "+r.Label] = true
		for _, s := range r.Ops {
			if s.Errors != 0 || s.Count == 0 {
				t.Errorf("%s %s: %d of %d failed: %v", s.Op, r.Label, s.Errors, s.Count+s.Errors, s.ErrorsByCode)
			}
		}
	}
	for _, want := range []string{"put replicated-3", "put ec-4-2", "get replicated-3", "get ec-4-2", "get ec-4-2, 1 fragment lost", "get ec-4-2, 2 fragments lost"} {
		if !labels[want] {
			t.Errorf("no run %q among %v", want, labels)
		}
	}
	if len(archives) != 2 || archives[0] == 0 || archives[1] == 0 {
		t.Errorf("fragment archives on the devices before each loss: %v; want some on each", archives)
	}
	if len(res.ECMedians) != 6 {
		t.Errorf("%d medians, want 6: %+v", len(res.ECMedians), res.ECMedians)
	}
	var md strings.Builder
	res.Markdown(&md)
	if !strings.Contains(md.String(), "| put | 200KiB | ec-4-2 | 1 |") {
		t.Errorf("markdown lacks the EC medians:\n%s", md.String())
	}
}

func countArchives(dir string) int {
	n := 0
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".data") {
			n++
		}
		return nil
	})
	return n
}

// TestServerECFlags: --ec is K+M and needs a device per fragment.
func TestServerECFlags(t *testing.T) {
	if k, m, err := parseECLayout("4+2"); err != nil || k != 4 || m != 2 {
		t.Fatalf("4+2: %d %d %v", k, m, err)
	}
	for _, bad := range []string{"4", "4+", "+2", "0+2", "a+b", "4-2"} {
		if _, _, err := parseECLayout(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := ecServerArgs("4+2", 5); err == nil || !strings.Contains(err.Error(), "--ec-devices 6") {
		t.Errorf("5 devices for 4+2: %v", err)
	}
	err := runServer(context.Background(), serverFlags{dataDir: t.TempDir(), devices: 5, replicas: 3, partPower: 6, ec: "4+2",
		metaListen: "127.0.0.1:0", objListen: "127.0.0.1:0", front: frontFlags{listen: "127.0.0.1:0", region: "us-east-1"}}, func(adminCredentials) {})
	if err == nil || !strings.Contains(err.Error(), "--devices 6") {
		t.Errorf("server with 5 devices and --ec 4+2: %v", err)
	}
}
