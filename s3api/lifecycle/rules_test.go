package lifecycle

import (
	"slices"
	"testing"
	"time"
)

func TestDueAfterRoundsUpToMidnightUTC(t *testing.T) {
	for _, tc := range []struct {
		at   time.Time
		days int
		want time.Time
	}{
		// S3's own example: written 2014-01-15 10:30 UTC, expiring after 3 days: 2014-01-19 00:00.
		{time.Date(2014, 1, 15, 10, 30, 0, 0, time.UTC), 3, time.Date(2014, 1, 19, 0, 0, 0, 0, time.UTC)},
		{time.Date(2014, 1, 15, 0, 0, 0, 0, time.UTC), 1, time.Date(2014, 1, 16, 0, 0, 0, 0, time.UTC)},
		{time.Date(2014, 1, 15, 23, 59, 59, 0, time.UTC), 1, time.Date(2014, 1, 17, 0, 0, 0, 0, time.UTC)},
		// A time in another zone counts in UTC: 01:00+02:00 is 23:00 UTC the day before.
		{time.Date(2014, 1, 15, 1, 0, 0, 0, time.FixedZone("x", 2*3600)), 1, time.Date(2014, 1, 16, 0, 0, 0, 0, time.UTC)},
	} {
		if got := dueAfter(tc.at, tc.days); !got.Equal(tc.want) {
			t.Errorf("dueAfter(%v, %d) = %v, want %v", tc.at, tc.days, got, tc.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := DefaultConfig()
	bad.Interval = 0
	if bad.Validate() == nil {
		t.Error("zero interval accepted")
	}
	bad = DefaultConfig()
	bad.PageSize = 5000
	if bad.Validate() == nil {
		t.Error("page size 5000 accepted")
	}
}

func TestCoveringPrefixes(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"logs/", "logs/2024/", "tmp/"}, []string{"logs/", "tmp/"}},
		{[]string{"a", "", "b"}, []string{""}},
		{[]string{"x/", "x/"}, []string{"x/"}},
		{nil, nil},
	} {
		if got := coveringPrefixes(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("coveringPrefixes(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
