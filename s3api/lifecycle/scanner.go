package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	meta "stratus/meta/client"
)

// maxVersionsPerKey bounds the versions of one key a pass looks at.
const maxVersionsPerKey = 10000

// Remover removes what lifecycle rules expire. *s3api.Server implements it with the
// removal paths of the S3 calls. Each method acts only while the entry or upload is as
// listed, and otherwise returns meta.ErrConflict or meta.ErrNotFound.
type Remover interface {
	// ExpireObject expires e, the current version of its key.
	ExpireObject(ctx context.Context, b meta.Bucket, e meta.ObjectEntry) error
	// ExpireVersion removes e, a noncurrent version or delete marker, for good.
	ExpireVersion(ctx context.Context, b meta.Bucket, e meta.ObjectEntry) error
	// RemoveDeleteMarker removes e, a delete marker that is the only version of its key.
	RemoveDeleteMarker(ctx context.Context, b meta.Bucket, e meta.ObjectEntry) error
	// AbortUpload aborts u and drops its parts.
	AbortUpload(ctx context.Context, u meta.Upload) error
}

// Config configures a Scanner.
type Config struct {
	// Interval is the time between the starts of two passes. Longer saves listing work;
	// expirations are due at midnight UTC, so more than a few per day buys little.
	Interval time.Duration
	// FirstPass is how long after Run starts the first pass begins: soon, so a restart does
	// not postpone expirations by a whole Interval, but not at once, while the rest of the
	// process is still starting.
	FirstPass time.Duration
	// CallTimeout bounds every catalog or storage call the scanner makes.
	CallTimeout time.Duration
	// MaxEntriesPerBucket bounds the index entries (objects, versions, uploads) one pass
	// lists per bucket; a bigger bucket is finished by later passes only if it shrinks, so
	// size it above the largest bucket with rules.
	MaxEntriesPerBucket int
	// MaxRemovalsPerBucket bounds the removals one pass makes per bucket, so one bucket
	// that expires millions of objects at midnight does not hold up the others' passes.
	MaxRemovalsPerBucket int
	// PageSize is how many entries one listing call returns.
	PageSize int
	// Now is the clock rules are evaluated against; tests set a fake one.
	Now func() time.Time
	// Logger receives pass summaries (Info) and failures (Warn).
	Logger *slog.Logger
	// Registerer receives the scanner's metrics; nil registers none.
	Registerer prometheus.Registerer
}

// DefaultConfig returns an hourly scan, its first pass a minute after start.
func DefaultConfig() Config {
	return Config{Interval: time.Hour, FirstPass: time.Minute, CallTimeout: 30 * time.Second,
		MaxEntriesPerBucket: 10_000_000, MaxRemovalsPerBucket: 100_000, PageSize: 1000}
}

// Validate checks the bounds.
func (c Config) Validate() error {
	switch {
	case c.Interval <= 0:
		return fmt.Errorf("lifecycle interval (%v) must be positive", c.Interval)
	case c.FirstPass < 0:
		return fmt.Errorf("lifecycle first pass delay (%v) must not be negative", c.FirstPass)
	case c.CallTimeout <= 0:
		return fmt.Errorf("lifecycle call timeout (%v) must be positive", c.CallTimeout)
	case c.MaxEntriesPerBucket <= 0 || c.MaxRemovalsPerBucket <= 0:
		return fmt.Errorf("lifecycle per-bucket limits (%d entries, %d removals) must be positive", c.MaxEntriesPerBucket, c.MaxRemovalsPerBucket)
	case c.PageSize <= 0 || c.PageSize > 1000:
		return fmt.Errorf("lifecycle page size (%d) must be 1 to 1000", c.PageSize)
	}
	return nil
}

// Scanner applies lifecycle rules periodically. Run it once per process; passes never
// overlap.
type Scanner struct {
	cfg  Config
	meta *meta.Client
	rm   Remover
	log  *slog.Logger
	m    *metrics
}

// New returns a scanner over the catalog mc that removes through rm.
func New(cfg Config, mc *meta.Client, rm Remover) (*Scanner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Scanner{cfg: cfg, meta: mc, rm: rm, log: cfg.Logger, m: newMetrics(cfg.Registerer)}, nil
}

// Run makes a pass FirstPass after it starts and then every Interval, until ctx ends.
func (s *Scanner) Run(ctx context.Context) error {
	t := time.NewTimer(s.cfg.FirstPass)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		start := time.Now()
		st := s.Pass(ctx)
		s.log.Info("lifecycle pass", "dur", time.Since(start), "buckets", st.Buckets, "objects", st.Objects,
			"versions", st.Versions, "markers", st.Markers, "uploads", st.Uploads, "skipped", st.Skipped, "errors", st.Errors)
		t.Reset(max(0, s.cfg.Interval-time.Since(start)))
	}
}

