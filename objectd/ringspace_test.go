package objectd

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"stratus/objectd/client"
	"stratus/ring"
)

// TestRingSpacesKeptApart: an object addressed to another ring (a storage policy's, as an
// erasure-coded fragment archive is) lives in a tree of its own: the same name in the
// object ring is another object, and a replication pass — for which the device is only a
// handoff of that partition in the object ring — neither moves, copies nor removes it.
func TestRingSpacesKeptApart(t *testing.T) {
	c := newCluster(t, 3, 2)
	name := "bucket/fragmented"
	part, _ := c.place(name)
	var hand *ring.Device
	for d := range c.ring.Handoffs(ring.Partition(part)) {
		hand = d
		break
	}
	hn, ht := c.target(hand, part)
	ecT := ht
	ecT.Ring = "ec-4-2"
	fragment := payload(5000, 1)
	mustPut(t, hn, ecT, name, ts(1), fragment)
	if _, got, err := get(t, hn, ecT, name); err != nil || !bytes.Equal(got, fragment) {
		t.Fatalf("read back from the policy's ring: %v", err)
	}
	if _, _, err := get(t, hn, ht, name); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("the object ring's tree holds the policy's object: %v", err)
	}
	onDisk := filepath.Join(hashDirIn(filepath.Join(hn.dir, hand.Name), "ec-4-2", part, nameHash(name)), fileName(client.KindData, ts(1)))
	if _, err := os.Stat(onDisk); err != nil {
		t.Fatalf("fragment not at %s: %v", onDisk, err)
	}

	rep := c.replicate(t)
	if rep.Errors != 0 || rep.Objects != 0 || rep.HandoffsRemoved != 0 {
		t.Fatalf("replication touched the policy's tree: %+v", rep)
	}
	if _, got, err := get(t, hn, ecT, name); err != nil || !bytes.Equal(got, fragment) {
		t.Fatalf("after replication: %v", err)
	}
	for _, n := range c.nodes {
		for _, d := range []string{"d1", "d2"} {
			if n == hn && d == hand.Name {
				continue
			}
			if _, _, err := get(t, n, n.target(d, part), name); !errors.Is(err, client.ErrNotFound) {
				t.Fatalf("copied to %s/%s: %v", n.addr, d, err)
			}
		}
	}
	// Deletes address the tree too; a bad ring name is refused.
	if err := hn.cl.Delete(ctxT(t), ecT, name, ts(2)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := get(t, hn, ecT, name); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	bad := ht
	bad.Ring = "../objects"
	if err := put(t, hn, bad, name, ts(3), fragment); !errors.Is(err, client.ErrInvalid) {
		t.Fatalf("ring name %q: %v", bad.Ring, err)
	}
}
