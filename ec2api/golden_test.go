package ec2api

import (
	"bytes"
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden XML files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update if the change is meant):\n got %s\nwant %s", name, got, want)
	}
}

// TestGoldenXML freezes the wire form of a response (namespace, requestId first, lists
// present when empty) and of an error.
func TestGoldenXML(t *testing.T) {
	s, err := New(Config{Region: "eu-test-1", Zones: []string{"eu-test-1a", "eu-test-1b"}, Now: func() time.Time { return time.Unix(0, 0) }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.describeAvailabilityZones(context.Background(), &call{Action: "DescribeAvailabilityZones",
		Params: params{"Filter.1.Name": "zone-name", "Filter.1.Value.1": "*b"}})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	writeResponse(rec, "DescribeAvailabilityZones", resp, "11111111-2222-4333-8444-555555555555")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/xml;charset=UTF-8" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	golden(t, "describe-availability-zones.xml", rec.Body.Bytes())

	rec = httptest.NewRecorder()
	code, status, msg, _ := apiError(errorf(ErrVolumeNotFound, "The volume '%s' does not exist.", "vol-0123456789abcdef"))
	writeError(rec, status, code, msg, "11111111-2222-4333-8444-555555555555", 0)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("status %d", rec.Code)
	}
	golden(t, "error-volume-not-found.xml", rec.Body.Bytes())
}
