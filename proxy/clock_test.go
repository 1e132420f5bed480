package proxy_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"stratus/internal/hlc"
	"stratus/internal/testcluster"
	"stratus/internal/testutil"
	"stratus/objectd/client"
	"stratus/proxy"
	"stratus/ring"
)

// proxyAt returns a proxy whose clock runs off from the true time by off, and its clock.
func proxyAt(t *testing.T, st *testcluster.Storage, off time.Duration, edit func(*proxy.Config)) (*proxy.Proxy, *hlc.Clock) {
	t.Helper()
	nodes := client.New(client.Config{Timeout: 10 * time.Second})
	t.Cleanup(nodes.CloseIdleConnections)
	cfg := proxy.DefaultConfig()
	cfg.ConnectTimeout = 2 * time.Second
	if edit != nil {
		edit(&cfg)
	}
	clock := &hlc.Clock{Now: func() time.Time { return time.Now().Add(off) }}
	p, err := proxy.New(cfg, nodes, clock, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.WaitBackground)
	p.SetRing(st.Ring)
	return p, clock
}

// TestSlowClockCatchesUp: a proxy whose clock is behind loses its first write to a newer
// version, learns that version's timestamp from the conflict, and wins with its next write;
// reads and deletions it sees move its clock too.
func TestSlowClockCatchesUp(t *testing.T) {
	st := testcluster.StartStorage(t, testcluster.StorageOptions{})
	good, _ := proxyAt(t, st, 0, nil)
	slow, _ := proxyAt(t, st, -5*time.Minute, nil)
	name := "bucket/contested"

	first, err := put(t, good, name, []byte("from the present"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := put(t, slow, name, []byte("from the past")); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("slow proxy's write: %v, want a conflict", err)
	}
	if ts := slow.Stamp(); ts <= first.Timestamp {
		t.Fatalf("slow proxy stamps %v after a conflict with %v", ts, first.Timestamp)
	}
	second, err := put(t, slow, name, []byte("caught up"))
	if err != nil {
		t.Fatalf("slow proxy's write after the conflict: %v", err)
	}
	if b, err := read(t, good, name, 0); err != nil || string(b) != "caught up" {
		t.Fatalf("read %q, %v", b, err)
	}

	// A read carries the version's time to another slow proxy.
	reader, _ := proxyAt(t, st, -5*time.Minute, nil)
	if _, err := read(t, reader, name, 0); err != nil {
		t.Fatal(err)
	}
	if ts := reader.Stamp(); ts <= second.Timestamp {
		t.Fatalf("reader stamps %v after reading %v", ts, second.Timestamp)
	}
	// So does a deletion.
	deleted, err := good.Delete(ctxT(t), name, nil)
	if err != nil {
		t.Fatal(err)
	}
	late, _ := proxyAt(t, st, -5*time.Minute, nil)
	if _, err := read(t, late, name, 0); !errors.Is(err, proxy.ErrNotFound) {
		t.Fatalf("read after delete: %v", err)
	}
	if ts := late.Stamp(); ts <= deleted {
		t.Fatalf("proxy stamps %v after reading the deletion at %v", ts, deleted)
	}
}

// TestFastClockRefused: nodes refuse writes from a proxy whose clock is ahead of theirs by
// more than their bound; the proxy says so at once, as ErrClockSkew rather than a transient
// ErrUnavailable, asks no handoff (which would refuse too), stores nothing anywhere, and
// does not count the nodes as failing.
func TestFastClockRefused(t *testing.T) {
	st := testcluster.StartStorage(t, testcluster.StorageOptions{Nodes: 4})
	good, _ := proxyAt(t, st, 0, nil)
	fast, _ := proxyAt(t, st, time.Hour, func(c *proxy.Config) { c.ErrorLimit = 1 })
	name := "bucket/early"
	sizes := []int{10, 300 << 10}
	for _, size := range sizes {
		_, err := put(t, fast, name, payload(size, 1))
		if !errors.Is(err, proxy.ErrClockSkew) || !errors.Is(err, client.ErrFutureTimestamp) || errors.Is(err, proxy.ErrUnavailable) {
			t.Fatalf("put of %d bytes: %v, want ErrClockSkew", size, err)
		}
	}
	// Each write went to the primaries alone: none was error-limited by the refusals
	// before it, and no handoff was asked.
	part := st.Ring.Partition(name)
	primary := func(host string) bool {
		return slices.ContainsFunc(st.Ring.Primaries(part, nil), func(d *ring.Device) bool { return d.Host == host })
	}
	var handoff string
	for _, n := range st.Nodes {
		want := len(sizes)
		if !primary(n.Addr) {
			want, handoff = 0, n.Addr
		}
		if got := requests(t, st, n.Addr, `code="400",op="put"`); got != want {
			t.Fatalf("%s refused %d puts, want %d", n.Addr, got, want)
		}
	}
	nodes := client.New(client.Config{})
	defer nodes.CloseIdleConnections()
	for _, d := range st.Ring.Devices() {
		tg := client.Target{Host: d.Host, Device: d.Name, Partition: uint32(part)}
		if _, err := nodes.Head(ctxT(t), tg, name); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("%v: %v, want nothing stored", tg, err)
		}
	}
	// The primaries answered, so they are not error-limited: the fast proxy reads from
	// the first of them, not from the handoff.
	if _, err := put(t, good, name, []byte("now")); err != nil {
		t.Fatal(err)
	}
	if b, err := read(t, fast, name, 0); err != nil || string(b) != "now" {
		t.Fatalf("read %q, %v", b, err)
	}
	if n := requests(t, st, handoff, `op="get"`); n != 0 {
		t.Fatalf("the handoff was asked for the read %d times: the primaries were error-limited", n)
	}
}

