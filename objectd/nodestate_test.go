package objectd

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrapeValue returns the value of the series line that starts with series, or fails.
func scrapeValue(t *testing.T, addr, series string) float64 {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for line := range strings.Lines(string(body)) {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("no series %s in:\n%s", series, body)
	return 0
}

// TestNodeStateMetrics: the gauges an operator alerts on follow the devices and the
// replicator: a device without its marker reads unusable, a pass with a peer down leaves
// partitions behind and the unsynced age growing, and a clean pass clears the age.
func TestNodeStateMetrics(t *testing.T) {
	c := newCluster(t, 3, 2)
	n := c.nodes[0]
	if v := scrapeValue(t, n.addr, `stratus_objectd_device_usable{device="d1"}`); v != 1 {
		t.Fatalf("d1 usable = %v", v)
	}
	if v := scrapeValue(t, n.addr, `stratus_objectd_device_free_bytes{device="d1"}`); v <= 0 {
		t.Fatalf("d1 free bytes = %v", v)
	}
	if v := scrapeValue(t, n.addr, `stratus_objectd_ring_devices`); v != 2 {
		t.Fatalf("ring devices = %v", v)
	}
	if v := scrapeValue(t, n.addr, `stratus_objectd_replication_last_pass_timestamp_seconds`); v != 0 {
		t.Fatalf("last pass before any = %v", v)
	}
	if err := os.Remove(filepath.Join(n.dir, "d2", MarkerFile)); err != nil {
		t.Fatal(err)
	}
	if v := scrapeValue(t, n.addr, `stratus_objectd_device_usable{device="d2"}`); v != 0 {
		t.Fatalf("d2 without its marker: usable = %v", v)
	}

	// Something to replicate on d1 of node 0, whose peers include node 2.
	for i := range 20 {
		name := "obj" + strconv.Itoa(i)
		part, prims := c.place(name)
		for _, d := range prims {
			if d.Host == n.addr && d.Name == "d1" {
				mustPut(t, n, n.target("d1", part), name, ts(1), []byte("x"))
			}
		}
	}
	c.nodes[2].stop()
	if _, err := n.srv.ReplicateOnce(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if v := scrapeValue(t, n.addr, `stratus_objectd_replication_partitions_behind`); v <= 0 {
		t.Fatalf("with a peer down, partitions behind = %v", v)
	}
	if v := scrapeValue(t, n.addr, `stratus_objectd_replication_unsynced_seconds`); v <= 0 {
		t.Fatalf("with a peer down, unsynced seconds = %v", v)
	}
	if v := scrapeValue(t, n.addr, `stratus_objectd_replication_last_pass_timestamp_seconds`); v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Fatalf("last pass = %v", v)
	}

	// How the age moves from pass to pass, on a clock the test sets.
	var rs replState
	start := time.Now()
	rs.since = start.Add(-time.Hour)
	rs.passEnded(start, start.Add(time.Second), 3)
	if got := rs.unsynced(start.Add(2 * time.Second)); got < time.Hour {
		t.Fatalf("after a failed pass: unsynced %v, want ≥ 1h", got)
	}
	rs.passEnded(start.Add(time.Minute), start.Add(61*time.Second), 0)
	if got := rs.unsynced(start.Add(2 * time.Minute)); got != 0 {
		t.Fatalf("after a clean pass: unsynced %v", got)
	}
	rs.passEnded(start.Add(3*time.Minute), start.Add(181*time.Second), 1)
	if got := rs.unsynced(start.Add(4 * time.Minute)); got != 3*time.Minute {
		t.Fatalf("failed pass after a clean one: unsynced %v, want 3m (since the clean pass began)", got)
	}
}
