package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v2"

	"stratus/computed/daemon"
	"stratus/computed/driver"
)

// describingRegisterer registers on a registry and remembers the name of every metric each
// collector describes, so vectors that have no series yet are known too.
type describingRegisterer struct {
	*prometheus.Registry
	mu    sync.Mutex
	names map[string]bool
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (d *describingRegisterer) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 64)
	go func() { c.Describe(ch); close(ch) }()
	d.mu.Lock()
	for desc := range ch {
		if m := fqName.FindStringSubmatch(desc.String()); m != nil {
			d.names[m[1]] = true
		}
	}
	d.mu.Unlock()
	return d.Registry.Register(c)
}

func (d *describingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := d.Register(c); err != nil {
			panic(err)
		}
	}
}

// exportedMetrics returns the name of every metric the daemons can export: those of the
// all-in-one server (meta, objectd, proxy, S3, lifecycle, volumed, EC2 API, and the Go and
// process collectors), described as they register, and the compute daemon's, which the
// server runs only with a hypervisor.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	rec := &describingRegisterer{names: map[string]bool{}}
	wrapServerRegisterer = func(r *prometheus.Registry) prometheus.Registerer {
		rec.Registry = r
		return rec
	}
	t.Cleanup(func() { wrapServerRegisterer = nil })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	f := serverFlags{dataDir: filepath.Join(dir, "data"), devices: 1, replicas: 1, partPower: 6,
		metaListen: "127.0.0.1:0", objListen: "127.0.0.1:0", nbdListen: "127.0.0.1:0", ec2Listen: "127.0.0.1:0", volumeHost: "h1",
		front: frontFlags{listen: "127.0.0.1:0", region: "us-east-1", lifecycleInterval: time.Hour}}
	_, srv := startServer(t, ctx, f)
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	if srv.err != nil {
		t.Fatalf("server: %v", srv.err)
	}
	names := rec.names
	// The collectors registered before the wrapper (Go runtime, process) show in a gather.
	fams, err := rec.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		names[f.GetName()] = true
	}

	crec := &describingRegisterer{Registry: prometheus.NewRegistry(), names: names}
	cfg := daemon.DefaultConfig()
	cfg.Host, cfg.DomainType, cfg.VCPUs, cfg.MemoryMiB, cfg.NBDAddr = "h1", driver.DomainQEMU, 1, 64, "127.0.0.1:10809"
	cfg.DataDir, cfg.Registerer = t.TempDir(), crec
	if _, err := daemon.New(cfg, nil, nil, nil); err != nil {
		t.Fatalf("compute daemon (for its metrics): %v", err)
	}
	return names
}

// metricRef matches a metric name in an expression: our own, the Go and process
// collectors', and Prometheus' own up (whether a scrape succeeded).
var metricRef = regexp.MustCompile(`\b(?:(?:stratus|go|process)_[a-z0-9_]+|up)\b`)

// checkExpr fails unless every metric expr names is exported; a histogram's _bucket, _sum
// and _count series count as its name. It returns how many names it checked.
func checkExpr(t *testing.T, where, expr string, exported map[string]bool) int {
	t.Helper()
	refs := metricRef.FindAllString(expr, -1)
	if len(refs) == 0 {
		t.Errorf("%s: expression names no metric: %s", where, expr)
	}
	for _, name := range refs {
		if exported[name] || name == "up" {
			continue
		}
		base := name
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			base = strings.TrimSuffix(base, suf)
		}
		if base == name || !exported[base] {
			t.Errorf("%s: metric %s does not exist (renamed?) in: %s", where, name, expr)
		}
	}
	return len(refs)
}

// TestDeployRulesNameRealMetrics: every expression of the Prometheus alerting rules and of
// the Grafana dashboard in deploy/ names metrics the daemons export, so renaming a metric
// without the rules that watch it fails here.
func TestDeployRulesNameRealMetrics(t *testing.T) {
	exported := exportedMetrics(t)
	if os.Getenv("STRATUS_LIST_METRICS") != "" {
		all := make([]string, 0, len(exported))
		for n := range exported {
			all = append(all, n)
		}
		slices.Sort(all)
		t.Log(strings.Join(all, "\n"))
	}
	for _, must := range []string{"stratus_meta_leader", "stratus_objectd_device_usable", "stratus_proxy_replica_requests_total",
		"stratus_s3api_requests_total", "stratus_volumed_attachments_started_total", "stratus_ec2api_compute_hosts", "stratus_computed_instances"} {
		if !exported[must] {
			t.Fatalf("the daemons started here do not export %s: the list is incomplete", must)
		}
	}
	root := filepath.Join("..", "..", "deploy")

	t.Run("alerts", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join(root, "prometheus", "stratus-alerts.yml"))
		if err != nil {
			t.Fatal(err)
		}
		var file struct {
			Groups []struct {
				Name  string `yaml:"name"`
				Rules []struct {
					Alert       string            `yaml:"alert"`
					Expr        string            `yaml:"expr"`
					For         string            `yaml:"for"`
					Labels      map[string]string `yaml:"labels"`
					Annotations map[string]string `yaml:"annotations"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		}
		if err := yaml.UnmarshalStrict(data, &file); err != nil {
			t.Fatal(err)
		}
		alerts, refs := 0, 0
		seen := map[string]bool{}
		for _, g := range file.Groups {
			for _, r := range g.Rules {
				where := fmt.Sprintf("alert %s (group %s)", r.Alert, g.Name)
				if r.Alert == "" || seen[r.Alert] {
					t.Errorf("%s: missing or duplicate alert name", where)
				}
				seen[r.Alert] = true
				if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
					t.Errorf("%s: needs a severity label and a summary annotation", where)
				}
				refs += checkExpr(t, where, r.Expr, exported)
				alerts++
			}
		}
		if alerts < 10 {
			t.Errorf("%d alerts; the file should cover at least ten conditions", alerts)
		}
		t.Logf("%d alerts, %d metric references checked", alerts, refs)
	})

	t.Run("dashboard", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join(root, "grafana", "stratus.json"))
		if err != nil {
			t.Fatal(err)
		}
		var dash struct {
			Title  string `json:"title"`
			Panels []struct {
				Title   string `json:"title"`
				Type    string `json:"type"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(data, &dash); err != nil {
			t.Fatal(err)
		}
		panels, refs := 0, 0
		for _, p := range dash.Panels {
			if p.Type == "row" {
				continue
			}
			panels++
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, q := range p.Targets {
				refs += checkExpr(t, fmt.Sprintf("panel %q", p.Title), q.Expr, exported)
			}
		}
		if panels < 8 {
			t.Errorf("%d panels; want the request rate, latency and bytes of each daemon, volumes and instances", panels)
		}
		t.Logf("%d panels, %d metric references checked", panels, refs)
	})
}
