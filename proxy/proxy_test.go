package proxy_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"stratus/internal/hlc"
	"stratus/internal/testcluster"
	"stratus/internal/testutil"
	"stratus/objectd/client"
	"stratus/proxy"
	"stratus/ring"
)

func newProxy(t *testing.T, st *testcluster.Storage) (*proxy.Proxy, *client.Client) {
	t.Helper()
	nodes := client.New(client.Config{Timeout: 10 * time.Second})
	t.Cleanup(nodes.CloseIdleConnections)
	cfg := proxy.DefaultConfig()
	cfg.ConnectTimeout = 2 * time.Second
	cfg.ChunkBytes = 64 << 10
	p, err := proxy.New(cfg, nodes, &hlc.Clock{}, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.WaitBackground)
	p.SetRing(st.Ring)
	return p, nodes
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// payload is testutil.Payload, short for the many tests that use it.
func payload(n int, seed uint64) []byte { return testutil.Payload(n, seed) }

func put(t *testing.T, p *proxy.Proxy, name string, body []byte) (proxy.PutResult, error) {
	t.Helper()
	return p.Put(ctxT(t), proxy.PutRequest{Name: name, Length: int64(len(body))}, bytes.NewReader(body), nil)
}

func read(t *testing.T, p *proxy.Proxy, name string, v hlc.Timestamp) ([]byte, error) {
	t.Helper()
	obj, err := p.Get(ctxT(t), name, v, nil)
	if err != nil {
		return nil, err
	}
	defer obj.Body.Close()
	return io.ReadAll(obj.Body)
}

// holders counts the primaries of name that hold version v.
func holders(t *testing.T, r *ring.Ring, nodes *client.Client, name string, v hlc.Timestamp) int {
	t.Helper()
	part := r.Partition(name)
	n := 0
	for _, d := range r.Primaries(part, nil) {
		info, err := nodes.Head(ctxT(t), client.Target{Host: d.Host, Device: d.Name, Partition: uint32(part)}, name)
		if err == nil && info.Timestamp == v {
			n++
		}
	}
	return n
}

func TestPutGet(t *testing.T) {
	st := testcluster.StartStorage(t, testcluster.StorageOptions{})
	p, nodes := newProxy(t, st)
	var name string
	for _, size := range []int{0, 1, 64<<10 - 1, 64 << 10, 300<<10 + 7} {
		body := payload(size, uint64(size))
		name = fmt.Sprintf("bucket/obj-%d", size)
		res, err := put(t, p, name, body)
		if err != nil {
			t.Fatalf("put %d bytes: %v", size, err)
		}
		if res.MD5 != md5.Sum(body) || res.Replicas != 3 {
			t.Fatalf("put %d bytes: md5 %x replicas %d", size, res.MD5, res.Replicas)
		}
		got, err := read(t, p, name, res.Timestamp)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("get %d bytes: %d bytes back, %v", size, len(got), err)
		}
		if n := holders(t, st.Ring, nodes, name, res.Timestamp); n != 3 {
			t.Fatalf("%d primaries hold the write, want 3", n)
		}
	}
	obj, err := p.Get(ctxT(t), name, 0, &client.Range{Offset: 10, Length: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	if b, _ := io.ReadAll(obj.Body); len(b) != 5 {
		t.Fatalf("range read %d bytes", len(b))
	}
}

// TestHandoffWhileNodeDown: with a primary down, writes go to a handoff and keep full
// redundancy; reads work; once the node is back, replication moves the data home.
func TestHandoffWhileNodeDown(t *testing.T) {
	st := testcluster.StartStorage(t, testcluster.StorageOptions{Nodes: 4})
	p, nodes := newProxy(t, st)
	name := "bucket/while-down"
	down := st.Ring.Primaries(st.Ring.Partition(name), nil)[0].Host
	for _, n := range st.Nodes {
		if n.Addr == down {
			n.Stop()
		}
	}
	body := payload(200<<10, 1)
	res, err := put(t, p, name, body)
	if err != nil {
		t.Fatal(err)
	}
	if res.Replicas != 3 {
		t.Fatalf("%d replicas with one primary down and a handoff free, want 3", res.Replicas)
	}
	if got, err := read(t, p, name, res.Timestamp); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("read with a primary down: %v", err)
	}
	for _, n := range st.Nodes {
		if n.Addr == down {
			n.Restart()
		}
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		if err := st.ReplicateAll(ctxT(t)); err != nil {
			return err
		}
		if n := holders(t, st.Ring, nodes, name, res.Timestamp); n != 3 {
			return errors.New("primaries not converged")
		}
		return nil
	})
}

