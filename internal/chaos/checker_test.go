package chaos

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	objclient "stratus/objectd/client"
	"stratus/ring"
)

// state is what a key holds: deleted (or never written), or content with this digest.
type state struct {
	deleted bool
	sum     [sha256.Size]byte
}

var absent = state{deleted: true}

// keyRecord is the ledger's view of one key. Only one worker ever touches a key, so its
// operations are ordered: after an acknowledged operation the key must hold exactly what
// that operation wrote; an operation that failed may or may not have happened, so it adds
// its outcome to what the key may hold until the next acknowledged one.
type keyRecord struct {
	may     []state                    // what a read may return now
	written map[[sha256.Size]byte]bool // every content ever sent for the key
}

func (r *keyRecord) acked(s state) { r.may = []state{s} }
func (r *keyRecord) tried(s state) {
	if !slices.Contains(r.may, s) {
		r.may = append(r.may, s)
	}
}

// loadOptions shapes the checker's load.
type loadOptions struct {
	workers int   // per proxy; default 3
	keys    int   // per worker; default 40
	sizes   []int // object sizes drawn uniformly; default 1 KiB to 256 KiB
	putPct  int   // share of PUTs; default 50
	delPct  int   // share of DELETEs; default 10 (the rest are GETs)
	sweep   bool  // instead: PUT each key once, in order, then stop
}

// checker drives S3 load through every proxy, records each acknowledged operation, checks
// every read against the record, and verifies the whole record at the end.
type checker struct {
	c     *cluster
	opts  loadOptions
	keys  map[string]*keyRecord
	names []string

	acked       atomic.Int64 // writes and deletes acknowledged
	ackedPuts   atomic.Int64 // of which writes
	failedPuts  atomic.Int64 // writes that failed
	failed      atomic.Int64 // writes and deletes that failed
	reads       atomic.Int64 // reads that returned an answer
	readErrors  atomic.Int64 // reads that failed (unavailable; never wrong bytes)
	badReads    atomic.Int64 // reads that returned bytes or absence the record rules out
	errMu       sync.Mutex
	errs        map[string]int
	ackMu       sync.Mutex
	ackTimes    []time.Time
	badExamples []string
	readErrs    []string // the first failed reads, with when and why
	failedKeys  []string // the keys of those reads

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// withDefaults fills in what o leaves zero.
func (o loadOptions) withDefaults() loadOptions {
	if o.workers == 0 {
		o.workers = 3
	}
	if o.keys == 0 {
		o.keys = 40
	}
	if o.sizes == nil {
		o.sizes = []int{1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10}
	}
	if o.putPct == 0 && o.delPct == 0 {
		o.putPct, o.delPct = 50, 10
	}
	return o
}

func newChecker(c *cluster, opts loadOptions) *checker {
	opts = opts.withDefaults()
	ck := &checker{c: c, opts: opts, keys: map[string]*keyRecord{}, errs: map[string]int{}}
	for w := range opts.workers * len(c.endpoints) {
		for k := range opts.keys {
			name := fmt.Sprintf("w%02d/k%03d", w, k)
			ck.keys[name] = &keyRecord{may: []state{absent}, written: map[[sha256.Size]byte]bool{}}
			ck.names = append(ck.names, name)
		}
	}
	return ck
}

// start runs the workers until stop (or, sweeping, until each has written its keys).
func (ck *checker) start() {
	ctx, cancel := context.WithCancel(context.Background())
	ck.cancel = cancel
	for w := range ck.opts.workers * len(ck.c.endpoints) {
		cl := ck.c.s3(w % len(ck.c.endpoints))
		mine := ck.names[w*ck.opts.keys : (w+1)*ck.opts.keys]
		ck.wg.Add(1)
		go func() {
			defer ck.wg.Done()
			ck.work(ctx, cl, mine, mrand.New(mrand.NewPCG(uint64(w), uint64(time.Now().UnixNano()))))
		}()
	}
}

// stop ends the load and waits for the operations in flight.
func (ck *checker) stop() {
	ck.cancel()
	ck.wg.Wait()
}

// wait blocks until every worker has finished its sweep.
func (ck *checker) wait() { ck.wg.Wait() }

const opTimeout = 10 * time.Second

func (ck *checker) work(ctx context.Context, cl *s3.Client, keys []string, rng *mrand.Rand) {
	buf := make([]byte, slices.Max(ck.opts.sizes))
	for i := 0; ; i++ {
		if ctx.Err() != nil {
			return
		}
		key := keys[rng.IntN(len(keys))]
		r := rng.IntN(100)
		if ck.opts.sweep {
			if i == len(keys) {
				return
			}
			key, r = keys[i], 0
		}
		rec := ck.keys[key]
		opCtx, cancel := context.WithTimeout(context.Background(), opTimeout)
		switch {
		case r < ck.opts.putPct:
			data := buf[:ck.opts.sizes[rng.IntN(len(ck.opts.sizes))]]
			fillRandom(rng, data)
			s := state{sum: sha256.Sum256(data)}
			rec.written[s.sum] = true
			_, err := cl.PutObject(opCtx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
				Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))})
			ck.record(rec, s, err)
		case r < ck.opts.putPct+ck.opts.delPct:
			_, err := cl.DeleteObject(opCtx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
			ck.record(rec, absent, err)
		default:
			got, err := read(opCtx, cl, key)
			if err != nil {
				ck.readErrors.Add(1)
				ck.countErr("GET", err)
				ck.errMu.Lock()
				if len(ck.readErrs) < 5 {
					ck.readErrs = append(ck.readErrs, fmt.Sprintf("%s GET %s: %v", time.Now().Format("15:04:05.000"), key, err))
					ck.failedKeys = append(ck.failedKeys, key)
				}
				ck.errMu.Unlock()
				break
			}
			ck.reads.Add(1)
			if !slices.Contains(rec.may, got) {
				ck.badReads.Add(1)
				ck.example(fmt.Sprintf("read of %s during load: %s", key, describe(rec, got)))
			}
		}
		cancel()
	}
}

