package objectd

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"stratus/objectd/client"
	"stratus/ring"
)

// ecTarget addresses fragment i's device in the ec-4-2 tree.
func ecTarget(c *cluster, prims []*ring.Device, part uint32, i int) (*testNode, client.Target) {
	n, tg := c.target(prims[i], part)
	tg.Ring = "ec-4-2"
	return n, tg
}

// ecHolds returns what fragment i's primary holds of name: its fragment index and content,
// or the error.
func ecHolds(t *testing.T, c *cluster, prims []*ring.Device, part uint32, name string, i int) (int, []byte, error) {
	t.Helper()
	n, tg := ecTarget(c, prims, part, i)
	info, got, err := get(t, n, tg, name)
	if err != nil {
		return -1, nil, err
	}
	idx, _ := strconv.Atoi(info.Meta[client.MetaECIndex])
	return idx, got, nil
}

// reconstructNodes runs a pass on every node but those skipped (down).
func reconstructNodes(t *testing.T, c *cluster, skip ...*testNode) ReconstructReport {
	t.Helper()
	var sum ReconstructReport
	for _, n := range c.nodes {
		if containsNode(skip, n) {
			continue
		}
		rep, err := n.srv.ReconstructOnce(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		sum.add(rep)
	}
	return sum
}

func containsNode(list []*testNode, n *testNode) bool {
	for _, x := range list {
		if x == n {
			return true
		}
	}
	return false
}

// TestReconstructorRevertsHandoff: fragment 2 kept on another fragment's device under its
// handoff name (as a proxy writes it when 2's node is down), with two more fragments
// lost so that no rebuild is possible: a pass pushes it to its primary and removes it
// from the handoff, and the next rebuilds the other two from it.
func TestReconstructorRevertsHandoff(t *testing.T) {
	c, _, name, part, prims, archives := ecSetup(t)
	for _, i := range []int{2, 4, 5} {
		if err := os.Remove(archiveFile(c, prims, part, name, i)); err != nil {
			t.Fatal(err)
		}
	}
	hn, htg := ecTarget(c, prims, part, 0)
	hname := client.ECHandoffName(name, 2)
	if err := hn.cl.Put(ctxT(t), htg, client.PutRequest{Name: hname, Timestamp: ts(1), Length: int64(len(archives[2])),
		Meta: map[string]string{client.MetaECIndex: "2", client.MetaECName: name}}, bytes.NewReader(archives[2])); err != nil {
		t.Fatal(err)
	}
	var total ReconstructReport
	for range 3 {
		total.add(reconstructAll(t, c))
	}
	if total.Reverted != 1 || total.Removed != 1 || total.Rebuilt != 2 {
		t.Fatalf("passes: %+v, want 1 reverted and removed, 2 rebuilt", total)
	}
	for i := range 6 {
		if idx, got, err := ecHolds(t, c, prims, part, name, i); err != nil || idx != i || !bytes.Equal(got, archives[i]) {
			t.Fatalf("fragment %d: index %d, %v", i, idx, err)
		}
	}
	if _, _, err := get(t, hn, htg, hname); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("handoff archive after the revert: %v", err)
	}
	metrics := scrape(t, hn)
	for _, want := range []string{"stratus_objectd_reconstruction_fragments_reverted_total 1", "stratus_objectd_reconstruction_passes_total 3",
		"stratus_objectd_reconstruction_pass_seconds_count 3"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics of the handoff's node lack %q", want)
		}
	}
}

// TestReconstructorSecondChance: fragment i lost while the device of its left-hand
// neighbour is unavailable: the fragment before that one rebuilds it.
func TestReconstructorSecondChance(t *testing.T) {
	c, _, name, part, prims, archives := ecSetup(t)
	const lost = 3
	if err := os.Remove(archiveFile(c, prims, part, name, lost)); err != nil {
		t.Fatal(err)
	}
	left := c.byHost[prims[lost-1].Host]
	dir := filepath.Join(left.dir, prims[lost-1].Name)
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	rep := reconstructAll(t, c)
	if rep.Rebuilt != 1 {
		t.Fatalf("pass with the left-hand neighbour's device away: %+v, want 1 rebuilt", rep)
	}
	if idx, got, err := ecHolds(t, c, prims, part, name, lost); err != nil || idx != lost || !bytes.Equal(got, archives[lost]) {
		t.Fatalf("fragment %d: index %d, %v", lost, idx, err)
	}
	if err := os.Rename(dir+".away", dir); err != nil {
		t.Fatal(err)
	}
	if rep := reconstructAll(t, c); rep.Rebuilt != 0 || rep.Errors != 0 {
		t.Fatalf("pass with every device back: %+v", rep)
	}
}

