package proxy_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"stratus/internal/hlc"
	"stratus/internal/testcluster"
	"stratus/objectd"
	"stratus/objectd/client"
	"stratus/proxy"
	"stratus/ring"
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

// reconstructAll runs reconstruction passes on every running node, with ring r.
func reconstructAll(t *testing.T, st *testcluster.Storage, r *ring.Ring, passes int) objectd.ReconstructReport {
	t.Helper()
	var sum objectd.ReconstructReport
	for range passes {
		for _, n := range st.Nodes {
			srv := n.Server()
			srv.SetPolicyRing(code42.Ring, r)
			rep, err := srv.ReconstructOnce(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			sum.Rebuilt += rep.Rebuilt
			sum.Reverted += rep.Reverted
			sum.Removed += rep.Removed
			sum.Errors += rep.Errors
		}
	}
	return sum
}

// TestECHandedOffWriteMovesHome: a write taken with a host down (two fragments handed
// off to the other hosts) is moved home by the reconstructor once the host is back, after
// which the object survives the loss of another host.
func TestECHandedOffWriteMovesHome(t *testing.T) {
	st, p := ecCluster(t, 3, 2)
	r := st.PolicyRing(t, code42.K+code42.M) // the proxy's
	body := payload(4*ecSegment+100, 31)
	st.Nodes[1].Stop()
	res, err := putEC(t, p, "b/home", body)
	if err != nil {
		t.Fatal(err)
	}
	st.Nodes[1].Restart()
	rep := reconstructAll(t, st, r, 2)
	files := archives(t, st)
	// A fragment's left-hand neighbour may rebuild it before the handoff's node pushes it
	// home (the passes run node by node): either way, the handed-off copy goes.
	if rep.Reverted+rep.Rebuilt != 2 || rep.Removed != 2 || len(files) != 6 || handoffArchives(t, files) != 0 {
		t.Fatalf("after the passes: %+v, %d archives, %d handed off; want 2 reverted or rebuilt, 6 archives home", rep, len(files), handoffArchives(t, files))
	}
	st.Nodes[0].Stop()
	got, err := readEC(t, p, "b/home", res.Timestamp, int64(len(body)), nil)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("read with another host down: %v", err)
	}
}

// TestECReadsAcrossRingChange: the EC ring is rebalanced over a fourth host; reads of the
// fragments that moved keep working before the reconstructor moves them (found on their
// former devices) and after (on their new ones), and then every archive is at home.
func TestECReadsAcrossRingChange(t *testing.T) {
	st := testcluster.StartStorage(t, testcluster.StorageOptions{Nodes: 4, Devices: 2})
	p, _ := newProxy(t, st)
	b, err := ring.NewBuilder(ring.BuilderConfig{PartPower: st.Ring.PartPower(), Replicas: code42.K + code42.M})
	if err != nil {
		t.Fatal(err)
	}
	add := func(i int) {
		for _, d := range st.Nodes[i].Devices {
			if _, err := b.Add(ring.Device{Region: 1, Zone: i + 1, Host: st.Nodes[i].Addr, Name: d, Weight: 100}); err != nil {
				t.Fatal(err)
			}
		}
	}
	build := func(seed uint64) *ring.Ring {
		if _, err := b.Rebalance(ring.RebalanceOptions{Seed: seed}); err != nil {
			t.Fatal(err)
		}
		r, err := b.Ring()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for i := range 3 {
		add(i)
	}
	r1 := build(1)
	p.SetPolicyRing(code42.Ring, r1)
	type obj struct {
		name string
		body []byte
		ts   hlc.Timestamp
	}
	var objs []obj
	for i := range 8 {
		o := obj{name: fmt.Sprintf("b/moving-%d", i), body: payload(2*ecSegment+i, uint64(i))}
		res, err := putEC(t, p, o.name, o.body)
		if err != nil {
			t.Fatal(err)
		}
		o.ts = res.Timestamp
		objs = append(objs, o)
	}
	add(3)
	r2 := build(2)
	if !p.SetPolicyRing(code42.Ring, r2) {
		t.Fatalf("ring version %d not adopted over %d", r2.Version(), r1.Version())
	}
	moved := 0
	for _, o := range objs {
		part := r1.Partition(o.name)
		old, cur := r1.Primaries(part, nil), r2.Primaries(part, nil)
		for i := range old {
			if old[i].ID != cur[i].ID {
				moved++
			}
		}
	}
	if moved == 0 {
		t.Fatal("the rebalance moved no fragment of the objects")
	}
	check := func(when string) {
		t.Helper()
		for _, o := range objs {
			got, err := readEC(t, p, o.name, o.ts, int64(len(o.body)), nil)
			if err != nil || !bytes.Equal(got, o.body) {
				t.Fatalf("%s: read %s: %v", when, o.name, err)
			}
		}
	}
	check("before the reconstructor")
	rep := reconstructAll(t, st, r2, 2)
	if rep.Reverted+rep.Rebuilt != moved || rep.Removed != moved || rep.Errors != 0 {
		t.Fatalf("passes: %+v, want %d reverted or rebuilt, and removed", rep, moved)
	}
	check("after the reconstructor")
	if rep := reconstructAll(t, st, r2, 1); rep.Reverted+rep.Rebuilt+rep.Removed+rep.Errors != 0 {
		t.Fatalf("pass once settled: %+v", rep)
	}
	t.Logf("%d of %d fragments moved", moved, 6*len(objs))
}

// TestECDeleteWithHostDown: an object written and deleted while a host is down: the
// deletion of its two fragments goes where the write handed them off, superseding them
// there; once the host is back, the reconstructor gives its devices the tombstone and
// removes the handed-off ones, and no archive of the object is left.
func TestECDeleteWithHostDown(t *testing.T) {
	st, p := ecCluster(t, 3, 2)
	r := st.PolicyRing(t, code42.K+code42.M)
	body := payload(2*ecSegment+5, 41)
	st.Nodes[0].Stop()
	res, err := putEC(t, p, "b/gone", body)
	if err != nil || res.Replicas != 6 {
		t.Fatalf("put with a host down: %+v %v", res, err)
	}
	if err := p.TombstonesEC(ctxT(t), code42, "b/gone", p.Stamp()); err != nil {
		t.Fatalf("delete with a host down: %v (the handoffs should have taken its tombstones)", err)
	}
	st.Nodes[0].Restart()
	if _, err := readEC(t, p, "b/gone", res.Timestamp, int64(len(body)), nil); err == nil {
		t.Fatal("deleted object readable")
	}
	rep := reconstructAll(t, st, r, 2)
	if rep.Rebuilt != 0 || rep.Reverted != 0 {
		t.Fatalf("passes rebuilt or moved archives of a deleted object: %+v", rep)
	}
	if files := archives(t, st); len(files) != 0 {
		t.Fatalf("%d archives of a deleted object left: %v", len(files), files)
	}
	tombs := 0
	for _, n := range st.Nodes {
		m, _ := filepath.Glob(filepath.Join(n.Dir, "*", "objects-"+code42.Ring, "*", "*", "*", "*.ts"))
		for _, f := range m {
			if b, err := os.ReadFile(f); err == nil && !bytes.Contains(b, []byte(".ecf/")) {
				tombs++
			}
		}
	}
	if tombs != 6 {
		t.Fatalf("%d tombstones on the primaries, want 6", tombs)
	}
}