// Stats is what one pass did.
type Stats struct {
	Buckets  int // buckets with enabled rules
	Objects  int // current versions expired
	Versions int // noncurrent versions removed
	Markers  int // expired delete markers removed
	Uploads  int // uploads aborted
	Skipped  int // removals skipped: changed since listed
	Errors   int // failed listings and removals
}

// Pass applies every bucket's rules once, as of Config.Now, and returns what it did.
func (s *Scanner) Pass(ctx context.Context) Stats {
	start := time.Now()
	defer func() { s.m.pass.Observe(time.Since(start).Seconds()) }()
	var st Stats
	var buckets []meta.Bucket
	err := s.call(ctx, func(ctx context.Context) (err error) {
		buckets, err = s.meta.Buckets(ctx)
		return err
	})
	if err != nil {
		s.fail(&st, "list buckets", "", err)
		return st
	}
	now := s.cfg.Now()
	for _, b := range buckets {
		if ctx.Err() != nil {
			break
		}
		rules := enabled(b.Lifecycle)
		if len(rules) == 0 {
			continue
		}
		st.Buckets++
		p := &bucketPass{s: s, b: b, rules: rules, now: now, st: &st,
			entries: s.cfg.MaxEntriesPerBucket, removals: s.cfg.MaxRemovalsPerBucket}
		p.run(ctx)
	}
	return st
}

