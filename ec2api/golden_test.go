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

	meta "stratus/meta/client"
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

// TestGoldenInstanceXML freezes DescribeInstances' reservation and instance elements, in
// EC2's order, for an instance with a key, a volume, a tag and a state reason.
func TestGoldenInstanceXML(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	in := meta.Instance{ID: "i-0123456789abcdef0", Account: "alice", ImageID: "ami-0123456789abcdef0", InstanceType: "t3.micro",
		VCPUs: 2, MemoryMiB: 1024, Zone: "eu-test-1a", Host: "h1", State: meta.InstanceRunning, DesiredState: meta.DesireStopped,
		KeyName: "k", ReservationID: "r-0123456789abcdef0", LaunchTime: at, RootDeviceName: "/dev/sda1", PrivateIP: "10.0.2.15",
		StateReason: &meta.StateReason{Code: "Client.UserInitiatedShutdown", Message: "Client.UserInitiatedShutdown: User initiated shutdown"},
		Volumes:     []meta.InstanceVolume{{VolumeID: "vol-0123456789abcdef", Device: "/dev/sdf", AttachTime: at, State: meta.VolumeAttached}}}
	resp := &describeInstancesResponse{ReservationSet: set[reservationItem]{Items: reservations([]meta.Instance{in}, []meta.Instance{in},
		map[string]map[string]string{in.ID: {"Name": "web"}})}}
	rec := httptest.NewRecorder()
	writeResponse(rec, "DescribeInstances", resp, "11111111-2222-4333-8444-555555555555")
	golden(t, "describe-instances.xml", rec.Body.Bytes())
}
