package bench

import (
	"context"
	"math"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// TestPhaseDeltaFromPrometheus scrapes a histogram as the Go client serves it (the compute
// host's buckets), twice, and checks the phases of what happened in between.
func TestPhaseDeltaFromPrometheus(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: LaunchPhaseMetric, Help: "phases",
		Buckets: prometheus.ExponentialBucketsRange(0.005, 120, 26)}, []string{"phase"})
	reg.MustRegister(h)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	ctx := context.Background()

	h.WithLabelValues("start").Observe(100) // before: must not count
	before, err := scrapePhases(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 100; i++ {
		h.WithLabelValues("start").Observe(float64(i) / 100) // 0.01 … 1.00
	}
	h.WithLabelValues("define").Observe(0.02)
	after, err := scrapePhases(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	d := phaseDelta(before, after)
	st := d["start"]
	if st.Count != 100 || math.Abs(st.MeanSeconds-0.505) > 1e-9 {
		t.Fatalf("start = %+v", st)
	}
	// Buckets are ×1.5 apart: the estimates are within a bucket of the truth.
	if st.P50Seconds < 0.5/1.5 || st.P50Seconds > 0.5*1.5 || st.P90Seconds < 0.9/1.5 || st.P90Seconds > 0.9*1.5 {
		t.Errorf("start p50 %.3f p90 %.3f, want about 0.5 and 0.9", st.P50Seconds, st.P90Seconds)
	}
	if df := d["define"]; df.Count != 1 || df.P50Seconds <= 0 || df.P50Seconds > 0.03 {
		t.Errorf("define = %+v", df)
	}
	if _, ok := d["pickup"]; ok || len(d) != 2 {
		t.Errorf("phases = %+v", d)
	}
}
