package client_test

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"stratus/meta/client"
)

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// unitWords are words a JSON name must not contain: units other than the base ones
// (seconds, bytes, ratios) and abbreviations of "second" (STYLE.md §7).
var unitWords = map[string]bool{"ns": true, "us": true, "ms": true, "sec": true, "secs": true, "pct": true, "percent": true,
	"kb": true, "kib": true, "mb": true, "mib": true, "gb": true, "gib": true}

// TestWireJSONConvention: every body of the meta protocol, and every record stored in the
// catalog, names each exported field with an explicit snake_case JSON tag in base units,
// and none holds a time.Duration (which JSON carries as nanoseconds under any name).
func TestWireJSONConvention(t *testing.T) {
	durationType := reflect.TypeFor[time.Duration]()
	seen := map[reflect.Type]bool{}
	var check func(path string, ty reflect.Type)
	check = func(path string, ty reflect.Type) {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice || ty.Kind() == reflect.Array || ty.Kind() == reflect.Map {
			ty = ty.Elem()
		}
		if ty.Kind() != reflect.Struct || seen[ty] || ty.PkgPath() != reflect.TypeFor[client.Status]().PkgPath() {
			return
		}
		seen[ty] = true
		for i := range ty.NumField() {
			f := ty.Field(i)
			if !f.IsExported() {
				continue
			}
			tag, ok := f.Tag.Lookup("json")
			name, _, _ := strings.Cut(tag, ",")
			switch {
			case !ok || name == "":
				t.Errorf("%s.%s: no explicit JSON name", path, f.Name)
				continue
			case name == "-":
				continue
			case !snakeCase.MatchString(name):
				t.Errorf("%s.%s: %q is not snake_case", path, f.Name, name)
			}
			for _, w := range strings.Split(name, "_") {
				if unitWords[w] {
					t.Errorf("%s.%s: %q: %q is not a base unit", path, f.Name, name, w)
				}
			}
			if f.Type == durationType {
				t.Errorf("%s.%s: a time.Duration is nanoseconds in JSON; send seconds as a float named _seconds", path, f.Name)
			}
			check(path+"."+f.Name, f.Type)
		}
	}
	for _, v := range []any{
		// The protocol's bodies (wire.go).
		client.ApplyRequest{}, client.ApplyResponse{}, client.ApplyBatchRequest{}, client.ApplyBatchResponse{},
		client.GetRequest{}, client.GetResponse{}, client.ListRequest{}, client.ListResponse{},
		client.WatchRequest{}, client.WatchResponse{}, client.SecretRequest{}, client.JoinRequest{},
		client.RemoveRequest{}, client.Status{}, client.ErrorResponse{},
		// The records the catalog stores and returns as item values.
		client.ClusterConfig{}, client.RingVersion{}, client.Node{}, client.Account{}, client.AccessKey{},
		client.Bucket{}, client.ObjectEntry{}, client.Upload{}, client.Part{},
	} {
		ty := reflect.TypeOf(v)
		check(ty.Name(), ty)
	}
}

// TestWatchRequestJSON: a watch sends how long to wait as wait_seconds.
func TestWatchRequestJSON(t *testing.T) {
	data, err := json.Marshal(client.WatchRequest{Table: client.TableRings, After: 7, WaitSeconds: (1500 * time.Millisecond).Seconds()})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"table":"rings","after":7,"wait_seconds":1.5}`; string(data) != want {
		t.Fatalf("watch request %s, want %s", data, want)
	}
}
