package objectd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"stratus/internal/faultfs"
	"stratus/objectd/client"
)

// assertNothingVisible checks that a failed write left no version and no temp file behind.
func assertNothingVisible(t *testing.T, n *testNode, tg client.Target, name string) {
	t.Helper()
	if _, err := n.cl.Head(ctxT(t), tg, name); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("head after failed write: %v, want ErrNotFound", err)
	}
	if fs := n.objectFiles(t, tg.Device, tg.Partition, name); len(fs) != 0 {
		t.Fatalf("files after failed write: %v", fs)
	}
	if fs := files(t, filepath.Join(n.dir, tg.Device, tmpDir)); len(fs) != 0 {
		t.Fatalf("temp files after failed write: %v", fs)
	}
}

// shortReader yields n bytes of b and then EOF, whatever the declared length.
func TestBadBodies(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, nil)
	tg := n.target("d1", 4)
	body := payload(100_000, 3)
	good := client.ChecksumOf(body)
	bad := good + 1
	cases := []struct {
		name string
		req  client.PutRequest
		body []byte
		want error
	}{
		{"truncated, streamed checksum", client.PutRequest{Length: 100_000}, body[:50_000], client.ErrLength},
		{"too long, streamed checksum", client.PutRequest{Length: 50_000}, body, client.ErrLength},
		{"wrong checksum", client.PutRequest{Length: 100_000, Checksum: &bad}, body, client.ErrChecksum},
		{"truncated with content length", client.PutRequest{Length: 100_000, Checksum: &good}, body[:50_000], nil},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("bad-%d", i)
			tc.req.Name, tc.req.Timestamp = name, ts(1)
			err := n.cl.Put(ctxT(t), tg, tc.req, bytes.NewReader(tc.body))
			if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			assertNothingVisible(t, n, tg, name)
		})
	}
}

// TestTruncatedRawBody sends a PUT whose connection closes halfway through the body.
func TestTruncatedRawBody(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, nil)
	tg := n.target("d1", 4)
	conn, err := net.DialTimeout("tcp", n.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	sum := client.ChecksumOf(make([]byte, 1000))
	fmt.Fprintf(conn, "PUT /v1/object/d1/4/%s HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n%s: %s\r\n%s: 1000\r\n%s: %s\r\n\r\n",
		client.EncodeName("trunc"), client.HeaderTimestamp, ts(1), client.HeaderLength, client.HeaderChecksum, sum)
	conn.Write(make([]byte, 400))
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get(client.HeaderError) != "length" {
			t.Fatalf("status %d %q, want 400 length", resp.StatusCode, resp.Header.Get(client.HeaderError))
		}
	}
	assertNothingVisible(t, n, tg, "trunc")
}

// TestStalledBodyTimesOut sends half a body and then nothing, keeping the connection open:
// the node gives up after the idle timeout and stores nothing.
func TestStalledBodyTimesOut(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, func(c *Config) { c.BodyIdleTimeout = 200 * time.Millisecond })
	tg := n.target("d1", 4)
	conn, err := net.DialTimeout("tcp", n.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	sum := client.ChecksumOf(make([]byte, 1000))
	fmt.Fprintf(conn, "PUT /v1/object/d1/4/%s HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n%s: %s\r\n%s: 1000\r\n%s: %s\r\n\r\n",
		client.EncodeName("stalled"), client.HeaderTimestamp, ts(1), client.HeaderLength, client.HeaderChecksum, sum)
	conn.Write(make([]byte, 400))
	// Do not close: the sender is alive but silent. The node must answer on its own, long
	// before the connection's own deadline.
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get(client.HeaderError) != "length" {
		t.Fatalf("stalled body answered %d %q, want 400 length", resp.StatusCode, resp.Header.Get(client.HeaderError))
	}
	assertNothingVisible(t, n, tg, "stalled")
}

