package objectd

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestMetricsServed(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, nil)
	mustPut(t, n, n.target("d1", 1), "m", ts(1), []byte("12345"))
	if _, _, err := get(t, n, n.target("d1", 1), "m"); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get("http://" + n.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`stratus_objectd_requests_total{code="201",op="put"} 1`,
		`stratus_objectd_write_bytes_total{device="d1"} 5`,
		`stratus_objectd_read_bytes_total{device="d1"} 5`,
		`stratus_objectd_request_duration_seconds_bucket`,
		`stratus_objectd_ring_version 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
