package bench

import (
	"math"
	"slices"
	"sync"
	"time"
)

// Latency summarises a set of durations, in milliseconds.
type Latency struct {
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p99_9_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

// OpStats is what one kind of operation did in a run.
type OpStats struct {
	Op           string         `json:"op"`
	Count        int            `json:"count"`
	Errors       int            `json:"errors"`
	ErrorsByCode map[string]int `json:"errors_by_code,omitempty"`
	Bytes        int64          `json:"bytes"`
	OpsPerSec    float64        `json:"ops_per_sec"`
	MiBPerSec    float64        `json:"mib_per_sec"`
	Latency      Latency        `json:"latency"`
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
			st.OpsPerSec = float64(st.Count) / secs
			st.MiBPerSec = float64(s.bytes) / secs / (1 << 20)
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
	ms := func(x time.Duration) float64 { return float64(x) / float64(time.Millisecond) }
	rank := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(d)))) - 1
		return ms(d[max(0, min(i, len(d)-1))])
	}
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return Latency{P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), P999: rank(0.999),
		Max: ms(d[len(d)-1]), Mean: ms(sum / time.Duration(len(d)))}
}
