package console

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// keptSamples is how many samples the charts span (with 5 s between them, 5 minutes).
const keptSamples = 60

// metricsSample is the totals of every scraped daemon at one time.
type metricsSample struct {
	at         time.Time
	requests   float64 // every *_requests_total
	latencySum float64 // every *_request_duration_seconds_sum
	latencyN   float64 // and _count
	bytes      float64 // every *read_bytes_total and *write_bytes_total: data stored and served
	failed     []string
}

// metricsSampler scrapes the daemons' /metrics pages and keeps the last samples, so the
// overview charts rates without a monitoring system.
type metricsSampler struct {
	urls []string
	hc   *http.Client

	mu      sync.Mutex
	samples []metricsSample
}

func newMetricsSampler(urls []string, hc *http.Client) *metricsSampler {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &metricsSampler{urls: urls, hc: hc}
}

func (m *metricsSampler) run(ctx context.Context, every time.Duration) {
	if len(m.urls) == 0 {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		m.sample(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *metricsSampler) sample(ctx context.Context) {
	s := metricsSample{at: time.Now()}
	for _, u := range m.urls {
		if err := m.scrape(ctx, u, &s); err != nil {
			s.failed = append(s.failed, fmt.Sprintf("%s: %v", u, err))
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.samples = append(m.samples, s)
	if len(m.samples) > keptSamples {
		m.samples = m.samples[len(m.samples)-keptSamples:]
	}
}

func (m *metricsSampler) scrape(ctx context.Context, url string, s *metricsSample) error {
	ctx, cancel := context.WithTimeout(ctx, shortTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := m.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	return addTotals(io.LimitReader(resp.Body, 16<<20), s)
}

// addTotals adds a text exposition's counters to s, whatever their labels.
func addTotals(r io.Reader, s *metricsSample) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndexByte(line, '}')
			if j < i {
				continue
			}
			name, rest, ok = line[:i], line[j+1:], true
		}
		fields := strings.Fields(rest)
		if !ok || len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		// Only Stratus's own series: the Go runtime's byte counters are not traffic.
		if err != nil || !strings.HasPrefix(name, "stratus_") {
			continue
		}
		switch {
		case strings.HasSuffix(name, "_requests_total"):
			s.requests += v
		case strings.HasSuffix(name, "_request_duration_seconds_sum"):
			s.latencySum += v
		case strings.HasSuffix(name, "_request_duration_seconds_count"):
			s.latencyN += v
		case strings.HasSuffix(name, "read_bytes_total") || strings.HasSuffix(name, "write_bytes_total"):
			s.bytes += v
		}
	}
	return sc.Err()
}

// metricsPoint is one interval between samples.
type metricsPoint struct {
	At             time.Time `json:"at"`
	RequestsPerSec float64   `json:"requests_per_second"`
	MeanLatencySec float64   `json:"mean_latency_seconds"`
	BytesPerSec    float64   `json:"bytes_per_second"`
	ScrapesFailing int       `json:"scrapes_failing"`
}

type metricsSeries struct {
	Sources []string       `json:"sources"`
	Points  []metricsPoint `json:"points"`
	Failing []string       `json:"failing"`
}

// series is the rates between consecutive samples; counters that went down (a restart)
// count from zero.
func (m *metricsSampler) series() metricsSeries {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := metricsSeries{Sources: m.urls, Points: []metricsPoint{}, Failing: []string{}}
	pos := func(d float64, cur float64) float64 {
		if d < 0 {
			return cur
		}
		return d
	}
	for i := 1; i < len(m.samples); i++ {
		a, b := m.samples[i-1], m.samples[i]
		dt := b.at.Sub(a.at).Seconds()
		if dt <= 0 {
			continue
		}
		p := metricsPoint{At: b.at, RequestsPerSec: pos(b.requests-a.requests, b.requests) / dt,
			BytesPerSec: pos(b.bytes-a.bytes, b.bytes) / dt, ScrapesFailing: len(b.failed)}
		if n := b.latencyN - a.latencyN; n > 0 {
			p.MeanLatencySec = (b.latencySum - a.latencySum) / n
		}
		out.Points = append(out.Points, p)
	}
	if n := len(m.samples); n > 0 {
		out.Failing = append(out.Failing, m.samples[n-1].failed...)
	}
	return out
}

func (s *Server) metricsSeries(w http.ResponseWriter, r *http.Request, sess *session) {
	writeJSON(w, http.StatusOK, s.metrics.series())
}