func TestQuorumLost(t *testing.T) {
	st := testcluster.StartStorage(t, testcluster.StorageOptions{})
	p, nodes := newProxy(t, st)
	st.Nodes[0].Stop()
	st.Nodes[1].Stop()
	name := "bucket/no-quorum"
	_, err := put(t, p, name, payload(1000, 2))
	var qe *proxy.QuorumError
	if !errors.As(err, &qe) || !errors.Is(err, proxy.ErrUnavailable) || qe.Got != 1 || qe.Want != 2 {
		t.Fatalf("put with 2 of 3 nodes down: %v", err)
	}
	// The one replica that took the write tombstoned it: nothing to resurrect.
	part := st.Ring.Partition(name)
	for _, d := range st.Ring.Primaries(part, nil) {
		if d.Host != st.Nodes[2].Addr {
			continue
		}
		_, err := nodes.Head(ctxT(t), client.Target{Host: d.Host, Device: d.Name, Partition: uint32(part)}, name)
		if !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("surviving replica after a failed put: %v", err)
		}
	}
}

func TestTruncatedBodyStoresNothing(t *testing.T) {
	st := testcluster.StartStorage(t, testcluster.StorageOptions{})
	p, nodes := newProxy(t, st)
	name := "bucket/truncated"
	body := payload(150<<10, 3)
	_, err := p.Put(ctxT(t), proxy.PutRequest{Name: name, Length: int64(len(body)) + 10}, bytes.NewReader(body), nil)
	if !errors.Is(err, proxy.ErrIncompleteBody) {
		t.Fatalf("short body: %v", err)
	}
	_, err = p.Put(ctxT(t), proxy.PutRequest{Name: name, Length: 100}, bytes.NewReader(body), nil)
	if !errors.Is(err, proxy.ErrIncompleteBody) {
		t.Fatalf("long body: %v", err)
	}
	if n := holders(t, st.Ring, nodes, name, 0); n != 0 {
		t.Fatalf("%d replicas hold a truncated write", n)
	}
	if _, err := read(t, p, name, 0); !errors.Is(err, proxy.ErrNotFound) {
		t.Fatalf("read of a truncated write: %v", err)
	}
}

