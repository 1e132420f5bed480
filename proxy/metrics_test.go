package proxy_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"stratus/internal/hlc"
	"stratus/internal/testcluster"
	"stratus/internal/testutil"
	"stratus/objectd/client"
	"stratus/proxy"
)

// metricsProxy returns a proxy whose metrics go to a registry of its own, and the registry.
func metricsProxy(t *testing.T, st *testcluster.Storage, edit func(*proxy.Config)) (*proxy.Proxy, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	p, _ := proxyAt(t, st, 0, func(c *proxy.Config) {
		c.Registerer = reg
		if edit != nil {
			edit(c)
		}
	})
	return p, reg
}

// sample returns the value of the proxy metric name whose labels are exactly labels
// ("op=put,result=ok"; "" for none): a counter's value or a histogram's sample count.
func sample(t *testing.T, reg *prometheus.Registry, name, labels string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := ""
			for i, l := range m.GetLabel() {
				if i > 0 {
					got += ","
				}
				got += l.GetName() + "=" + l.GetValue()
			}
			if got != labels {
				continue
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
		t.Fatalf("%s has no series {%s}", name, labels)
	}
	t.Fatalf("%s not registered", name)
	return 0
}

// TestMetricsCountReplicaRequests: writes and reads through the proxy move its counters:
// requests to each replica by outcome and their durations, handoffs taken for a node that
// is down, that node skipped once it is error-limited, and writes short of their quorum.
func TestMetricsCountReplicaRequests(t *testing.T) {
	st := testcluster.StartStorage(t, testcluster.StorageOptions{Nodes: 4})
	p, reg := metricsProxy(t, st, func(c *proxy.Config) { c.ErrorLimit = 1 })
	n := func(name, labels string) float64 { return sample(t, reg, name, labels) }

	// All nodes up: three replicas stored the write, one answered the read.
	res, err := put(t, p, "bucket/healthy", payload(100<<10, 1))
	if err != nil {
		t.Fatal(err)
	}
	if got := n("stratus_proxy_replica_requests_total", "op=put,result=ok"); got < 2 || got > 3 {
		t.Fatalf("put: %v replica requests ok, want the quorum or all three", got)
	}
	if got := n("stratus_proxy_replica_request_duration_seconds", "op=put"); got != 3 {
		t.Fatalf("put: %v durations observed, want 3", got)
	}
	if _, err := read(t, p, "bucket/healthy", res.Timestamp); err != nil {
		t.Fatal(err)
	}
	if got := n("stratus_proxy_replica_requests_total", "op=get,result=ok"); got < 1 {
		t.Fatalf("get: %v replica requests ok, want at least 1", got)
	}
	for _, op := range []string{"put", "get", "delete"} {
		if got := n("stratus_proxy_handoffs_total", "op="+op) + n("stratus_proxy_quorum_failures_total", "op="+op); got != 0 {
			t.Fatalf("%s: handoffs or quorum failures with every node up", op)
		}
	}

	// A primary down: its request fails, a handoff takes its place, and with ErrorLimit 1
	// the next request skips it.
	name := "bucket/one-down"
	down := st.Ring.Primaries(st.Ring.Partition(name), nil)[0].Host
	for _, node := range st.Nodes {
		if node.Addr == down {
			node.Stop()
		}
	}
	if _, err := put(t, p, name, payload(10, 2)); err != nil {
		t.Fatal(err)
	}
	// Refused at dial, or, on a busy machine, sent on a pooled connection to it that the
	// client had not yet seen closed: that ends in an error, not a dial error.
	downFailed := func() float64 {
		return n("stratus_proxy_replica_requests_total", "op=put,result=unreachable") +
			n("stratus_proxy_replica_requests_total", "op=put,result=error")
	}
	if got := downFailed(); got != 1 {
		t.Fatalf("%v put requests unreachable or failed, want 1 (the node that is down)", got)
	}
	if got := n("stratus_proxy_handoffs_total", "op=put"); got != 1 {
		t.Fatalf("%v put handoffs, want 1", got)
	}
	if got := n("stratus_proxy_nodes_skipped_total", ""); got != 0 {
		t.Fatalf("%v nodes skipped before the node failed", got)
	}
	if _, err := put(t, p, name, payload(10, 3)); err != nil {
		t.Fatal(err)
	}
	if got := n("stratus_proxy_nodes_skipped_total", ""); got < 1 {
		t.Fatalf("%v nodes skipped after the node failed, want at least 1", got)
	}
	if got := downFailed(); got != 1 {
		t.Fatalf("%v put requests unreachable or failed: the error-limited node was asked again", got)
	}

	// Three of four nodes down: the write cannot reach its quorum.
	for _, node := range st.Nodes[:3] {
		node.Stop()
	}
	if _, err := put(t, p, "bucket/no-quorum", payload(10, 4)); !errors.Is(err, proxy.ErrUnavailable) {
		t.Fatalf("put with one node of four up: %v, want ErrUnavailable", err)
	}
	if got := n("stratus_proxy_quorum_failures_total", "op=put"); got != 1 {
		t.Fatalf("%v put quorum failures, want 1", got)
	}
}

// TestMetricsCountClockSkewRefusals: writes the nodes refuse as dated in their future are
// counted, per replica, as refused and as clock-skew refusals; none is a quorum failure.
func TestMetricsCountClockSkewRefusals(t *testing.T) {
	st := testcluster.StartStorage(t, testcluster.StorageOptions{})
	reg := prometheus.NewRegistry()
	fast, _ := proxyAt(t, st, time.Hour, func(c *proxy.Config) { c.Registerer = reg })
	if _, err := put(t, fast, "bucket/early", payload(10, 1)); !errors.Is(err, proxy.ErrClockSkew) {
		t.Fatalf("put from a proxy an hour ahead: %v, want ErrClockSkew", err)
	}
	if got := sample(t, reg, "stratus_proxy_clock_skew_refusals_total", ""); got < 2 {
		t.Fatalf("%v clock-skew refusals, want one per replica that refused (at least 2)", got)
	}
	if got := sample(t, reg, "stratus_proxy_replica_requests_total", "op=put,result=refused"); got < 2 {
		t.Fatalf("%v put requests refused, want at least 2", got)
	}
	if got := sample(t, reg, "stratus_proxy_quorum_failures_total", "op=put"); got != 0 {
		t.Fatalf("%v quorum failures for a clock-skew refusal, want 0", got)
	}
}

// TestMetricsRegistration: the proxy's metrics are registered once per Registerer, and
// none without one.
func TestMetricsRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := proxy.DefaultConfig()
	cfg.Registerer = reg
	nodes := client.New(client.DefaultConfig())
	if _, err := proxy.New(cfg, nodes, &hlc.Clock{}, testutil.Logger(t)); err != nil {
		t.Fatal(err)
	}
	if mfs, err := reg.Gather(); err != nil || len(mfs) != 6 {
		t.Fatalf("registry holds %d metrics, want the proxy's 6: %v", len(mfs), err)
	}
	if _, err := proxy.New(cfg, nodes, &hlc.Clock{}, testutil.Logger(t)); err == nil {
		t.Fatal("a second proxy on the same Registerer: no error")
	}
	cfg.Registerer = nil
	for range 2 {
		if _, err := proxy.New(cfg, nodes, &hlc.Clock{}, testutil.Logger(t)); err != nil {
			t.Fatal(fmt.Errorf("proxy without a Registerer: %w", err))
		}
	}
}
