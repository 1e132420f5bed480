package proxy_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"stratus/internal/hlc"
	"stratus/internal/testcluster"
	"stratus/objectd/client"
	"stratus/proxy"
)

const ecSegment = 16 << 10

var code42 = proxy.ECCode{Ring: "ec-4-2", K: 4, M: 2, SegmentBytes: ecSegment}

// ecCluster is storage nodes with an ec-4-2 ring over their devices, and a proxy that
// knows it.
func ecCluster(t *testing.T, nodes, devices int) (*testcluster.Storage, *proxy.Proxy) {
	t.Helper()
	st := testcluster.StartStorage(t, testcluster.StorageOptions{Nodes: nodes, Devices: devices})
	p, _ := newProxy(t, st)
	p.SetPolicyRing(code42.Ring, st.PolicyRing(t, code42.K+code42.M))
	return st, p
}

func putEC(t *testing.T, p *proxy.Proxy, name string, body []byte) (proxy.PutResult, error) {
	t.Helper()
	return p.PutEC(ctxT(t), code42, proxy.PutRequest{Name: name, Length: int64(len(body))}, bytes.NewReader(body), nil)
}

func readEC(t *testing.T, p *proxy.Proxy, name string, v hlc.Timestamp, size int64, rng *client.Range) ([]byte, error) {
	t.Helper()
	obj, err := p.GetEC(ctxT(t), code42, name, v, size, rng)
	if err != nil {
		return nil, err
	}
	defer obj.Body.Close()
	return io.ReadAll(obj.Body)
}

// archives lists the fragment archive files of the ec-4-2 ring on every node.
func archives(t *testing.T, st *testcluster.Storage) []string {
	t.Helper()
	var all []string
	for _, n := range st.Nodes {
		m, _ := filepath.Glob(filepath.Join(n.Dir, "*", "objects-"+code42.Ring, "*", "*", "*", "*.data"))
		all = append(all, m...)
	}
	return all
}

// TestECPutGet: objects of sizes around the segment boundaries round-trip through six
// devices on three hosts, whole and by range, each device holding one archive; the MD5 is
// the content's.
func TestECPutGet(t *testing.T) {
	st, p := ecCluster(t, 3, 2)
	for i, size := range []int{0, 1, ecSegment - 1, ecSegment + 1, 3*ecSegment + 500} {
		body := payload(size, uint64(i))
		name := "b/obj-" + string(rune('a'+i))
		res, err := putEC(t, p, name, body)
		if err != nil {
			t.Fatalf("put %d bytes: %v", size, err)
		}
		if res.Replicas != 6 {
			t.Fatalf("put %d bytes: %d archives stored", size, res.Replicas)
		}
		got, err := readEC(t, p, name, res.Timestamp, int64(size), nil)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("get %d bytes: %v (equal %v)", size, err, bytes.Equal(got, body))
		}
		if size > 10 {
			for _, r := range []client.Range{{Offset: 3, Length: 5}, {Offset: int64(size) / 2, Length: int64(size) - int64(size)/2}} {
				got, err := readEC(t, p, name, res.Timestamp, int64(size), &r)
				if err != nil || !bytes.Equal(got, body[r.Offset:r.Offset+r.Length]) {
					t.Fatalf("range %+v of %d bytes: %v", r, size, err)
				}
			}
		}
	}
	if n := len(archives(t, st)); n != 5*6 {
		t.Fatalf("%d archives on disk, want 30", n)
	}
	if _, err := readEC(t, p, "b/obj-c", 12345, ecSegment-1, nil); !errors.Is(err, proxy.ErrNotFound) {
		t.Fatalf("a version never written: %v", err)
	}
}