// TestReconstructorCarriesTombstones: a deletion that reached only two of six devices
// reaches all within a few passes, and the archives that missed it are not used to
// rebuild the one that is gone; a tombstone past the reclaim age is reaped.
func TestReconstructorCarriesTombstones(t *testing.T) {
	c, _, name, part, prims, _ := ecSetup(t)
	for _, i := range []int{0, 1} {
		n, tg := ecTarget(c, prims, part, i)
		if err := n.cl.Delete(ctxT(t), tg, name, ts(2)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(archiveFile(c, prims, part, name, 3)); err != nil {
		t.Fatal(err)
	}
	var total ReconstructReport
	for range 4 {
		total.add(reconstructAll(t, c))
	}
	if total.Rebuilt != 0 || total.TombstonesCarried != 4 {
		t.Fatalf("passes: %+v, want no rebuild and 4 tombstones carried", total)
	}
	for i := range 6 {
		_, _, err := ecHolds(t, c, prims, part, name, i)
		var se *client.StatusError
		if !errors.Is(err, client.ErrNotFound) || !errors.As(err, &se) || se.Timestamp != ts(2) {
			t.Fatalf("fragment %d's device after the passes: %v, want the tombstone", i, err)
		}
	}
	// An old tombstone is reaped (it is older than the reclaim age: the node's clock is
	// moved on).
	for _, n := range c.nodes {
		n.srv.store.now = func() time.Time { return time.Now().Add(n.srv.cfg.ReclaimAge + time.Hour) }
	}
	if rep := reconstructAll(t, c); rep.Reaped != 6 {
		t.Fatalf("pass past the reclaim age: %+v, want 6 reaped", rep)
	}
	if rep := reconstructAll(t, c); rep.Tombstones != 0 {
		t.Fatalf("tombstones left: %+v", rep)
	}
}

// TestReconstructorThrottle: a rebuild goes at ReconstructBytesPerSecond.
func TestReconstructorThrottle(t *testing.T) {
	c, _, name, part, prims, archives := ecSetup(t)
	const rate = 100_000
	for _, n := range c.nodes {
		n.srv.reconThrottle = newThrottle(rate)
	}
	if err := os.Remove(archiveFile(c, prims, part, name, 1)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rep := reconstructAll(t, c)
	took := time.Since(start)
	// 50,000 bytes decoded and a 12.5 KB archive written: over half a second at 100 KB/s.
	if rep.Rebuilt != 1 || rep.Bytes < 60_000 || took < time.Duration(float64(rep.Bytes-rate/10)/rate*float64(time.Second)) {
		t.Fatalf("rebuild of %d bytes took %v at %d B/s: %+v", rep.Bytes, took, rate, rep)
	}
	if _, got, err := ecHolds(t, c, prims, part, name, 1); err != nil || !bytes.Equal(got, archives[1]) {
		t.Fatalf("rebuilt fragment: %v", err)
	}
}

// TestReconstructorRingChange: after a rebalance of the EC ring over a fourth node, every
// fragment ends on the new ring's primary of its index, and nowhere else.
func TestReconstructorRingChange(t *testing.T) {
	c, old, name, part, _, archives := ecSetup(t)
	// The same builder as ecSetup's, then a fourth node and a rebalance.
	b, err := ring.NewBuilder(ring.BuilderConfig{PartPower: 6, Replicas: 6})
	if err != nil {
		t.Fatal(err)
	}
	add := func(i int, n *testNode) {
		for _, d := range []string{"d1", "d2"} {
			if _, err := b.Add(ring.Device{Region: 1, Zone: i + 1, Host: n.addr, Name: d, Weight: 100}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, n := range c.nodes {
		add(i, n)
	}
	if _, err := b.Rebalance(ring.RebalanceOptions{Seed: 3}); err != nil {
		t.Fatal(err)
	}
	extra := startNode(t, listen(t), []string{"d1", "d2"}, nil)
	c.nodes = append(c.nodes, extra)
	c.byHost[extra.addr] = extra
	add(3, extra)
	if _, err := b.Rebalance(ring.RebalanceOptions{Seed: 4}); err != nil {
		t.Fatal(err)
	}
	r, err := b.Ring()
	if err != nil {
		t.Fatal(err)
	}
	if r.Version() <= old.Version() {
		t.Skipf("new ring version %d not above %d", r.Version(), old.Version())
	}
	for _, n := range c.nodes {
		n.srv.SetPolicyRing("ec-4-2", r)
	}
	prims := r.Primaries(ring.Partition(part), nil)
	moved := 0
	for i, d := range prims {
		if od := old.Primaries(ring.Partition(part), nil)[i]; od.Host != d.Host || od.Name != d.Name {
			moved++
		}
	}
	var total ReconstructReport
	for range 4 {
		total.add(reconstructAll(t, c))
	}
	if moved == 0 {
		t.Logf("partition %d did not move", part)
	}
	for i := range 6 {
		idx, got, err := ecHolds(t, c, prims, part, name, i)
		if err != nil || idx != i || !bytes.Equal(got, archives[i]) {
			t.Fatalf("fragment %d on the new ring's primary: index %d, %v (passes %+v, %d moved)", i, idx, err, total, moved)
		}
	}
	// Nothing left on devices that are no longer primaries of the partition.
	for _, n := range c.nodes {
		for _, dev := range []string{"d1", "d2"} {
			isPrim := false
			for _, d := range prims {
				isPrim = isPrim || d.Host == n.addr && d.Name == dev
			}
			if isPrim {
				continue
			}
			tg := n.target(dev, part)
			tg.Ring = "ec-4-2"
			if _, _, err := get(t, n, tg, name); !errors.Is(err, client.ErrNotFound) {
				t.Fatalf("%s/%s still serves the object after the move: %v", n.addr, dev, err)
			}
		}
	}
	t.Logf("ring change: %d of 6 fragments moved; passes %+v", moved, total)
}

// scrape returns a node's /metrics page.
func scrape(t *testing.T, n *testNode) string {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get("http://" + n.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}
