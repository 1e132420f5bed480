package lifecycle

import (
	"strings"
	"time"

	"stratus/internal/hlc"
	meta "stratus/meta/client"
)

const day = 24 * time.Hour

// dueAfter is when something dated t is days old, S3's way: t plus the days, rounded up to
// the next midnight UTC.
func dueAfter(t time.Time, days int) time.Time {
	d := t.UTC().Add(time.Duration(days) * day)
	if mid := d.Truncate(day); !mid.Equal(d) {
		return mid.Add(day)
	}
	return d
}

// versionTime is when a version was written (or a delete marker put).
func versionTime(e meta.ObjectEntry) time.Time { return hlc.Timestamp(e.Version).Time() }

// matches reports whether rule filter f selects entry e. Size bounds do not apply to
// delete markers, which have no size.
func (s *Scanner) matches(f meta.LifecycleFilter, e meta.ObjectEntry) bool {
	if !strings.HasPrefix(e.Key, f.Prefix) {
		return false
	}
	if !e.DeleteMarker {
		if f.SizeGreaterThan > 0 && e.Size <= f.SizeGreaterThan {
			return false
		}
		if f.SizeLessThan > 0 && e.Size >= f.SizeLessThan {
			return false
		}
	}
	if len(f.Tags) == 0 {
		return true
	}
	for _, want := range f.Tags {
		if !hasTag(e.Tags, want.Key, want.Value) {
			return false
		}
	}
	return true
}

// currentDue reports whether some rule expires e, a current version, at now.
func (s *Scanner) currentDue(rules []meta.LifecycleRule, e meta.ObjectEntry, now time.Time) bool {
	for _, r := range rules {
		x := r.Expiration
		if x == nil || !s.matches(r.Filter, e) {
			continue
		}
		if x.Days > 0 && !now.Before(dueAfter(versionTime(e), x.Days)) {
			return true
		}
		if !x.Date.IsZero() && !now.Before(x.Date) {
			return true
		}
	}
	return false
}

// markerDue reports whether some rule removes m, a delete marker that is the only version
// of its key: one with ExpiredObjectDeleteMarker, or with Days once the marker is that old
// (S3 cleans up expired markers under a Days rule too).
func (s *Scanner) markerDue(rules []meta.LifecycleRule, m meta.ObjectEntry, now time.Time) bool {
	for _, r := range rules {
		x := r.Expiration
		if x == nil || !s.matches(r.Filter, m) {
			continue
		}
		if x.ExpiredObjectDeleteMarker || x.Days > 0 && !now.Before(dueAfter(versionTime(m), x.Days)) {
			return true
		}
	}
	return false
}

// noncurrentDue reports whether some rule removes v, a noncurrent version that stopped
// being current at since and has newer noncurrent versions above it.
func (s *Scanner) noncurrentDue(rules []meta.LifecycleRule, v meta.ObjectEntry, since time.Time, newer int, now time.Time) bool {
	for _, r := range rules {
		nc := r.NoncurrentExpiration
		if nc == nil || newer < nc.NewerVersions || !s.matches(r.Filter, v) {
			continue
		}
		if !now.Before(dueAfter(since, nc.Days)) {
			return true
		}
	}
	return false
}

// uploadDue reports whether some rule aborts u at now.
func uploadDue(rules []meta.LifecycleRule, u meta.Upload, now time.Time) bool {
	for _, r := range rules {
		if r.AbortMultipartDays > 0 && strings.HasPrefix(u.Key, r.Filter.Prefix) &&
			!now.Before(dueAfter(u.Initiated, r.AbortMultipartDays)) {
			return true
		}
	}
	return false
}

// enabled returns the rules that are on.
func enabled(lc *meta.Lifecycle) []meta.LifecycleRule {
	if lc == nil {
		return nil
	}
	var out []meta.LifecycleRule
	for _, r := range lc.Rules {
		if !r.Disabled {
			out = append(out, r)
		}
	}
	return out
}

// hasTag reports whether tags holds key with value.
func hasTag(tags []meta.Tag, key, value string) bool {
	for _, t := range tags {
		if t.Key == key {
			return t.Value == value
		}
	}
	return false
}