// TestECDegradedReads: with a host down (two fragments), with two devices' archives gone,
// or with a corrupt fragment, reads still return the object.
func TestECDegradedReads(t *testing.T) {
	st, p := ecCluster(t, 3, 2)
	body := payload(5*ecSegment+77, 7)
	res, err := putEC(t, p, "b/degraded", body)
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(body))
	check := func(what string) {
		t.Helper()
		// The range first: storage nodes check only whole reads, so a corrupt block
		// reaches the decoder, whose checksum must catch it.
		r := client.Range{Offset: ecSegment + 10, Length: 4 * ecSegment}
		got, err := readEC(t, p, "b/degraded", res.Timestamp, size, &r)
		if err != nil || !bytes.Equal(got, body[r.Offset:r.Offset+r.Length]) {
			t.Fatalf("%s, range: %v", what, err)
		}
		got, err = readEC(t, p, "b/degraded", res.Timestamp, size, nil)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("%s: %v (equal %v)", what, err, bytes.Equal(got, body))
		}
	}
	// The same block corrupt in two archives (fragments 0 and 1): of the K+1 read, at
	// least one corrupt block must be decoded around, and a sixth archive asked for.
	files := archives(t, st)
	corrupt(t, fragmentFile(t, files, 0), 3*ecSegment/4)
	corrupt(t, fragmentFile(t, files, 1), 3*ecSegment/4)
	check("two corrupt fragments")
	// One host down: two fragments unreachable.
	rewrite := func() {
		t.Helper()
		if res, err = putEC(t, p, "b/degraded", body); err != nil {
			t.Fatal(err)
		}
	}
	rewrite()
	st.Nodes[0].Stop()
	check("a host down")
	st.Nodes[0].Restart()
	// Two devices' archives removed, on different hosts.
	rewrite()
	var removed int
	for i, n := range st.Nodes[:2] {
		m, _ := filepath.Glob(filepath.Join(n.Dir, n.Devices[i%2], "objects-"+code42.Ring, "*", "*", "*", res.Timestamp.String()+".data"))
		for _, f := range m {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
			removed++
		}
	}
	if removed != 2 {
		t.Fatalf("removed %d archives, want 2", removed)
	}
	check("two archives gone")
	// A third one gone: too few.
	m, _ := filepath.Glob(filepath.Join(st.Nodes[2].Dir, "*", "objects-"+code42.Ring, "*", "*", "*", res.Timestamp.String()+".data"))
	os.Remove(m[0])
	if _, err := readEC(t, p, "b/degraded", res.Timestamp, size, nil); !errors.Is(err, proxy.ErrUnavailable) {
		t.Fatalf("three of six archives gone: %v, want unavailable", err)
	}
}

// fragmentFile returns the archive file holding fragment index.
func fragmentFile(t *testing.T, files []string, index byte) string {
	t.Helper()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(b, []byte("STEC")); i >= 0 && b[i+7] == index {
			return f
		}
	}
	t.Fatalf("no archive of fragment %d", index)
	return ""
}

// corrupt flips a byte at off in the content of an archive file (past its record header).
func corrupt(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	at := fi.Size() - off
	var b [1]byte
	f.ReadAt(b[:], at)
	b[0] ^= 0x55
	if _, err := f.WriteAt(b[:], at); err != nil {
		t.Fatal(err)
	}
}

// TestECWriteWithNodeDown: with six hosts of one device, a write with one node down
// stores the missing fragment on another device (the ring has no device outside the
// partition) and is acknowledged with all six archives.
func TestECWriteWithNodeDown(t *testing.T) {
	st, p := ecCluster(t, 6, 1)
	body := payload(2*ecSegment+3, 9)
	st.Nodes[1].Stop()
	res, err := putEC(t, p, "b/five", body)
	if err != nil || res.Replicas != 6 {
		t.Fatalf("one node down: %+v %v", res, err)
	}
	got, err := readEC(t, p, "b/five", res.Timestamp, int64(len(body)), nil)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("read: %v", err)
	}
}

// TestECBadBody: a short body, or one refused by Verify, stores nothing.
func TestECBadBody(t *testing.T) {
	st, p := ecCluster(t, 3, 2)
	_, err := p.PutEC(ctxT(t), code42, proxy.PutRequest{Name: "b/short", Length: 100}, bytes.NewReader(make([]byte, 99)), nil)
	if !errors.Is(err, proxy.ErrIncompleteBody) {
		t.Fatalf("short body: %v", err)
	}
	_, err = p.PutEC(ctxT(t), code42, proxy.PutRequest{Name: "b/long", Length: 100}, bytes.NewReader(make([]byte, 101)), nil)
	if !errors.Is(err, proxy.ErrIncompleteBody) {
		t.Fatalf("long body: %v", err)
	}
	refuse := errors.New("bad digest")
	_, err = p.PutEC(ctxT(t), code42, proxy.PutRequest{Name: "b/refused", Length: 100, Verify: func([]byte) error { return refuse }}, bytes.NewReader(make([]byte, 100)), nil)
	if !errors.Is(err, refuse) {
		t.Fatalf("verify: %v", err)
	}
	if n := len(archives(t, st)); n != 0 {
		t.Fatalf("%d archives stored by refused writes", n)
	}
}

