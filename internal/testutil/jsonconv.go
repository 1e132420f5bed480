package testutil

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The convention of machine output (--json, HTTP JSON bodies): snake_case keys, base units
// in names (_seconds, _bytes, _ratio), never a value JSON cannot hold.
var (
	snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	// unitWords may not appear as a word of a key: units other than the base ones, and
	// abbreviations of "second".
	unitWords = map[string]bool{"ns": true, "us": true, "ms": true, "sec": true, "secs": true, "pct": true, "percent": true,
		"kb": true, "kib": true, "mb": true, "mib": true, "gb": true, "gib": true, "mbps": true}
	// dataKeyed are objects whose keys are data (S3 error codes), not names of the schema.
	dataKeyed = map[string]bool{"errors_by_code": true}
)

// JSONProblems says why data is not one JSON value that follows the convention, and returns
// it decoded. Values JSON cannot hold (NaN, ±Inf) make it unparsable.
func JSONProblems(data []byte) (any, []string) {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, []string{fmt.Sprintf("not JSON: %v", err)}
	}
	if dec.More() {
		return nil, []string{"more than one JSON value"}
	}
	var problems []string
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if !snakeCase.MatchString(k) {
					problems = append(problems, fmt.Sprintf("%s.%s: key is not snake_case", path, k))
				}
				for _, w := range strings.Split(k, "_") {
					if unitWords[w] {
						problems = append(problems, fmt.Sprintf("%s.%s: %q is not a base unit", path, k, w))
					}
				}
				if !dataKeyed[k] {
					walk(path+"."+k, e)
				}
			}
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		}
	}
	walk("", v)
	slices.Sort(problems)
	return v, problems
}

// MachineJSON fails t unless out follows the convention (JSONProblems), and returns it
// decoded.
func MachineJSON(t testing.TB, out []byte) any {
	t.Helper()
	v, problems := JSONProblems(out)
	for _, p := range problems {
		t.Error(p)
	}
	if len(problems) > 0 {
		t.Fatalf("output:\n%s", out)
	}
	return v
}
