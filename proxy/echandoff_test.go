package proxy_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stratus/objectd/client"
	"stratus/proxy"
)

// handoffArchives lists the archive files stored under a handoff name (ECHandoffName): their
// hash directories differ from the object's, so they are counted by their record's name.
func handoffArchives(t *testing.T, files []string) int {
	t.Helper()
	n := 0
	for _, f := range files {
		if b, err := os.ReadFile(f); err != nil {
			t.Fatal(err)
		} else if bytes.Contains(b, []byte(".ecf/")) {
			n++
		}
	}
	return n
}

// TestECWriteHandsOffFragments: with 4+2 on three hosts of two devices, one host down
// leaves no device outside the partition; its two fragments go to two of the four live
// devices (on different hosts) under their handoff names, the write stores all six
// archives, and reads find them there — with the host still down, and once it is back
// holding nothing.
func TestECWriteHandsOffFragments(t *testing.T) {
	st, p := ecCluster(t, 3, 2)
	body := payload(3*ecSegment+11, 21)
	st.Nodes[2].Stop()
	res, err := putEC(t, p, "b/handed", body)
	if err != nil || res.Replicas != 6 {
		t.Fatalf("put with a host down: %+v %v", res, err)
	}
	files := archives(t, st)
	if len(files) != 6 || handoffArchives(t, files) != 2 {
		t.Fatalf("%d archives, %d handed off; want 6 and 2", len(files), handoffArchives(t, files))
	}
	for _, n := range st.Nodes[:2] {
		m, _ := filepath.Glob(filepath.Join(n.Dir, "*", "objects-"+code42.Ring, "*", "*", "*", "*.data"))
		if len(m) != 3 {
			t.Fatalf("node %s holds %d archives, want 3 (its two and one handed off)", n.Addr, len(m))
		}
	}
	got, err := readEC(t, p, "b/handed", res.Timestamp, int64(len(body)), nil)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("read with the host down: %v", err)
	}
	st.Nodes[2].Restart()
	// Its primaries answer "not found": the fragments are looked for on the handoffs.
	r := client.Range{Offset: ecSegment - 5, Length: 2 * ecSegment}
	got, err = readEC(t, p, "b/handed", res.Timestamp, int64(len(body)), &r)
	if err != nil || !bytes.Equal(got, body[r.Offset:r.Offset+r.Length]) {
		t.Fatalf("range read with the host back, empty: %v", err)
	}
	// A deletion reaches every primary; the handed-off archives are the reconstructor's.
	if err := p.TombstonesEC(ctxT(t), code42, "b/handed", p.Stamp()); err != nil {
		t.Fatal(err)
	}
	if _, err := readEC(t, p, "b/handed", res.Timestamp, int64(len(body)), nil); err == nil {
		// The primaries hold tombstones; the handoffs alone are two archives.
		t.Fatal("deleted object still readable")
	}
}

// TestECWriteNeedsMarginPerDevice: with six hosts of one device, writes go on as hosts go
// down while the archives stored, less the most on one device, are at least K: two down
// (six archives on four devices) and three down (six on three) are taken, four down
// (four on two) is refused and leaves nothing readable.
func TestECWriteNeedsMarginPerDevice(t *testing.T) {
	st, p := ecCluster(t, 6, 1)
	body := payload(2*ecSegment+3, 9)
	for down := 1; down <= 3; down++ {
		st.Nodes[down].Stop()
		name := "b/down-" + string(rune('0'+down))
		res, err := putEC(t, p, name, body)
		if err != nil || res.Replicas != 6 {
			t.Fatalf("%d nodes down: %+v %v", down, res, err)
		}
		got, err := readEC(t, p, name, res.Timestamp, int64(len(body)), nil)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("%d nodes down, read: %v", down, err)
		}
	}
	st.Nodes[4].Stop()
	res, err := putEC(t, p, "b/down-4", body)
	var qe *proxy.QuorumError
	if !errors.As(err, &qe) || qe.Got != 4 {
		t.Fatalf("four nodes down: %+v %v, want refused with 4 stored", res, err)
	}
	if !strings.Contains(err.Error(), "put") {
		t.Fatalf("error %v does not name the operation", err)
	}
}