func TestHostileRequests(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, nil)
	hc := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	ts1 := ts(1).String()
	cases := []struct {
		name   string
		path   string
		header map[string]string
		status int
	}{
		{"NUL in name", "/v1/object/d1/0/" + client.EncodeName("a\x00b"), nil, 400},
		{"2 KiB name", "/v1/object/d1/0/" + client.EncodeName(strings.Repeat("n", 2048)), nil, 400},
		{"invalid UTF-8 name", "/v1/object/d1/0/" + client.EncodeName("\xff\xfe"), nil, 400},
		{"name not base64", "/v1/object/d1/0/..", nil, 0}, // cleaned by the router: anything but 2xx
		{"name with slash segments", "/v1/object/d1/0/a/../../../x", nil, 0},
		{"device dot-dot", "/v1/object/../0/" + client.EncodeName("x"), nil, 0},
		{"device without marker", "/v1/object/nodev/0/" + client.EncodeName("x"), nil, 507},
		{"partition not a number", "/v1/object/d1/p/" + client.EncodeName("x"), nil, 400},
		{"partition too big", "/v1/object/d1/99999999999/" + client.EncodeName("x"), nil, 400},
		{"bad timestamp", "/v1/object/d1/0/" + client.EncodeName("x"), map[string]string{client.HeaderTimestamp: "yesterday"}, 400},
		{"no checksum", "/v1/object/d1/0/" + client.EncodeName("x"), map[string]string{client.HeaderTimestamp: ts1, client.HeaderLength: "1"}, 400},
		{"bad metadata", "/v1/object/d1/0/" + client.EncodeName("x"), map[string]string{client.HeaderTimestamp: ts1, client.HeaderLength: "1",
			client.HeaderChecksum: client.ChecksumOf([]byte("x")).String(), client.HeaderMetaPrefix + "k": "caf\xc3\xa9"}, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPut, "http://"+n.addr+tc.path, strings.NewReader("x"))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if tc.status != 0 && resp.StatusCode != tc.status || resp.StatusCode < 300 {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
	// Names that look like paths are just names: stored under their hash, inside the device.
	tg := n.target("d1", 0)
	for i, name := range []string{"../../../../etc/passwd", "./.", "a/../b", strings.Repeat("é", 512)} {
		mustPut(t, n, tg, name, ts(10+i), []byte(name))
		if _, b, err := get(t, n, tg, name); err != nil || string(b) != name {
			t.Fatalf("%q: %q, %v", name, b, err)
		}
	}
	for _, f := range files(t, n.dir) {
		if strings.HasPrefix(f, "..") || !strings.HasPrefix(f, "d1/") {
			t.Fatalf("file outside the device: %s", f)
		}
	}
	// The client refuses hostile names before sending anything.
	for _, name := range []string{"", "a\x00b", strings.Repeat("n", 2048)} {
		if err := put(t, n, tg, name, ts(1), nil); !errors.Is(err, client.ErrInvalid) {
			t.Fatalf("client put %q: %v", name[:min(len(name), 8)], err)
		}
	}
}

func TestDiskFaults(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, nil)
	tg := n.target("d1", 6)
	body := payload(1<<20, 4)
	cases := []struct {
		name string
		rule faultfs.Rule
		want error
	}{
		{"disk fills mid-object", faultfs.Rule{Op: faultfs.OpWrite, PathContains: "/tmp/", AfterBytes: 300 << 10, Err: syscall.ENOSPC}, client.ErrNoSpace},
		{"disk full at create", faultfs.Rule{Op: faultfs.OpOpen, PathContains: "/tmp/", Err: syscall.ENOSPC}, client.ErrNoSpace},
		{"fsync fails", faultfs.Rule{Op: faultfs.OpSync, PathContains: "/tmp/", Err: syscall.EIO}, client.ErrInternal},
		{"rename fails", faultfs.Rule{Op: faultfs.OpRename, Err: syscall.EIO}, client.ErrInternal},
		{"mkdir fails with ENOSPC", faultfs.Rule{Op: faultfs.OpMkdir, Err: syscall.ENOSPC}, client.ErrNoSpace},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n.fs.Set(tc.rule)
			defer n.fs.Set()
			name := fmt.Sprintf("fault-%d", i)
			err := put(t, n, tg, name, ts(1), body)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if n.fs.Fired() == 0 {
				t.Fatal("fault never fired")
			}
			n.fs.Set()
			assertNothingVisible(t, n, tg, name)
			// The disk recovered: the same write now succeeds.
			mustPut(t, n, tg, name, ts(1), body)
		})
	}
}

func TestPushRejectsBadRecords(t *testing.T) {
	n := startNode(t, nil, []string{"d1"}, nil)
	tg := n.target("d1", 7)
	content := []byte("hello")
	rec := client.Record{Kind: client.KindData, Info: client.Info{Name: "p", Timestamp: ts(1), Length: 5, Checksum: client.ChecksumOf(content) + 1}}
	hdr, _ := rec.MarshalBinary()
	cases := []struct {
		name   string
		stream []byte
	}{
		{"garbage", []byte("this is not a record stream")},
		{"checksum mismatch", append(hdr, content...)},
		{"truncated content", append(bytes.Clone(hdr), content[:2]...)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := n.cl.Push(ctxT(t), tg, func(w io.Writer) error { _, err := w.Write(tc.stream); return err })
			if err != nil {
				t.Fatal(err)
			}
			if res.Err == "" || res.Stored != 0 {
				t.Fatalf("result %+v, want an error and nothing stored", res)
			}
			assertNothingVisible(t, n, tg, "p")
		})
	}
}
