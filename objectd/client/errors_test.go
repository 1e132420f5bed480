package client

import (
	"errors"
	"fmt"
	"testing"
)

// TestWireErrorTable walks the one table between errors and the wire: every sentinel maps to
// its code and status and back, codes are unique, and wrapped errors still match.
func TestWireErrorTable(t *testing.T) {
	seen := map[string]bool{}
	for _, w := range wireErrors {
		if seen[w.code] {
			t.Errorf("code %q twice", w.code)
		}
		seen[w.code] = true
		if w.status < 400 || w.status > 599 {
			t.Errorf("code %q has status %d", w.code, w.status)
		}
		code, status := ErrorCode(fmt.Errorf("context: %w", w.err))
		if code != w.code || status != w.status {
			t.Errorf("ErrorCode(%v) = %q %d, want %q %d", w.err, code, status, w.code, w.status)
		}
		if got := errorFor(w.code, w.status); got != w.err {
			t.Errorf("errorFor(%q) = %v, want %v", w.code, got, w.err)
		}
		se := &StatusError{Op: "put", Status: w.status, Code: w.code, err: errorFor(w.code, w.status)}
		if !errors.Is(se, w.err) {
			t.Errorf("StatusError with code %q does not match %v", w.code, w.err)
		}
	}
	if code, status := ErrorCode(errors.New("something else")); code != "internal" || status != 500 {
		t.Errorf("unmapped error = %q %d, want internal 500", code, status)
	}
	if got := errorFor("", 404); got != ErrNotFound {
		t.Errorf("status-only 404 = %v, want ErrNotFound", got)
	}
	if got := errorFor("from-the-future", 418); got != ErrInternal {
		t.Errorf("unknown code = %v, want ErrInternal", got)
	}
}
