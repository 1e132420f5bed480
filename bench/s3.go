package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Ops lists the S3 operations the tool can drive.
var Ops = []string{"put", "get", "mixed", "list", "delete", "multipart"}

// S3Config describes one S3 run. Its JSON form (in a Report) gives durations as
// _seconds and the share of reads as get_ratio; see MarshalJSON.
type S3Config struct {
	Endpoint  string `json:"endpoint"`
	Region    string `json:"region"`
	AccessKey string `json:"access_key"`
	SecretKey string `json:"-"`
	// Bucket is used, created if missing; empty makes a fresh one per run.
	Bucket string `json:"bucket"`
	// Location is the LocationConstraint the bucket is created with, if any: on Stratus,
	// the storage policy its objects are stored with (e.g. ec-4-2).
	Location string `json:"location,omitempty"`
	Op       string `json:"op"`
	// SizeBytes is the object size.
	SizeBytes   int64 `json:"size_bytes"`
	Concurrency int   `json:"concurrency"`
	// Duration bounds the measured phase; Count, if set, ends it after that many
	// operations instead.
	Duration time.Duration `json:"-"`
	Count    int           `json:"count,omitempty"`
	// Objects is how many objects get, mixed, list and delete work on; they are written
	// before the measured phase.
	Objects int `json:"objects"`
	// Prefixes, if set, spreads the objects over that many prefixes ("pool/p<n>/"), and a
	// list is then a delimiter listing of those prefixes (one op: all pages of it).
	Prefixes int `json:"prefixes,omitempty"`
	// FullListing makes a list of objects spread over Prefixes list every key, without a
	// delimiter.
	FullListing bool `json:"full_listing,omitempty"`
	// Reuse says the objects are already in Bucket (an earlier run wrote them with the same
	// Objects and Prefixes): the run does not write them again.
	Reuse bool `json:"reuse,omitempty"`
	// DeleteBucket makes Cleanup delete Bucket too, though the run did not make it.
	DeleteBucket bool `json:"-"`
	// GetPercent is the share of reads in a mixed run, in percent (as --get-percent).
	GetPercent int `json:"-"`
	// Warmup runs the operation unmeasured first.
	Warmup time.Duration `json:"-"`
	// Cleanup deletes what the run wrote (and the bucket, if the run made it).
	Cleanup bool `json:"cleanup"`
	// Timeout bounds each request.
	Timeout time.Duration `json:"-"`
	// ServerMetrics, if set, is the server's Prometheus endpoint; the report then carries
	// the server's CPU time and allocations per operation (ServerCost).
	ServerMetrics string `json:"server_metrics,omitempty"`
	// Progress, if set, is called about once a second with operations done so far.
	Progress func(done int, elapsed time.Duration) `json:"-"`
}

// s3ConfigJSON is the JSON form of the S3Config fields that are kept in other units in Go.
type s3ConfigJSON struct {
	DurationSeconds float64 `json:"duration_seconds"`
	GetRatio        float64 `json:"get_ratio,omitempty"`
	WarmupSeconds   float64 `json:"warmup_seconds"`
	TimeoutSeconds  float64 `json:"timeout_seconds"`
}