// TestECHungNodeDoesNotHoldWrite: a node that takes the archive but never answers costs an
// EC write only the post-quorum grace, not the node timeout; the read goes around it too.
func TestECHungNodeDoesNotHoldWrite(t *testing.T) {
	st, p := ecCluster(t, 6, 1)
	hung := st.Nodes[3]
	hung.Stop()
	ln, err := net.Listen("tcp", hung.Addr)
	if err != nil {
		t.Skipf("cannot take over %s: %v", hung.Addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	body := payload(3*ecSegment, 13)
	start := time.Now()
	res, err := putEC(t, p, "b/hung", body)
	if err != nil || res.Replicas != 5 {
		t.Fatalf("put with a hung node: %+v %v", res, err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("put took %v with a hung node (node timeout 10s)", took)
	}
	got, err := readEC(t, p, "b/hung", res.Timestamp, int64(len(body)), nil)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("read with a hung node: %v", err)
	}
}

// TestECSuperseded: a write stamped before a version the nodes already hold loses
// last-writer-wins and succeeds as superseded, as a replicated write does; the newer
// version is untouched. One stamped before a deletion says so (DeletedAfter).
func TestECSuperseded(t *testing.T) {
	_, p := ecCluster(t, 3, 2)
	newer, older := payload(40_000, 1), payload(40_000, 2)
	later := p.Stamp()
	earlier := later - 1000
	res, err := p.PutEC(ctxT(t), code42, proxy.PutRequest{Name: "b/race", Timestamp: later, Length: int64(len(newer))}, bytes.NewReader(newer), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err = p.PutEC(ctxT(t), code42, proxy.PutRequest{Name: "b/race", Timestamp: earlier, Length: int64(len(older))}, bytes.NewReader(older), nil)
	if err != nil || !res.Superseded || res.DeletedAfter {
		t.Fatalf("older write: %+v %v, want superseded", res, err)
	}
	if got, err := readEC(t, p, "b/race", later, int64(len(newer)), nil); err != nil || !bytes.Equal(got, newer) {
		t.Fatalf("newer version after the older write: %v", err)
	}
	if err := p.TombstonesEC(ctxT(t), code42, "b/race", later+1); err != nil {
		t.Fatal(err)
	}
	res, err = p.PutEC(ctxT(t), code42, proxy.PutRequest{Name: "b/race", Timestamp: earlier + 1, Length: int64(len(older))}, bytes.NewReader(older), nil)
	if err != nil || !res.Superseded || !res.DeletedAfter {
		t.Fatalf("write older than a deletion: %+v %v, want superseded and deleted after", res, err)
	}
}

// TestECOvertakenCommitRetractsAndSucceeds: as for a replicated write, an erasure-coded
// write whose commit says it lost to a later one is retracted (no archive readable) and
// PutEC still succeeds.
func TestECOvertakenCommitRetractsAndSucceeds(t *testing.T) {
	_, p := ecCluster(t, 3, 2)
	name, body := "b/overtaken", payload(2*ecSegment+9, 3)
	res, err := p.PutEC(ctxT(t), code42, proxy.PutRequest{Name: name, Length: int64(len(body))}, bytes.NewReader(body),
		func(context.Context, proxy.PutResult) error { return proxy.ErrOvertaken })
	if err != nil || !res.Overtaken {
		t.Fatalf("overtaken put: %+v %v", res, err)
	}
	if _, err := readEC(t, p, name, res.Timestamp, int64(len(body)), nil); err == nil {
		t.Fatal("overtaken write still readable")
	}
}
