package bench

import (
	"math"
	"slices"
	"sync"
	"time"
)

// Latency summarises a set of durations, in seconds.
type Latency struct {
	P50  float64 `json:"p50_seconds"`
	P90  float64 `json:"p90_seconds"`
	P99  float64 `json:"p99_seconds"`
	P999 float64 `json:"p99_9_seconds"`
	Max  float64 `json:"max_seconds"`
	Mean float64 `json:"mean_seconds"`
}

// OpStats is what one kind of operation did in a run.
type OpStats struct {
	Op     string `json:"op"`
	Count  int    `json:"count"`
	Errors int    `json:"errors"`
	// ErrorsByCode counts the failures by S3 error code ("SlowDown") or transport error
	// kind ("Timeout"): its keys are codes, not names of the schema.
	ErrorsByCode map[string]int `json:"errors_by_code,omitempty"`
	Bytes        int64          `json:"bytes"`
	// OpsPerSecond counts successful operations, and BytesPerSecond their bodies, per
	// second of the measured phase.
	OpsPerSecond   float64 `json:"ops_per_second"`
	BytesPerSecond float64 `json:"bytes_per_second"`
	Latency        Latency `json:"latency"`
	// TTFB is the time to the first byte of the response body, for reads.
	TTFB *Latency `json:"ttfb,omitempty"`
}

// recorder collects samples from many workers.
type recorder struct {
	mu    sync.Mutex
	kinds map[string]*samples
}

type samples struct {
	lat, ttfb []time.Duration
	bytes     int64
	errs      map[string]int
}

func newRecorder() *recorder { return &recorder{kinds: map[string]*samples{}} }

func (r *recorder) kind(op string) *samples {
	s := r.kinds[op]
	if s == nil {
		s = &samples{errs: map[string]int{}}
		r.kinds[op] = s
	}
	return s
}

// ok records a successful operation.
func (r *recorder) ok(op string, lat, ttfb time.Duration, bytes int64) {
	r.mu.Lock()
	s := r.kind(op)
	s.lat = append(s.lat, lat)
	if ttfb > 0 {
		s.ttfb = append(s.ttfb, ttfb)
	}
	s.bytes += bytes
	r.mu.Unlock()
}

// fail records a failed operation by its S3 error code (or a transport error's kind).
func (r *recorder) fail(op, code string) {
	r.mu.Lock()
	r.kind(op).errs[code]++
	r.mu.Unlock()
}

// count is the number of operations recorded so far, successes and failures.
func (r *recorder) count() (n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.kinds {
		n += len(s.lat)
		for _, e := range s.errs {
			n += e
		}
	}
	return n
}

// stats summarises the run of elapsed length.
func (r *recorder) stats(elapsed time.Duration) []OpStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []OpStats
	for op, s := range r.kinds {
		st := OpStats{Op: op, Count: len(s.lat), Bytes: s.bytes, Latency: summarize(s.lat)}
		for code, n := range s.errs {
			st.Errors += n
			if st.ErrorsByCode == nil {
				st.ErrorsByCode = map[string]int{}
			}
			st.ErrorsByCode[code] = n
		}
		if secs := elapsed.Seconds(); secs > 0 {
			st.OpsPerSecond = float64(st.Count) / secs
			st.BytesPerSecond = float64(s.bytes) / secs
		}
		if len(s.ttfb) > 0 {
			t := summarize(s.ttfb)
			st.TTFB = &t
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b OpStats) int { return cmpString(a.Op, b.Op) })
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// summarize computes percentiles by the nearest-rank method.
func summarize(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.Sort(d)
	rank := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(d)))) - 1
		return d[max(0, min(i, len(d)-1))].Seconds()
	}
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return Latency{P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), P999: rank(0.999),
		Max: d[len(d)-1].Seconds(), Mean: (sum / time.Duration(len(d))).Seconds()}
}
