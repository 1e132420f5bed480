package bench

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// LaunchPhaseMetric is the compute host's histogram of where a launch's time goes.
const LaunchPhaseMetric = "stratus_computed_launch_phase_seconds"

// PhaseStats is one launch phase over a measured run, from the host's histogram scraped
// before and after: the launches in it, the mean (exact, from the sum), and the median and
// p90 estimated from the buckets (linear within a bucket, as Prometheus's
// histogram_quantile does; the buckets are about ×1.5 apart).
type PhaseStats struct {
	Count       int     `json:"count"`
	MeanSeconds float64 `json:"mean_seconds"`
	P50Seconds  float64 `json:"p50_seconds"`
	P90Seconds  float64 `json:"p90_seconds"`
}

// histogram is one labelled histogram at one moment: cumulative counts by upper bound.
type histogram struct {
	bounds []float64 // ascending; the last is +Inf
	counts []float64 // cumulative, by bounds
	sum    float64
	count  float64
}

// phaseHistograms are the launch phases' histograms at one moment, by phase.
type phaseHistograms map[string]*histogram

// scrapePhases reads LaunchPhaseMetric from a Prometheus text endpoint.
func scrapePhases(ctx context.Context, url string) (phaseHistograms, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("compute metrics %s: %s", url, resp.Status)
	}
	out := phaseHistograms{}
	get := func(phase string) *histogram {
		h := out[phase]
		if h == nil {
			h = &histogram{}
			out[phase] = h
		}
		return h
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, LaunchPhaseMetric)
		if !ok {
			continue
		}
		suffix, rest, ok := strings.Cut(rest, "{")
		if !ok {
			continue
		}
		labelText, valueText, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		value, err := strconv.ParseFloat(strings.Fields(valueText)[0], 64)
		if err != nil {
			return nil, fmt.Errorf("compute metrics %s: %q: %w", url, line, err)
		}
		labels := parseLabels(labelText)
		h := get(labels["phase"])
		switch suffix {
		case "_bucket":
			le, err := strconv.ParseFloat(labels["le"], 64)
			if err != nil {
				return nil, fmt.Errorf("compute metrics %s: %q: %w", url, line, err)
			}
			h.bounds = append(h.bounds, le)
			h.counts = append(h.counts, value)
		case "_sum":
			h.sum = value
		case "_count":
			h.count = value
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// parseLabels reads `a="x",b="y"` (label values here hold no quotes or commas).
func parseLabels(s string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			out[strings.TrimSpace(k)] = strings.Trim(v, `"`)
		}
	}
	return out
}

// phaseDelta is what happened between two scrapes, by phase (phases with no launch left out).
func phaseDelta(before, after phaseHistograms) map[string]PhaseStats {
	out := map[string]PhaseStats{}
	for phase, a := range after {
		b := before[phase]
		n := a.count
		sum := a.sum
		counts := slices.Clone(a.counts)
		if b != nil {
			n -= b.count
			sum -= b.sum
			if slices.Equal(a.bounds, b.bounds) {
				for i := range counts {
					counts[i] -= b.counts[i]
				}
			}
		}
		if n <= 0 {
			continue
		}
		d := &histogram{bounds: a.bounds, counts: counts, sum: sum, count: n}
		out[phase] = PhaseStats{Count: int(n), MeanSeconds: sum / n, P50Seconds: d.quantile(0.5), P90Seconds: d.quantile(0.9)}
	}
	return out
}

// quantile estimates the q-quantile from cumulative bucket counts, interpolating linearly
// within the bucket it falls in; in the +Inf bucket it answers the largest finite bound.
func (h *histogram) quantile(q float64) float64 {
	if h.count == 0 || len(h.bounds) == 0 {
		return math.NaN()
	}
	rank := q * h.count
	lower, below := 0.0, 0.0
	for i, ub := range h.bounds {
		if h.counts[i] >= rank {
			if math.IsInf(ub, 1) {
				return lower
			}
			in := h.counts[i] - below
			if in <= 0 {
				return ub
			}
			return lower + (ub-lower)*(rank-below)/in
		}
		lower, below = ub, h.counts[i]
	}
	return lower
}