func TestFailedCommitRetractsData(t *testing.T) {
	st := testcluster.StartStorage(t, testcluster.StorageOptions{})
	p, _ := newProxy(t, st)
	name := "bucket/uncommitted"
	boom := errors.New("index unavailable")
	var stamped hlc.Timestamp
	_, err := p.Put(ctxT(t), proxy.PutRequest{Name: name, Length: 10}, bytes.NewReader(payload(10, 4)),
		func(_ context.Context, r proxy.PutResult) error { stamped = r.Timestamp; return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("put with failing commit: %v", err)
	}
	if _, err := read(t, p, name, stamped); !errors.Is(err, proxy.ErrNotFound) {
		t.Fatalf("uncommitted write still readable: %v", err)
	}
}

func TestDelete(t *testing.T) {
	st := testcluster.StartStorage(t, testcluster.StorageOptions{})
	p, _ := newProxy(t, st)
	name := "bucket/deleted"
	res, err := put(t, p, name, payload(10, 5))
	if err != nil {
		t.Fatal(err)
	}
	var committed hlc.Timestamp
	ts, err := p.Delete(ctxT(t), name, func(_ context.Context, ts hlc.Timestamp) error { committed = ts; return nil })
	if err != nil || ts != committed || ts <= res.Timestamp {
		t.Fatalf("delete: ts %v committed %v put %v err %v", ts, committed, res.Timestamp, err)
	}
	if _, err := read(t, p, name, 0); !errors.Is(err, proxy.ErrNotFound) {
		t.Fatalf("read after delete: %v", err)
	}
	// A delete whose commit fails leaves the data alone.
	res, _ = put(t, p, name, payload(10, 6))
	if _, err := p.Delete(ctxT(t), name, func(context.Context, hlc.Timestamp) error { return errors.New("no") }); err == nil {
		t.Fatal("delete with failing commit succeeded")
	}
	if _, err := read(t, p, name, res.Timestamp); err != nil {
		t.Fatalf("data gone after a failed delete: %v", err)
	}
}

// TestReadNamesVersion: a read asks for the indexed version; a replica holding another
// version is passed over.
func TestReadNamesVersion(t *testing.T) {
	st := testcluster.StartStorage(t, testcluster.StorageOptions{})
	p, _ := newProxy(t, st)
	name := "bucket/versions"
	v1, _ := put(t, p, name, []byte("one"))
	v2, _ := put(t, p, name, []byte("two"))
	if got, err := read(t, p, name, v2.Timestamp); err != nil || string(got) != "two" {
		t.Fatalf("read v2: %q %v", got, err)
	}
	if _, err := read(t, p, name, v1.Timestamp); !errors.Is(err, proxy.ErrNotFound) {
		t.Fatalf("read of a superseded version: %v", err)
	}
}

// silence stops node n and takes its address with a listener that accepts connections and
// never answers: a node that hangs rather than dies.
func silence(t *testing.T, n *testcluster.Node) {
	t.Helper()
	n.Stop()
	ln, err := net.Listen("tcp", n.Addr)
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
}

// TestHungNode: a replica that accepts connections but never answers costs a write one
// ConnectTimeout (a handoff takes its place) and a read one NodeTimeout (the next replica
// serves it); nothing waits forever.
func TestHungNode(t *testing.T) {
	st := testcluster.StartStorage(t, testcluster.StorageOptions{Nodes: 4})
	nodes := client.New(client.Config{Timeout: 10 * time.Second})
	t.Cleanup(nodes.CloseIdleConnections)
	cfg := proxy.DefaultConfig()
	cfg.ConnectTimeout, cfg.NodeTimeout, cfg.ChunkBytes = 300*time.Millisecond, 300*time.Millisecond, 64<<10
	p, err := proxy.New(cfg, nodes, &hlc.Clock{}, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.WaitBackground)
	p.SetRing(st.Ring)
	name := "bucket/hung"
	res, err := put(t, p, name, payload(100<<10, 9))
	if err != nil {
		t.Fatal(err)
	}
	hung := st.Ring.Primaries(st.Ring.Partition(name), nil)[0].Host
	for _, n := range st.Nodes {
		if n.Addr == hung {
			silence(t, n)
		}
	}
	start := time.Now()
	got, err := read(t, p, name, res.Timestamp)
	if err != nil || !bytes.Equal(got, payload(100<<10, 9)) {
		t.Fatalf("read with a hung primary: %v", err)
	}
	// A second name that the hung node is also a primary of.
	name2 := ""
	for i := 0; name2 == ""; i++ {
		cand := fmt.Sprintf("bucket/hung-%d", i)
		for _, d := range st.Ring.Primaries(st.Ring.Partition(cand), nil) {
			if d.Host == hung {
				name2 = cand
			}
		}
	}
	start2 := time.Now()
	res2, err := put(t, p, name2, payload(100<<10, 10))
	if err != nil || res2.Replicas < 2 {
		t.Fatalf("write with a hung node: %+v %v", res2, err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("a hung node held requests for %v", d)
	}
	t.Logf("read took %v, write %v", start2.Sub(start), time.Since(start2))
}

// block is what pattern repeats: a prime length, so the repeats do not line up with
// any buffer size.
var block = payload(1<<20+7, 77)

// pattern is an io.Reader of n bytes, block repeated, that holds none of them itself.
type pattern struct{ off, n int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	i := int(p.off % int64(len(block)))
	m := copy(b[:min(int64(len(b)), p.n-p.off)], block[i:])
	p.off += int64(m)
	return m, nil
}

// TestMemoryIsConstant streams 256 MiB through a write and a read: the heap must not
// grow with the object (it holds one chunk buffer, not the object).
func TestMemoryIsConstant(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 768 MiB to disk")
	}
	st := testcluster.StartStorage(t, testcluster.StorageOptions{})
	p, _ := newProxy(t, st)
	const size = 256 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	peak := uint64(0)
	done, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
		}
	}()
	want := md5.New()
	io.Copy(want, &pattern{n: size})
	res, err := p.Put(ctxT(t), proxy.PutRequest{Name: "bucket/huge", Length: size}, &pattern{n: size}, nil)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := p.Get(ctxT(t), "bucket/huge", res.Timestamp, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := md5.New()
	n, err := io.Copy(got, obj.Body)
	obj.Body.Close()
	close(done)
	<-sampled
	if err != nil || n != size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) || !bytes.Equal(res.MD5[:], want.Sum(nil)) {
		t.Fatalf("read back %d bytes, %v; digests differ or match", n, err)
	}
	runtime.ReadMemStats(&after)
	if grew := int64(peak) - int64(before.HeapAlloc); grew > 48<<20 {
		t.Fatalf("heap grew by %d MiB moving a 256 MiB object", grew>>20)
	}
	t.Logf("heap before %d MiB, peak %d MiB", before.HeapAlloc>>20, peak>>20)
}