// requests sums the request counters of the storage node at host whose labels contain
// labels.
func requests(t *testing.T, st *testcluster.Storage, host, labels string) int {
	t.Helper()
	total := 0
	for _, n := range st.Nodes {
		if n.Addr != host {
			continue
		}
		resp, err := http.Get("http://" + n.Addr + client.PathMetrics)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(b)) {
			if strings.HasPrefix(line, "stratus_objectd_requests_total{") && strings.Contains(line, labels) {
				v, err := strconv.Atoi(strings.TrimSpace(line[strings.LastIndexByte(line, ' ')+1:]))
				if err != nil {
					t.Fatalf("metric line %q: %v", line, err)
				}
				total += v
			}
		}
	}
	return total
}

// TestFarFutureVersionNotFollowed: a version dated further ahead than MaxClockSkew (old
// data from before the nodes bounded skew) does not drag the proxy's clock with it.
func TestFarFutureVersionNotFollowed(t *testing.T) {
	st := testcluster.StartStorage(t, testcluster.StorageOptions{})
	name := "bucket/ahead"
	ahead := hlc.FromTime(time.Now().Add(5 * time.Minute)) // within the nodes' bound
	nodes := client.New(client.Config{})
	defer nodes.CloseIdleConnections()
	part := st.Ring.Partition(name)
	for _, d := range st.Ring.Primaries(part, nil) {
		tg := client.Target{Host: d.Host, Device: d.Name, Partition: uint32(part)}
		if err := nodes.Put(ctxT(t), tg, client.PutRequest{Name: name, Timestamp: ahead, Length: 1}, bytes.NewReader([]byte("x"))); err != nil {
			t.Fatal(err)
		}
	}
	strict, _ := proxyAt(t, st, 0, func(c *proxy.Config) { c.MaxClockSkew = time.Minute })
	if _, err := read(t, strict, name, 0); err != nil {
		t.Fatal(err)
	}
	if ts := strict.Stamp(); ts >= ahead {
		t.Fatalf("proxy followed a version %v ahead of its bound to %v", ahead.Time().Sub(time.Now()).Round(time.Second), ts)
	}
	lenient, _ := proxyAt(t, st, 0, nil)
	if _, err := read(t, lenient, name, 0); err != nil {
		t.Fatal(err)
	}
	if ts := lenient.Stamp(); ts <= ahead {
		t.Fatalf("proxy did not follow a version within its bound: stamps %v, read %v", ts, ahead)
	}
}