// call runs one catalog or storage call under CallTimeout.
func (s *Scanner) call(ctx context.Context, f func(context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	defer cancel()
	return f(cctx)
}

func (s *Scanner) fail(st *Stats, what, bucket string, err error) {
	st.Errors++
	s.m.errors.Inc()
	s.log.Warn("lifecycle "+what, "bucket", bucket, "err", err)
}

// bucketPass is one pass over one bucket, with what it may still list and remove.
type bucketPass struct {
	s        *Scanner
	b        meta.Bucket
	rules    []meta.LifecycleRule
	now      time.Time
	st       *Stats
	entries  int
	removals int
}

func (p *bucketPass) run(ctx context.Context) {
	var objects, uploads []string
	for _, r := range p.rules {
		if r.Expiration != nil || r.NoncurrentExpiration != nil {
			objects = append(objects, r.Filter.Prefix)
		}
		if r.AbortMultipartDays > 0 {
			uploads = append(uploads, r.Filter.Prefix)
		}
	}
	for _, prefix := range coveringPrefixes(objects) {
		if p.b.Versioning == meta.VersioningOff {
			p.scanCurrent(ctx, prefix)
		} else {
			p.scanVersions(ctx, prefix)
		}
	}
	for _, prefix := range coveringPrefixes(uploads) {
		p.scanUploads(ctx, prefix)
	}
}

// coveringPrefixes returns the fewest prefixes whose listings cover every key the given
// prefixes select, each key once: a prefix that extends another is dropped.
func coveringPrefixes(prefixes []string) []string {
	slices.Sort(prefixes)
	var out []string
	for _, p := range prefixes {
		if len(out) > 0 && strings.HasPrefix(p, out[len(out)-1]) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// more reports whether the pass may go on in this bucket.
func (p *bucketPass) more(ctx context.Context) bool {
	return ctx.Err() == nil && p.entries > 0 && p.removals > 0
}

// remove runs one removal and counts it in counter (and n) if it happened.
func (p *bucketPass) remove(ctx context.Context, what string, n *int, counter prometheus.Counter, f func(context.Context) error) {
	p.removals--
	err := p.s.call(ctx, f)
	switch {
	case err == nil:
		*n++
		counter.Inc()
	case errors.Is(err, meta.ErrConflict), errors.Is(err, meta.ErrNotFound):
		p.st.Skipped++
		p.s.m.skipped.Inc()
	default:
		p.s.fail(p.st, what, p.b.Name, err)
	}
}

// scanCurrent expires the current objects under prefix of a bucket whose versioning is off.
func (p *bucketPass) scanCurrent(ctx context.Context, prefix string) {
	idx := p.s.meta.Index(p.b.Name)
	after := ""
	for p.more(ctx) {
		var page []meta.ObjectEntry
		var more bool
		err := p.s.call(ctx, func(ctx context.Context) (err error) {
			page, more, err = idx.ListObjects(ctx, p.b.Name, prefix, after, min(p.s.cfg.PageSize, p.entries))
			return err
		})
		if err != nil {
			p.s.fail(p.st, "list objects", p.b.Name, err)
			return
		}
		for _, e := range page {
			if !p.more(ctx) {
				return
			}
			p.entries--
			after = e.Key
			if p.s.currentDue(p.rules, e, p.now) {
				p.remove(ctx, "expire object", &p.st.Objects, p.s.m.objects, func(ctx context.Context) error {
					return p.s.rm.ExpireObject(ctx, p.b, e)
				})
			}
		}
		if !more || len(page) == 0 {
			return
		}
	}
}

// scanVersions applies the rules to the version history under prefix of a versioned
// bucket, key by key.
// The index pages by key, so a page that ends inside a key's versions has that key listed
// again on its own.
func (p *bucketPass) scanVersions(ctx context.Context, prefix string) {
	idx := p.s.meta.Index(p.b.Name)
	after := ""
	for p.more(ctx) {
		var page []meta.ObjectEntry
		var more bool
		err := p.s.call(ctx, func(ctx context.Context) (err error) {
			page, more, err = idx.ListObjectVersions(ctx, p.b.Name, prefix, after, min(p.s.cfg.PageSize, max(p.entries, 2)))
			return err
		})
		if err != nil {
			p.s.fail(p.st, "list versions", p.b.Name, err)
			return
		}
		for i := 0; i < len(page) && p.more(ctx); {
			j := i
			for j < len(page) && page[j].Key == page[i].Key {
				j++
			}
			versions := page[i:j]
			if j == len(page) && more {
				// The page may have cut this key's versions short.
				if versions, err = p.versionsOf(ctx, page[i].Key); err != nil {
					p.s.fail(p.st, "list versions of a key", p.b.Name, err)
					return
				}
			}
			p.entries -= len(versions)
			p.applyToKey(ctx, versions)
			after = page[i].Key
			i = j
		}
		if !more || len(page) == 0 {
			return
		}
	}
}

// versionsOf lists up to maxVersionsPerKey versions of key, newest first. A key's versions
// sort before those of longer keys it prefixes.
func (p *bucketPass) versionsOf(ctx context.Context, key string) ([]meta.ObjectEntry, error) {
	var all []meta.ObjectEntry
	err := p.s.call(ctx, func(ctx context.Context) (err error) {
		all, _, err = p.s.meta.Index(p.b.Name).ListObjectVersions(ctx, p.b.Name, key, "", maxVersionsPerKey)
		return err
	})
	if err != nil {
		return nil, err
	}
	n := 0
	for n < len(all) && all[n].Key == key {
		n++
	}
	return all[:n], nil
}

// applyToKey applies the rules to one key's versions, newest (current) first.
func (p *bucketPass) applyToKey(ctx context.Context, versions []meta.ObjectEntry) {
	if len(versions) == 0 {
		return
	}
	cur := versions[0]
	switch {
	case cur.DeleteMarker && len(versions) == 1:
		if p.s.markerDue(p.rules, cur, p.now) {
			p.remove(ctx, "remove delete marker", &p.st.Markers, p.s.m.markers, func(ctx context.Context) error {
				return p.s.rm.RemoveDeleteMarker(ctx, p.b, cur)
			})
		}
		return
	case !cur.DeleteMarker && p.s.currentDue(p.rules, cur, p.now):
		p.remove(ctx, "expire object", &p.st.Objects, p.s.m.objects, func(ctx context.Context) error {
			// The history's copy carries the history row's mod index; the condition is on
			// the current entry's, read now.
			e, err := p.s.meta.Index(p.b.Name).GetObject(ctx, p.b.Name, cur.Key)
			if err != nil {
				return err
			}
			if e.Version != cur.Version {
				return meta.ErrConflict
			}
			return p.s.rm.ExpireObject(ctx, p.b, e)
		})
	}
	for i := 1; i < len(versions) && p.more(ctx); i++ {
		v := versions[i]
		since := versionTime(versions[i-1])
		if p.s.noncurrentDue(p.rules, v, since, i-1, p.now) {
			p.remove(ctx, "expire version", &p.st.Versions, p.s.m.versions, func(ctx context.Context) error {
				return p.s.rm.ExpireVersion(ctx, p.b, v)
			})
		}
	}
}

// scanUploads aborts the bucket's uploads of keys under keyPrefix that are due.
func (p *bucketPass) scanUploads(ctx context.Context, keyPrefix string) {
	prefix := p.b.Name + "/" + keyPrefix
	after := ""
	for p.more(ctx) {
		var items []meta.Item
		var more bool
		err := p.s.call(ctx, func(ctx context.Context) (err error) {
			items, more, err = p.s.meta.List(ctx, meta.TableUploads, prefix, after, min(p.s.cfg.PageSize, p.entries))
			return err
		})
		if err != nil {
			p.s.fail(p.st, "list uploads", p.b.Name, err)
			return
		}
		for _, it := range items {
			if !p.more(ctx) {
				return
			}
			p.entries--
			after = it.Key
			var u meta.Upload
			if err := json.Unmarshal(it.Value, &u); err != nil {
				p.s.fail(p.st, "decode upload", p.b.Name, err)
				continue
			}
			if uploadDue(p.rules, u, p.now) {
				p.remove(ctx, "abort upload", &p.st.Uploads, p.s.m.uploads, func(ctx context.Context) error {
					return p.s.rm.AbortUpload(ctx, u)
				})
			}
		}
		if !more || len(items) == 0 {
			return
		}
	}
}