// TestHungNodeAfterQuorum: a replica that takes a whole (small) write into its socket and
// never answers, or never answers a read or a delete, costs each request about
// PostQuorumTimeout or SlowReadTimeout, not NodeTimeout.
func TestHungNodeAfterQuorum(t *testing.T) {
	st := testcluster.StartStorage(t, testcluster.StorageOptions{Nodes: 4})
	nodes := client.New(client.Config{Timeout: time.Minute})
	t.Cleanup(nodes.CloseIdleConnections)
	cfg := proxy.DefaultConfig()
	cfg.NodeTimeout, cfg.PostQuorumTimeout, cfg.SlowReadTimeout = 30*time.Second, 100*time.Millisecond, 100*time.Millisecond
	p, err := proxy.New(cfg, nodes, &hlc.Clock{}, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.WaitBackground)
	p.SetRing(st.Ring)
	names := []string{}
	for i := range 3 {
		name := fmt.Sprintf("bucket/slow-%d", i)
		if _, err := put(t, p, name, payload(4<<10, uint64(i))); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	// Hang the first primary of the first name; every name it is a primary of now has one
	// silent replica.
	hung := st.Ring.Primaries(st.Ring.Partition(names[0]), nil)[0].Host
	for _, n := range st.Nodes {
		if n.Addr == hung {
			silence(t, n)
		}
	}
	limit := cfg.NodeTimeout / 3
	start := time.Now()
	if got, err := read(t, p, names[0], 0); err != nil || !bytes.Equal(got, payload(4<<10, 0)) {
		t.Fatalf("read with a hung first primary: %v", err)
	}
	if d := time.Since(start); d > limit {
		t.Errorf("read waited %v for a hung primary", d)
	}
	start = time.Now()
	res, err := put(t, p, names[0], payload(4<<10, 99))
	if err != nil || res.Replicas < 2 {
		t.Fatalf("write with a hung replica: %+v %v", res, err)
	}
	if d := time.Since(start); d > limit {
		t.Errorf("write waited %v for a hung replica after its quorum", d)
	}
	start = time.Now()
	if _, err := p.Delete(ctxT(t), names[0], nil); err != nil {
		t.Fatalf("delete with a hung replica: %v", err)
	}
	if d := time.Since(start); d > limit {
		t.Errorf("delete waited %v for a hung replica after its quorum", d)
	}
}

// TestSilentNodeAtFirstChunk: a primary that accepts the connection but never takes the
// first chunk (as a cut-off node does in a TLS handshake, or here once its socket buffers are
// full) costs the write the post-quorum grace, not ConnectTimeout: a handoff takes its place.
func TestSilentNodeAtFirstChunk(t *testing.T) {
	st := testcluster.StartStorage(t, testcluster.StorageOptions{Nodes: 4})
	nodes := client.New(client.Config{Timeout: time.Minute})
	t.Cleanup(nodes.CloseIdleConnections)
	cfg := proxy.DefaultConfig()
	// The first chunk is far larger than loopback socket buffers, so the silent node cannot
	// swallow it; ConnectTimeout is what the write used to wait.
	cfg.ChunkBytes, cfg.ConnectTimeout, cfg.PostQuorumTimeout = 32<<20, 30*time.Second, 100*time.Millisecond
	p, err := proxy.New(cfg, nodes, &hlc.Clock{}, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.WaitBackground)
	p.SetRing(st.Ring)
	name := "bucket/big"
	silent := st.Ring.Primaries(st.Ring.Partition(name), nil)[0].Host
	for _, n := range st.Nodes {
		if n.Addr == silent {
			silence(t, n)
		}
	}
	body := payload(32<<20, 7)
	start := time.Now()
	res, err := put(t, p, name, body)
	if err != nil || res.Replicas < 2 {
		t.Fatalf("write with a silent primary: %+v %v", res, err)
	}
	if d := time.Since(start); d > cfg.ConnectTimeout/3 {
		t.Errorf("write waited %v for a silent primary", d)
	}
	if got, err := read(t, p, name, res.Timestamp); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("read back: %v", err)
	}
}

// TestOvertakenCommitRetractsAndSucceeds: a commit that says the write lost to a later one
// has its bytes retracted, and Put still succeeds.
func TestOvertakenCommitRetractsAndSucceeds(t *testing.T) {
	st := testcluster.StartStorage(t, testcluster.StorageOptions{})
	p, _ := newProxy(t, st)
	name := "bucket/overtaken"
	res, err := p.Put(ctxT(t), proxy.PutRequest{Name: name, Length: 10}, bytes.NewReader(payload(10, 7)),
		func(context.Context, proxy.PutResult) error { return proxy.ErrOvertaken })
	if err != nil || !res.Overtaken {
		t.Fatalf("overtaken put: %+v %v", res, err)
	}
	if _, err := read(t, p, name, res.Timestamp); !errors.Is(err, proxy.ErrNotFound) {
		t.Fatalf("overtaken write still readable: %v", err)
	}
}
