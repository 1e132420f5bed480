package meta_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"stratus/meta/client"
	"stratus/meta/metatest"
)

// TestWatchWaitOnTheWire: a watch body's wait_seconds is how long the node holds the
// request; without it the node answers at once.
func TestWatchWaitOnTheWire(t *testing.T) {
	c := metatest.New(t, metatest.Options{Nodes: 1, Quiet: true})
	ctx := ctxT(t, 30*time.Second)
	w, err := c.Client().Watch(ctx, client.TableRings, "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	const wait = time.Second
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for _, tc := range []struct {
		name, body string
		held       bool
	}{
		{"wait_seconds", fmt.Sprintf(`{"table":"rings","after":%d,"wait_seconds":%g}`, w.Index, wait.Seconds()), true},
		{"no wait", fmt.Sprintf(`{"table":"rings","after":%d}`, w.Index), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			resp, err := hc.Post("http://"+c.Nodes[0].Addr+client.PathWatch, "application/json", bytes.NewReader([]byte(tc.body)))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			took := time.Since(start)
			var got client.WatchResponse
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %v", resp.Status, err)
			}
			if len(got.Events) != 0 || got.Index < w.Index {
				t.Fatalf("idle watch = %+v", got)
			}
			if held := took >= wait-100*time.Millisecond; held != tc.held {
				t.Fatalf("answered after %v; want held for %v: %v", took, wait, tc.held)
			}
		})
	}
}
