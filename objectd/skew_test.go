package objectd

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"stratus/internal/hlc"
	"stratus/objectd/client"
)

// TestFutureTimestampsRefused: writes dated beyond MaxClockSkew are refused with nothing
// stored, and a later legitimate write still wins, as it would not after a forged
// ffffffffffffffff tombstone.
func TestFutureTimestampsRefused(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, func(c *Config) { c.MaxClockSkew = time.Minute })
	tg := n.target("d1", 4)
	mustPut(t, n, tg, "k", ts(1), []byte("v1"))
	far := hlc.Timestamp(0xffffffffffffffff)
	soon := hlc.FromTime(time.Now().Add(2 * time.Minute))
	cases := []struct {
		name string
		op   func() error
	}{
		{"delete at ffffffffffffffff", func() error { return n.cl.Delete(ctxT(t), tg, "k", far) }},
		{"delete of a new name at ffffffffffffffff", func() error { return n.cl.Delete(ctxT(t), tg, "new", far) }},
		{"put beyond the skew", func() error { return put(t, n, tg, "k", soon, []byte("early")) }},
		{"put of a new name beyond the skew", func() error { return put(t, n, tg, "new", soon, payload(100, 1)) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.op()
			var se *client.StatusError
			if !errors.Is(err, client.ErrFutureTimestamp) || !errors.As(err, &se) || se.Status != http.StatusBadRequest {
				t.Fatalf("err = %v, want 400 ErrFutureTimestamp", err)
			}
		})
	}
	if fs := n.objectFiles(t, "d1", 4, "new"); len(fs) != 0 {
		t.Fatalf("refused writes left files %v", fs)
	}
	if info, b, err := get(t, n, tg, "k"); err != nil || string(b) != "v1" || info.Timestamp != ts(1) {
		t.Fatalf("k after refusals: %q %v %v", b, info.Timestamp, err)
	}
	// Within the skew is fine, and later writes win as usual.
	mustPut(t, n, tg, "k", ts(2), []byte("v2"))
	if err := n.cl.Delete(ctxT(t), tg, "k", ts(3)); err != nil {
		t.Fatal(err)
	}
	mustPut(t, n, tg, "k", hlc.FromTime(time.Now().Add(30*time.Second)), []byte("v4"))
	if _, b, err := get(t, n, tg, "k"); err != nil || string(b) != "v4" {
		t.Fatalf("k = %q, %v; want v4", b, err)
	}
}

// TestPushSkipsFutureRecords: a pushed record dated too far ahead is skipped and counted,
// and the records after it in the stream are still stored.
func TestPushSkipsFutureRecords(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, nil)
	tg := n.target("d1", 7)
	var stream []byte
	for _, r := range []struct {
		name string
		at   hlc.Timestamp
	}{{"future", hlc.FromTime(time.Now().Add(time.Hour))}, {"present", ts(1)}} {
		content := []byte(r.name)
		rec := client.Record{Kind: client.KindData, Info: client.Info{Name: r.name, Timestamp: r.at,
			Length: int64(len(content)), Checksum: client.ChecksumOf(content)}}
		hdr, err := rec.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		stream = append(append(stream, hdr...), content...)
	}
	res, err := n.cl.Push(ctxT(t), tg, func(w io.Writer) error { _, err := w.Write(stream); return err })
	if err != nil {
		t.Fatal(err)
	}
	if res != (client.PushResult{Stored: 1, Refused: 1}) {
		t.Fatalf("push result %+v, want 1 stored, 1 refused", res)
	}
	assertNothingVisible(t, n, tg, "future")
	if _, b, err := get(t, n, tg, "present"); err != nil || string(b) != "present" {
		t.Fatalf("present: %q %v", b, err)
	}
}

// TestReplicatorDoesNotSpreadFutureVersions: a node holding a version dated in its future
// (written while its clock ran an hour fast) neither offers it to its peers nor, were its
// clock still fast, gets it past theirs.
func TestReplicatorDoesNotSpreadFutureVersions(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	var offsets [3]atomic.Int64 // each node's clock error
	i := 0
	c := newCluster(t, 3, 1, func(cfg *Config) {
		off := &offsets[i]
		i++
		cfg.Now = func() time.Time { return time.Now().Add(time.Duration(off.Load())) }
	})
	name := "from-the-future"
	part, prims := c.place(name)
	a, tg := c.target(prims[0], part)
	ai := 0
	for k, n := range c.nodes {
		if n == a {
			ai = k
		}
	}
	offsets[ai].Store(int64(time.Hour))
	future := hlc.FromTime(time.Now().Add(time.Hour))
	mustPut(t, a, tg, name, future, []byte("early"))

	// Its clock still fast, the node offers the version; the peers refuse it.
	rep, err := a.srv.ReplicateOnce(ctxT(t))
	if err != nil || rep.Objects != 0 {
		t.Fatalf("replication from the fast node: %+v %v, want nothing stored", rep, err)
	}
	// Its clock set right, the node holds old data from the future: it does not offer it.
	offsets[ai].Store(0)
	if rep, err = a.srv.ReplicateOnce(ctxT(t)); err != nil || rep.Objects != 0 || rep.Errors != 0 {
		t.Fatalf("replication after the clock was fixed: %+v %v", rep, err)
	}
	for _, d := range prims[1:] {
		n, tg := c.target(d, part)
		if _, _, err := get(t, n, tg, name); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("%v holds the future version: %v", tg, err)
		}
	}
	// The other replicas take a write of the present.
	_, tg1 := c.target(prims[1], part)
	mustPut(t, c.byHost[prims[1].Host], tg1, name, ts(1), []byte("now"))
	c.replicate(t)
	_, tg2 := c.target(prims[2], part)
	if _, b, err := get(t, c.byHost[prims[2].Host], tg2, name); err != nil || !bytes.Equal(b, []byte("now")) {
		t.Fatalf("third replica: %q %v", b, err)
	}
}
