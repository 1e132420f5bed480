package objectd

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"stratus/ec"
	"stratus/objectd/client"
	"stratus/ring"
)

// ecSetup stores the 4+2 fragment archives of one object on a 6-replica ring over a
// three-node, six-device cluster, and gives every node that ring.
func ecSetup(t *testing.T) (*cluster, *ring.Ring, string, uint32, []*ring.Device, [][]byte) {
	t.Helper()
	c := newCluster(t, 3, 2)
	b, err := ring.NewBuilder(ring.BuilderConfig{PartPower: 6, Replicas: 6})
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range c.nodes {
		for _, d := range []string{"d1", "d2"} {
			if _, err := b.Add(ring.Device{Region: 1, Zone: i + 1, Host: n.addr, Name: d, Weight: 100}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := b.Rebalance(ring.RebalanceOptions{Seed: 3}); err != nil {
		t.Fatal(err)
	}
	r, err := b.Ring()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.nodes {
		n.srv.SetPolicyRing("ec-4-2", r)
	}
	name := "bucket/rebuilt"
	l := ec.Layout{K: 4, M: 2, SegmentSize: 4096, Size: 50_000}
	bufs := make([]bytes.Buffer, 6)
	outs := make([]io.Writer, 6)
	for i := range outs {
		outs[i] = &bufs[i]
	}
	enc, err := ec.NewEncoder(l, outs, 6)
	if err != nil {
		t.Fatal(err)
	}
	enc.Write(payload(int(l.Size), 4))
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	part := uint32(r.Partition(name))
	prims := r.Primaries(ring.Partition(part), nil)
	archives := make([][]byte, 6)
	for i, d := range prims {
		archives[i] = bufs[i].Bytes()
		n, tg := c.target(d, part)
		tg.Ring = "ec-4-2"
		if err := n.cl.Put(ctxT(t), tg, client.PutRequest{Name: name, Timestamp: ts(1), Length: int64(len(archives[i])),
			Meta: map[string]string{client.MetaECIndex: fmt.Sprint(i)}}, bytes.NewReader(archives[i])); err != nil {
			t.Fatal(err)
		}
	}
	return c, r, name, part, prims, archives
}

func reconstructAll(t *testing.T, c *cluster) ReconstructReport {
	t.Helper()
	var sum ReconstructReport
	for _, n := range c.nodes {
		rep, err := n.srv.ReconstructOnce(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		sum.add(rep)
	}
	return sum
}

// archiveFile is where fragment i of name lives.
func archiveFile(c *cluster, prims []*ring.Device, part uint32, name string, i int) string {
	n := c.byHost[prims[i].Host]
	return filepath.Join(hashDirIn(filepath.Join(n.dir, prims[i].Name), "ec-4-2", part, nameHash(name)), fileName(client.KindData, ts(1)))
}

// TestReconstructor: a lost fragment archive is rebuilt, byte for byte, by its left-hand
// neighbour's node; a corrupt one is quarantined by its own node and then rebuilt; a
// healthy set is left alone.
func TestReconstructor(t *testing.T) {
	c, _, name, part, prims, archives := ecSetup(t)
	if rep := reconstructAll(t, c); rep.Archives != 6 || rep.Rebuilt != 0 || rep.Errors != 0 || rep.Quarantined != 0 {
		t.Fatalf("healthy pass: %+v", rep)
	}
	read := func(i int) []byte {
		t.Helper()
		n, tg := c.target(prims[i], part)
		tg.Ring = "ec-4-2"
		_, got, err := get(t, n, tg, name)
		if err != nil {
			t.Fatalf("fragment %d: %v", i, err)
		}
		return got
	}
	// Lost: fragment 2's file removed.
	if err := os.Remove(archiveFile(c, prims, part, name, 2)); err != nil {
		t.Fatal(err)
	}
	if rep := reconstructAll(t, c); rep.Rebuilt != 1 || rep.Errors != 0 {
		t.Fatalf("pass after a loss: %+v", rep)
	}
	if !bytes.Equal(read(2), archives[2]) {
		t.Fatal("rebuilt fragment 2 differs from the original")
	}
	// Corrupt: a byte of fragment 0 (its left-hand neighbour is fragment 5).
	f := archiveFile(c, prims, part, name, 0)
	data, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-100] ^= 1
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var total ReconstructReport
	for range 2 { // quarantined in one pass, rebuilt in the same or the next
		rep := reconstructAll(t, c)
		total.Quarantined += rep.Quarantined
		total.Rebuilt += rep.Rebuilt
	}
	if total.Quarantined != 1 || total.Rebuilt != 1 {
		t.Fatalf("passes after a corruption: %+v", total)
	}
	if !bytes.Equal(read(0), archives[0]) {
		t.Fatal("rebuilt fragment 0 differs from the original")
	}
	if rep := reconstructAll(t, c); rep.Rebuilt != 0 || rep.Quarantined != 0 {
		t.Fatalf("pass after healing: %+v", rep)
	}
}
