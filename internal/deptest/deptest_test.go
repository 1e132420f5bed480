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

// TestDaemonsUseClients: a daemon reaches another daemon only through its client package.
func TestDaemonsUseClients(t *testing.T) {
	daemons := []string{"objectd", "meta", "proxy", "s3api", "volumed", "computed", "ec2api"}
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
			parts := strings.Split(strings.TrimPrefix(d, "stratus/"), "/")
			if !strings.HasPrefix(d, "stratus/") || parts[0] == own || !slices.Contains(daemons, parts[0]) {
				continue
			}
			if len(parts) < 2 || parts[1] != "client" {
				t.Errorf("%s imports %s: use %s/client", pkg, d, parts[0])
			}
		}
	}
}