// MarshalJSON writes the tagged fields and duration_seconds, warmup_seconds,
// timeout_seconds and get_ratio (GetPercent as a fraction, if set).
func (c S3Config) MarshalJSON() ([]byte, error) {
	type plain S3Config // the fields, without these methods
	return json.Marshal(struct {
		plain
		s3ConfigJSON
	}{plain(c), s3ConfigJSON{DurationSeconds: c.Duration.Seconds(), GetRatio: float64(c.GetPercent) / 100,
		WarmupSeconds: c.Warmup.Seconds(), TimeoutSeconds: c.Timeout.Seconds()}})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (c *S3Config) UnmarshalJSON(data []byte) error {
	type plain S3Config
	var v struct {
		*plain
		s3ConfigJSON
	}
	v.plain = (*plain)(c)
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	c.Duration, c.Warmup, c.Timeout = seconds(v.DurationSeconds), seconds(v.WarmupSeconds), seconds(v.TimeoutSeconds)
	c.GetPercent = int(math.Round(v.GetRatio * 100))
	return nil
}

// seconds converts a JSON number of seconds to a Duration, rounding to the nanosecond.
func seconds(s float64) time.Duration { return time.Duration(math.Round(s * float64(time.Second))) }

// Report is the result of a run: comparable across runs and tools. Its JSON form gives
// Elapsed as elapsed_seconds.
type Report struct {
	Tool string `json:"tool"`
	// Label names what the run measured beside its configuration, e.g. the storage policy
	// or the fragments lost (the suite's erasure-coded cases).
	Label    string        `json:"label,omitempty"`
	Started  time.Time     `json:"started"`
	Config   S3Config      `json:"config"`
	Elapsed  time.Duration `json:"-"`
	Ops      []OpStats     `json:"ops"`
	Prepared int           `json:"prepared_objects,omitempty"`
	// Server is what the server spent in the measured phase, if ServerMetrics was given.
	Server *ServerCost `json:"server,omitempty"`
}

// MarshalJSON writes the tagged fields and elapsed_seconds.
func (r Report) MarshalJSON() ([]byte, error) {
	type plain Report
	return json.Marshal(struct {
		plain
		ElapsedSeconds float64 `json:"elapsed_seconds"`
	}{plain(r), r.Elapsed.Seconds()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Report) UnmarshalJSON(data []byte) error {
	type plain Report
	v := struct {
		*plain
		ElapsedSeconds float64 `json:"elapsed_seconds"`
	}{plain: (*plain)(r)}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	r.Elapsed = seconds(v.ElapsedSeconds)
	return nil
}

func (c *S3Config) validate() error {
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.Concurrency < 1 {
		c.Concurrency = 1
	}
	if c.Timeout <= 0 {
		c.Timeout = time.Minute
	}
	if c.Duration <= 0 && c.Count <= 0 {
		return errors.New("give a duration or an operation count")
	}
	if c.SizeBytes < 0 || c.SizeBytes > 5<<30 {
		return fmt.Errorf("size %d out of range 0..5GiB", c.SizeBytes)
	}
	switch c.Op {
	case "put":
	case "get", "mixed", "list", "delete":
		if c.Objects < 1 {
			c.Objects = 100
		}
		if c.GetPercent == 0 {
			c.GetPercent = 80
		}
	case "multipart":
		if c.SizeBytes < 5<<20 {
			return errors.New("multipart objects must be at least 5 MiB (--size)")
		}
	default:
		return fmt.Errorf("unknown operation %q (want one of %v)", c.Op, Ops)
	}
	return nil
}

// RunS3 runs one benchmark against an S3 endpoint.
func RunS3(ctx context.Context, cfg S3Config) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cl, err := newClient(cfg.Endpoint, cfg.Region, cfg.AccessKey, cfg.SecretKey, max(cfg.Concurrency, prepareWorkers), cfg.Timeout)
	if err != nil {
		return nil, err
	}
	madeBucket := false
	if cfg.Bucket == "" {
		var b [4]byte
		rand.Read(b[:])
		cfg.Bucket, madeBucket = "stratus-bench-"+hex.EncodeToString(b[:]), true
	}
	if err := cl.createBucket(ctx, cfg.Bucket, cfg.Location); err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", cfg.Bucket, err)
	}
	r := &run{cfg: cfg, cl: cl, body: make([]byte, min(cfg.SizeBytes, 64<<20))}
	rand.Read(r.body)
	rep := &Report{Tool: "stratus bench", Started: time.Now().UTC(), Config: cfg}
	if cfg.Op != "put" && cfg.Op != "multipart" && !cfg.Reuse {
		if err := r.prepare(ctx); err != nil {
			return nil, fmt.Errorf("write %d objects first: %w", cfg.Objects, err)
		}
		rep.Prepared = cfg.Objects
	}
	if cfg.Warmup > 0 && cfg.Op != "delete" {
		r.phase(ctx, cfg.Warmup, 0, newRecorder(), nil)
	}
	var before processCounters
	if cfg.ServerMetrics != "" {
		if before, err = scrapeProcess(ctx, cfg.ServerMetrics); err != nil {
			return nil, err
		}
	}
	rec := newRecorder()
	rep.Elapsed = r.phase(ctx, cfg.Duration, cfg.Count, rec, cfg.Progress)
	rep.Ops = rec.stats(rep.Elapsed)
	if cfg.ServerMetrics != "" {
		after, err := scrapeProcess(ctx, cfg.ServerMetrics)
		if err != nil {
			return nil, err
		}
		rep.Server = cost(before, after, rec.count())
	}
	if cfg.Cleanup {
		r.cleanup(context.WithoutCancel(ctx), madeBucket || cfg.DeleteBucket)
	}
	return rep, nil
}

// run is the state shared by a run's workers.
type run struct {
	cfg  S3Config
	cl   *client
	body []byte // the content of every object written: its first SizeBytes bytes, repeated
	seq  atomic.Int64
	// keys written by put and multipart, for cleanup.
	mu      sync.Mutex
	written []string
	// next is the pool index delete takes next.
	next atomic.Int64
}

func (r *run) poolKey(i int) string {
	if r.cfg.Prefixes > 0 {
		return "pool/p" + strconv.Itoa(i%r.cfg.Prefixes) + "/" + strconv.Itoa(i)
	}
	return "pool/" + strconv.Itoa(i)
}

// reader yields SizeBytes bytes of r.body without copying them.
func (r *run) reader() io.Reader {
	n := r.cfg.SizeBytes
	if n <= int64(len(r.body)) {
		return bytes.NewReader(r.body[:n])
	}
	rs := make([]io.Reader, 0, n/int64(len(r.body))+1)
	for left := n; left > 0; left -= int64(len(r.body)) {
		rs = append(rs, bytes.NewReader(r.body[:min(left, int64(len(r.body)))]))
	}
	return io.MultiReader(rs...)
}

// prepareWorkers is the least concurrency the pool is written and deleted with, so that a
// listing measured at concurrency 1 does not spend minutes writing or emptying its bucket.
const prepareWorkers = 8

// prepare writes the object pool.
func (r *run) prepare(ctx context.Context) error {
	var wg sync.WaitGroup
	var next atomic.Int64
	workers := max(r.cfg.Concurrency, prepareWorkers)
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < r.cfg.Objects; i = int(next.Add(1) - 1) {
				if err := r.cl.put(ctx, r.cfg.Bucket, r.poolKey(i), r.reader(), r.cfg.SizeBytes); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// phase runs the workers for d (or until count operations) and returns the time taken.
func (r *run) phase(ctx context.Context, d time.Duration, count int, rec *recorder, progress func(int, time.Duration)) time.Duration {
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	var issued atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for w := range r.cfg.Concurrency {
		wg.Go(func() {
			rng := mrand.New(mrand.NewPCG(uint64(w), uint64(start.UnixNano())))
			for ctx.Err() == nil {
				if count > 0 && issued.Add(1) > int64(count) {
					return
				}
				if !r.one(ctx, rng, rec) {
					return
				}
			}
		})
	}
	if progress != nil {
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for waiting := true; waiting; {
			select {
			case <-done:
				waiting = false
			case <-tick.C:
				progress(rec.count(), time.Since(start))
			}
		}
	}
	wg.Wait()
	return time.Since(start)
}

// one runs one operation and records it; it reports false when the worker should stop.
func (r *run) one(ctx context.Context, rng *mrand.Rand, rec *recorder) bool {
	op := r.cfg.Op
	if op == "mixed" {
		op = "put"
		if rng.IntN(100) < r.cfg.GetPercent {
			op = "get"
		}
	}
	start := time.Now()
	var ttfb time.Duration
	var n int64
	var err error
	switch op {
	case "put":
		key := fmt.Sprintf("obj/%d", r.seq.Add(1))
		err = r.cl.put(ctx, r.cfg.Bucket, key, r.reader(), r.cfg.SizeBytes)
		n = r.cfg.SizeBytes
		r.remember(key, err)
	case "get":
		n, ttfb, err = r.cl.get(ctx, r.cfg.Bucket, r.poolKey(rng.IntN(r.cfg.Objects)))
	case "list":
		delimiter := ""
		if r.cfg.Prefixes > 0 && !r.cfg.FullListing {
			delimiter = "/"
		}
		err = r.cl.list(ctx, r.cfg.Bucket, "pool/", delimiter)
	case "delete":
		i := int(r.next.Add(1) - 1)
		if i >= r.cfg.Objects {
			return false
		}
		err = r.cl.del(ctx, r.cfg.Bucket, r.poolKey(i))
	case "multipart":
		key := fmt.Sprintf("mp/%d", r.seq.Add(1))
		err = r.cl.multipart(ctx, r.cfg.Bucket, key, r.cfg.SizeBytes, r.reader)
		n = r.cfg.SizeBytes
		r.remember(key, err)
	}
	lat := time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			return false // the phase ended during the request: not the endpoint's failure
		}
		rec.fail(op, errorCode(err))
		return true
	}
	rec.ok(op, lat, ttfb, n)
	return true
}

func (r *run) remember(key string, err error) {
	if err == nil && r.cfg.Cleanup {
		r.mu.Lock()
		r.written = append(r.written, key)
		r.mu.Unlock()
	}
}

// cleanup deletes the pool and what the run wrote, and the bucket if the run made it.
func (r *run) cleanup(ctx context.Context, bucket bool) {
	keys := r.written
	if r.cfg.Op != "put" && r.cfg.Op != "multipart" { // only these runs wrote a pool
		for i := range r.cfg.Objects {
			keys = append(keys, r.poolKey(i))
		}
	}
	var wg sync.WaitGroup
	ch := make(chan string)
	for range max(r.cfg.Concurrency, prepareWorkers) { // as many as wrote the pool
		wg.Go(func() {
			for k := range ch {
				r.cl.del(ctx, r.cfg.Bucket, k)
			}
		})
	}
	for _, k := range keys {
		ch <- k
	}
	close(ch)
	wg.Wait()
	if bucket {
		if resp, err := r.cl.do(ctx, http.MethodDelete, r.cfg.Bucket, "", nil, nil, 0, nil); err == nil {
			resp.Body.Close()
		}
	}
}

// createBucket makes bucket, with a LocationConstraint if location is set.
func (c *client) createBucket(ctx context.Context, bucket, location string) error {
	var body io.Reader
	var n int64
	if location != "" {
		var b bytes.Buffer
		b.WriteString(`<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>`)
		xml.EscapeText(&b, []byte(location))
		b.WriteString(`</LocationConstraint></CreateBucketConfiguration>`)
		body, n = &b, int64(b.Len())
	}
	resp, err := c.do(ctx, http.MethodPut, bucket, "", nil, body, n, nil)
	var se *S3Error
	if asS3Error(err, &se) && se.Code == "BucketAlreadyOwnedByYou" {
		return nil
	}
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func (c *client) put(ctx context.Context, bucket, key string, body io.Reader, size int64) error {
	resp, err := c.do(ctx, http.MethodPut, bucket, key, nil, body, size, nil)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// get reads a whole object, returning its size and the time to its first byte.
func (c *client) get(ctx context.Context, bucket, key string) (int64, time.Duration, error) {
	start := time.Now()
	resp, err := c.do(ctx, http.MethodGet, bucket, key, nil, nil, 0, nil)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	var first [1]byte
	n, err := io.ReadFull(resp.Body, first[:])
	ttfb := time.Since(start)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, 0, err
	}
	rest, err := io.Copy(io.Discard, resp.Body)
	return int64(n) + rest, ttfb, err
}

func (c *client) del(ctx context.Context, bucket, key string) error {
	resp, err := c.do(ctx, http.MethodDelete, bucket, key, nil, nil, 0, nil)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// list pages through every key (or, with a delimiter, common prefix) under prefix, 1,000
// at a time.
func (c *client) list(ctx context.Context, bucket, prefix, delimiter string) error {
	token := ""
	var buf bytes.Buffer
	for {
		q := url.Values{"list-type": {"2"}, "prefix": {prefix}, "max-keys": {"1000"}}
		if delimiter != "" {
			q.Set("delimiter", delimiter)
		}
		if token != "" {
			q.Set("continuation-token", token)
		}
		resp, err := c.do(ctx, http.MethodGet, bucket, "", q, nil, 0, nil)
		if err != nil {
			return err
		}
		buf.Reset()
		_, err = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		truncated, next, err := pageEnd(buf.Bytes())
		if err != nil {
			return err
		}
		if !truncated {
			return nil
		}
		token = next
	}
}

// pageEnd reads IsTruncated and NextContinuationToken from a ListObjectsV2 answer without
// parsing the rest: tokenizing a page of 1,000 keys with encoding/xml costs the tool ~8 ms
// on a 2-core machine, as much as many servers take to list it. Keys and prefixes are
// escaped in the body, so these tags occur only as the elements themselves.
func pageEnd(body []byte) (truncated bool, next string, err error) {
	var end struct {
		Truncated bool   `xml:"IsTruncated"`
		Next      string `xml:"NextContinuationToken"`
	}
	doc := []byte("<r>")
	for _, tag := range []string{"IsTruncated", "NextContinuationToken"} {
		open, close := []byte("<"+tag+">"), []byte("</"+tag+">")
		if i := bytes.Index(body, open); i >= 0 {
			j := bytes.Index(body[i:], close)
			if j < 0 {
				return false, "", fmt.Errorf("listing: <%s> is not closed", tag)
			}
			doc = append(doc, body[i:i+j+len(close)]...)
		}
	}
	if err := xml.Unmarshal(append(doc, "</r>"...), &end); err != nil {
		return false, "", fmt.Errorf("listing: %w", err)
	}
	if !bytes.Contains(body, []byte("<ListBucketResult")) {
		return false, "", fmt.Errorf("listing: not a ListBucketResult: %.200q", body)
	}
	if end.Truncated && end.Next == "" {
		return false, "", errors.New("listing: truncated, with no continuation token")
	}
	return end.Truncated, end.Next, nil
}

// multipart uploads one object of size bytes in 5 MiB parts (the last may be larger).
func (c *client) multipart(ctx context.Context, bucket, key string, size int64, body func() io.Reader) error {
	resp, err := c.do(ctx, http.MethodPost, bucket, key, url.Values{"uploads": {""}}, nil, 0, nil)
	if err != nil {
		return err
	}
	var up struct {
		UploadID string `xml:"UploadId"`
	}
	err = xml.NewDecoder(resp.Body).Decode(&up)
	resp.Body.Close()
	if err != nil {
		return err
	}
	const part = 5 << 20
	parts := int(size / part)
	var done bytes.Buffer
	done.WriteString("<CompleteMultipartUpload>")
	src := body()
	for i := 1; i <= parts; i++ {
		n := int64(part)
		if i == parts {
			n = size - int64(parts-1)*part
		}
		resp, err := c.do(ctx, http.MethodPut, bucket, key, url.Values{"partNumber": {strconv.Itoa(i)}, "uploadId": {up.UploadID}},
			io.LimitReader(src, n), n, nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		fmt.Fprintf(&done, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", i, resp.Header.Get("ETag"))
	}
	done.WriteString("</CompleteMultipartUpload>")
	resp, err = c.do(ctx, http.MethodPost, bucket, key, url.Values{"uploadId": {up.UploadID}},
		bytes.NewReader(done.Bytes()), int64(done.Len()), nil)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}
