// Package deptest checks the dependency directions of docs/architecture.md: a package
// that reaches what it must not fails here, not in review.
package deptest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// deps lists every package path pkg imports, directly or not.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

func TestRingIsPure(t *testing.T) {
	for _, d := range deps(t, "stratus/ring") {
		if d != "stratus/ring" && strings.HasPrefix(d, "stratus/") {
			t.Errorf("ring imports %s: it may import nothing of ours", d)
		}
		if slices.Contains([]string{"net/http", "log/slog", "log", "github.com/prometheus/client_golang/prometheus"}, d) {
			t.Errorf("ring imports %s: it does no network, logging or metrics", d)
		}
	}
}

// TestECIsPure: the fragment format is shared by the proxy and objectd, so like the ring it
// is a library of bytes in and out.
func TestECIsPure(t *testing.T) {
	for _, d := range deps(t, "stratus/ec") {
		if d != "stratus/ec" && strings.HasPrefix(d, "stratus/") {
			t.Errorf("ec imports %s: it may import nothing of ours", d)
		}
		if slices.Contains([]string{"net/http", "log/slog", "log", "github.com/prometheus/client_golang/prometheus"}, d) {
			t.Errorf("ec imports %s: it does no network, logging or metrics", d)
		}
	}
}

// libraryEdges are the direct imports docs/architecture.md allows between parts: the S3
// layer and the volume daemon run the data path in-process, and the compute daemon reads
// images through a proxy of its own.
var libraryEdges = map[string][]string{
	"s3api":    {"proxy"},
	"volumed":  {"proxy"},
	"computed": {"proxy"},
}

// TestDaemonsUseClients: a part reaches another part only through its client package,
// except along the library edges above.
func TestDaemonsUseClients(t *testing.T) {
	parts := []string{"objectd", "meta", "proxy", "s3api", "volumed", "computed", "ec2api", "bench"}
	out, err := exec.Command("go", "list", "stratus/...").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "stratus/cmd/") || strings.HasPrefix(pkg, "stratus/internal/") {
			continue
		}
		own := strings.Split(strings.TrimPrefix(pkg, "stratus/"), "/")[0]
		for _, d := range deps(t, pkg) {
			segs := strings.Split(strings.TrimPrefix(d, "stratus/"), "/")
			if !strings.HasPrefix(d, "stratus/") || segs[0] == own || !slices.Contains(parts, segs[0]) {
				continue
			}
			if len(segs) >= 2 && segs[1] == "client" || slices.Contains(libraryEdges[own], segs[0]) && len(segs) == 1 {
				continue
			}
			t.Errorf("%s imports %s: use %s/client", pkg, d, segs[0])
		}
	}
}

// TestInternalIsNotProduct: only commands and tests start whole daemons; a product
// package never imports the test harness.
func TestInternalIsNotProduct(t *testing.T) {
	out, err := exec.Command("go", "list", "stratus/...").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, d := range deps(t, pkg) {
			if d == "stratus/internal/testcluster" && pkg != d {
				t.Errorf("%s imports the test cluster harness", pkg)
			}
		}
	}
}

// TestConsoleIsAClient: the web console reaches the cluster only through the public S3 and
// EC2 APIs (and the Admin its command gives it), so it imports no part of ours; only the
// SigV4 package's failure limiter, for its own logins.
func TestConsoleIsAClient(t *testing.T) {
	for _, d := range deps(t, "stratus/console") {
		if d != "stratus/console" && d != "stratus/internal/sigv4" && strings.HasPrefix(d, "stratus/") {
			t.Errorf("console imports %s: it is a client of the public APIs only", d)
		}
	}
}
