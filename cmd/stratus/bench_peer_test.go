package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stratus/bench"
	"stratus/internal/testcluster"
)

// TestBenchSuitePeer runs the suite's listing cases against one Stratus and a second as the
// peer: every case must have run against each, the peer's right after Stratus's, with a
// ratio for each.
func TestBenchSuitePeer(t *testing.T) {
	a := testcluster.StartS3(t, testcluster.S3Options{})
	b := testcluster.StartS3(t, testcluster.S3Options{})
	out := t.TempDir()
	printed := mustStratus(t, "bench", "suite", "--endpoint", a.Endpoint, "--access-key", a.AccessKey, "--secret-key", a.SecretKey,
		"--peer", b.Endpoint, "--peer-access-key", b.AccessKey, "--peer-secret-key", b.SecretKey,
		"--cases", "list", "--list-objects", "20", "--list-duration", "200ms", "--concurrency", "1", "--out", out)
	if !strings.Contains(printed, "× peer") {
		t.Fatalf("the table has no ratio column:\n%s", printed)
	}
	files, _ := filepath.Glob(filepath.Join(out, "*.json"))
	if len(files) != 1 {
		t.Fatalf("results: %v", files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	checkMachineJSON(t, string(data))
	var res bench.SuiteResult
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	if res.Peer != b.Endpoint || len(res.Runs) != 3 || len(res.PeerRuns) != 3 || len(res.PeerRatios) != 3 {
		t.Fatalf("peer %q, %d runs, %d peer runs, %d ratios", res.Peer, len(res.Runs), len(res.PeerRuns), len(res.PeerRatios))
	}
	for i, r := range res.Runs {
		p := res.PeerRuns[i]
		if r.Config.Endpoint != a.Endpoint || p.Config.Endpoint != b.Endpoint {
			t.Errorf("case %d ran against %s and %s", i, r.Config.Endpoint, p.Config.Endpoint)
		}
		if r.Config.Prefixes != p.Config.Prefixes || r.Config.FullListing != p.Config.FullListing || p.Started.Before(r.Started) {
			t.Errorf("case %d: the peer ran another case, or before Stratus: %+v, %+v", i, r.Config, p.Config)
		}
		if len(r.Ops) == 0 || len(p.Ops) == 0 || r.Ops[0].Count == 0 || p.Ops[0].Count == 0 || r.Ops[0].Errors+p.Ops[0].Errors != 0 {
			t.Errorf("case %d: listings %+v, peer %+v", i, r.Ops, p.Ops)
		}
		if res.PeerRatios[i] == nil || *res.PeerRatios[i] <= 0 {
			t.Errorf("case %d: ratio %v", i, res.PeerRatios[i])
		}
	}
}