func (ck *checker) record(rec *keyRecord, s state, err error) {
	if err != nil {
		rec.tried(s)
		ck.failed.Add(1)
		op := "PUT"
		if s.deleted {
			op = "DELETE"
		} else {
			ck.failedPuts.Add(1)
		}
		ck.countErr(op, err)
		return
	}
	rec.acked(s)
	ck.acked.Add(1)
	if !s.deleted {
		ck.ackedPuts.Add(1)
	}
	ck.ackMu.Lock()
	ck.ackTimes = append(ck.ackTimes, time.Now())
	ck.ackMu.Unlock()
}

func (ck *checker) countErr(op string, err error) {
	code := "transport"
	var ae smithy.APIError
	switch {
	case errors.As(err, &ae):
		code = ae.ErrorCode()
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timeout"):
		code = "timeout"
	}
	ck.errMu.Lock()
	ck.errs[op+" "+code]++
	ck.errMu.Unlock()
}

func (ck *checker) example(s string) {
	ck.errMu.Lock()
	if len(ck.badExamples) < 10 {
		ck.badExamples = append(ck.badExamples, s)
	}
	ck.errMu.Unlock()
}

// maxAckGap is the longest time within [from, to] in which no write was acknowledged.
func (ck *checker) maxAckGap(from, to time.Time) time.Duration {
	ck.ackMu.Lock()
	defer ck.ackMu.Unlock()
	times := slices.Clone(ck.ackTimes)
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	prev, gap := from, time.Duration(0)
	for _, t := range times {
		if t.Before(from) {
			continue
		}
		if t.After(to) {
			break
		}
		gap = max(gap, t.Sub(prev))
		prev = t
	}
	return max(gap, to.Sub(prev))
}

// read GETs key and returns the state it found.
func read(ctx context.Context, cl *s3.Client, key string) (state, error) {
	out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchKey" {
			return absent, nil
		}
		return state{}, err
	}
	defer out.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, out.Body); err != nil {
		return state{}, err
	}
	var s state
	h.Sum(s.sum[:0])
	return s, nil
}

func describe(rec *keyRecord, got state) string {
	switch {
	case got.deleted:
		return "absent, but acknowledged content should be there"
	case rec.written[got.sum] && !slices.ContainsFunc(rec.may, func(s state) bool { return !s.deleted }):
		return "content that was acknowledged deleted (resurrected)"
	case rec.written[got.sum]:
		return "an older content than the last acknowledged (stale)"
	}
	return "content never written (corrupt)"
}

// figures is the outcome of a scenario.
type figures struct {
	acked, failed      int64
	lost, corrupt      int
	resurrected, stale int
	reads, readErrors  int64
	badReads           int64
	redundancySeconds  float64
	extra              string
	lostKeys           []string // the keys counted in lost
}

func (f figures) String() string {
	s := fmt.Sprintf("acknowledged=%d failed=%d lost=%d corrupt=%d resurrected=%d stale=%d reads=%d read_errors=%d bad_reads=%d full_redundancy_s=%.1f",
		f.acked, f.failed, f.lost, f.corrupt, f.resurrected, f.stale, f.reads, f.readErrors, f.badReads, f.redundancySeconds)
	if f.extra != "" {
		s += " " + f.extra
	}
	return s
}

