package s3api

import (
	"strings"
	"testing"

	"stratus/internal/hlc"
)

// Two writes stamped alike (by two proxies) keep their bytes apart: the one the index then
// refuses is retracted without touching the other's.
func TestVersionNamesDifferForOneStamp(t *testing.T) {
	ts := hlc.Timestamp(0x0123456789abcdef)
	for _, key := range []string{"k", strings.Repeat("long/", 300)} {
		a, b := versionName("bkt", key, ts), versionName("bkt", key, ts)
		if a == b || !strings.HasPrefix(a, ".v/bkt/"+ts.String()+"-") {
			t.Fatalf("names for one stamp: %q and %q", a, b)
		}
	}
}