// verify reads every key through the proxies and classifies what it finds against the
// record. A key that cannot be read (after retries) counts as lost.
func (ck *checker) verify() figures {
	f := figures{acked: ck.acked.Load(), failed: ck.failed.Load(), reads: ck.reads.Load(),
		readErrors: ck.readErrors.Load(), badReads: ck.badReads.Load()}
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan string)
	for w := range 4 {
		cl := ck.c.s3(w % len(ck.c.endpoints))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for key := range work {
				rec := ck.keys[key]
				var got state
				var err error
				for range 5 {
					ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
					got, err = read(ctx, cl, key)
					cancel()
					if err == nil {
						break
					}
					time.Sleep(500 * time.Millisecond)
				}
				mu.Lock()
				switch {
				case err != nil:
					f.lost++
					f.lostKeys = append(f.lostKeys, key)
					ck.example(fmt.Sprintf("final read of %s: %v", key, err))
				case slices.Contains(rec.may, got):
				default:
					d := describe(rec, got)
					switch {
					case got.deleted:
						f.lost++
						f.lostKeys = append(f.lostKeys, key)
					case strings.Contains(d, "resurrected"):
						f.resurrected++
					case strings.Contains(d, "stale"):
						f.stale++
					default:
						f.corrupt++
					}
					ck.example(fmt.Sprintf("final read of %s: %s", key, d))
				}
				mu.Unlock()
			}
		}()
	}
	for _, key := range ck.names {
		work <- key
	}
	close(work)
	wg.Wait()
	return f
}

// underReplicated counts keys whose primaries (in the ring the nodes use now) do not all
// hold the same version: the object's, or a tombstone.
func (ck *checker) underReplicated(r *ring.Ring) (int, error) {
	n := 0
	for _, key := range ck.names {
		name := bucket + "/" + key
		part := r.Partition(name)
		var first objclient.Info
		var firstErr error
		for i, d := range r.Primaries(part, nil) {
			info, err := ck.c.objc.Head(context.Background(), objclient.Target{Host: d.Host, Device: d.Name, Partition: uint32(part)}, name)
			if err != nil && !errors.Is(err, objclient.ErrNotFound) {
				return 0, fmt.Errorf("head %s on %s/%s: %w", name, d.Host, d.Name, err)
			}
			if i == 0 {
				first, firstErr = info, err
				continue
			}
			if (err == nil) != (firstErr == nil) || info.Timestamp != first.Timestamp {
				n++
				break
			}
		}
	}
	return n, nil
}

// waitRedundant waits until every key is fully replicated on its primaries and returns
// how long that took.
func (ck *checker) waitRedundant(limit time.Duration) time.Duration {
	ck.c.t.Helper()
	start := time.Now()
	r := ck.c.ring()
	var last error
	for time.Since(start) < limit {
		n, err := ck.underReplicated(r)
		if err == nil && n == 0 {
			return time.Since(start)
		}
		last = err
		if err == nil {
			last = fmt.Errorf("%d of %d keys not on all their primaries", n, len(ck.names))
		}
		time.Sleep(500 * time.Millisecond)
	}
	ck.c.t.Fatalf("no full redundancy after %v: %v", limit, last)
	return 0
}

// report logs the figures in one line and fails the test if anything acknowledged was
// lost, corrupted, resurrected or rolled back.
func (ck *checker) report(name string, f figures) {
	ck.c.t.Helper()
	ck.errMu.Lock()
	errs := make([]string, 0, len(ck.errs))
	for k, v := range ck.errs {
		errs = append(errs, fmt.Sprintf("%s=%d", strings.ReplaceAll(k, " ", ":"), v))
	}
	examples := slices.Clone(ck.badExamples)
	ck.errMu.Unlock()
	sort.Strings(errs)
	line := fmt.Sprintf("chaos %s: %s", name, f)
	ck.c.t.Log(line)
	if len(errs) > 0 {
		ck.c.t.Logf("chaos %s: errors %s", name, strings.Join(errs, " "))
	}
	recordResult(line)
	if f.lost+f.corrupt+f.resurrected+f.stale > 0 {
		ck.c.t.Errorf("%s: acknowledged data not intact; examples:\n%s", name, strings.Join(examples, "\n"))
	}
	if f.acked == 0 {
		ck.c.t.Errorf("%s: nothing was acknowledged", name)
	}
}

// fillRandom fills b from rng, eight bytes at a time.
func fillRandom(rng *mrand.Rand, b []byte) {
	for i := 0; i < len(b); i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8 && i+j < len(b); j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}
