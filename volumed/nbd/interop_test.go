package nbd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stratus/internal/testutil"
)

// These tests drive the server with real clients from Debian: nbdinfo and nbdcopy
// (libnbd-bin), qemu-img and qemu-io (qemu-utils). `make deps` installs them.

// needTools skips the test if a client binary is missing.
func needTools(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("%s not installed (apt-get install -y qemu-utils libnbd-bin, or make deps): %v", n, err)
		}
	}
}

// run runs a client to completion and returns its standard output; it fails the test if
// the client fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := runErr(t, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func runErr(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "LIBNBD_DEBUG=0")
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// interopServer serves:
//   - mem:  a 64 MiB sparse in-memory export, MultiConn;
//   - file: a 32 MiB file-backed export (holes from the file system), MultiConn;
//   - ro:   a 4 MiB read-only in-memory export holding a known pattern;
//   - rsingle: a 16 MiB in-memory export without MultiConn.
type interopServer struct {
	*testServer
	mem, ro, single *memExport
	file            *fileExport
	filePath        string
	roData          []byte
}

func startInterop(t *testing.T) *interopServer {
	t.Helper()
	s := &interopServer{
		mem:    newMemExport(64 << 20),
		ro:     newMemExport(4 << 20),
		single: newMemExport(16 << 20),
	}
	s.roData = testutil.Payload(4<<20, 42)
	s.ro.WriteAt(context.Background(), s.roData, 0, false)
	s.filePath = filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(s.filePath, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(s.filePath, 32<<20); err != nil {
		t.Fatal(err)
	}
	var err error
	if s.file, err = openFileExport(s.filePath); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.file.closeFile() })
	var ex staticExports
	ex.add("mem", s.mem, ExportInfo{Description: "sparse memory", MultiConn: true})
	ex.add("file", s.file, ExportInfo{Description: "file on disk", MultiConn: true, MinBlockBytes: 512})
	ex.add("ro", s.ro, ExportInfo{Description: "read-only pattern", ReadOnly: true})
	ex.add("single", s.single, ExportInfo{})
	s.testServer = startServer(t, &ex, nil)
	return s
}

func (s *interopServer) tcpURI(name string) string { return "nbd://" + s.tcp + "/" + name }

func (s *interopServer) unixURI(name string) string {
	return "nbd+unix:///" + name + "?socket=" + url.QueryEscape(s.sock)
}

// image writes a raw image of n bytes with data in some 1 MiB stripes and holes between.
func image(t *testing.T, n int, seed uint64) (string, []byte) {
	t.Helper()
	data := make([]byte, n)
	for off := 0; off < n; off += 4 << 20 {
		copy(data[off:], testutil.Payload(min(1<<20, n-off), seed+uint64(off)))
	}
	path := filepath.Join(t.TempDir(), fmt.Sprintf("img-%d.raw", seed))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, data
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNbdinfo(t *testing.T) {
	needTools(t, "nbdinfo")
	s := startInterop(t)

	out := run(t, "nbdinfo", "--list", "--json", "nbd://"+s.tcp)
	var list struct {
		Exports []struct {
			Name          string   `json:"export-name"`
			Description   string   `json:"description"`
			Size          uint64   `json:"export-size"`
			ReadOnly      bool     `json:"is_read_only"`
			MultiConn     bool     `json:"can_multi_conn"`
			CanFlush      bool     `json:"can_flush"`
			CanTrim       bool     `json:"can_trim"`
			CanZero       bool     `json:"can_zero"`
			CanFastZero   bool     `json:"can_fast_zero"`
			CanFUA        bool     `json:"can_fua"`
			CanCache      bool     `json:"can_cache"`
			CanDF         bool     `json:"can_df"`
			MinBlockSize  uint32   `json:"block_size_minimum"`
			PrefBlockSize uint32   `json:"block_size_preferred"`
			MaxBlockSize  uint32   `json:"block_size_maximum"`
			Contexts      []string `json:"contexts"`
		} `json:"exports"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("nbdinfo --list --json: %v\n%s", err, out)
	}
	byName := map[string]int{}
	for i, e := range list.Exports {
		byName[e.Name] = i
	}
	if len(list.Exports) != 4 {
		t.Fatalf("listed %d exports:\n%s", len(list.Exports), out)
	}
	mem := list.Exports[byName["mem"]]
	if mem.Description != "sparse memory" || mem.Size != 64<<20 || mem.ReadOnly || !mem.MultiConn || !mem.CanFlush ||
		!mem.CanTrim || !mem.CanZero || !mem.CanFastZero || !mem.CanFUA || !mem.CanCache || !mem.CanDF {
		t.Errorf("mem export: %+v", mem)
	}
	if mem.MinBlockSize != 1 || mem.PrefBlockSize != 4096 || mem.MaxBlockSize != 32<<20 {
		t.Errorf("mem block sizes %d/%d/%d", mem.MinBlockSize, mem.PrefBlockSize, mem.MaxBlockSize)
	}
	if len(mem.Contexts) != 1 || mem.Contexts[0] != "base:allocation" {
		t.Errorf("mem contexts %q", mem.Contexts)
	}
	if file := list.Exports[byName["file"]]; file.MinBlockSize != 512 || file.Size != 32<<20 {
		t.Errorf("file export: %+v", file)
	}
	if ro := list.Exports[byName["ro"]]; !ro.ReadOnly || ro.CanTrim || ro.CanZero || ro.MultiConn {
		t.Errorf("ro export: %+v", ro)
	}
	if single := list.Exports[byName["single"]]; single.MultiConn {
		t.Errorf("single export: %+v", single)
	}

	// Plain output over the unix socket shows the block sizes too.
	out = run(t, "nbdinfo", s.unixURI("file"))
	for _, want := range []string{"export-size: 33554432", "block_size_minimum: 512", "block_size_preferred: 4096",
		"block_size_maximum: 33554432", "is_read_only: false", "can_multi_conn: true"} {
		if !strings.Contains(out, want) {
			t.Errorf("nbdinfo output lacks %q:\n%s", want, out)
		}
	}

	// --map shows base:allocation: data where written, holes elsewhere.
	ctx := context.Background()
	s.mem.WriteAt(ctx, bytes.Repeat([]byte{1}, 1<<20), 8<<20, false)
	out = run(t, "nbdinfo", "--map", "--json", s.tcpURI("mem"))
	var extents []struct {
		Offset uint64 `json:"offset"`
		Length uint64 `json:"length"`
		Type   uint32 `json:"type"`
	}
	if err := json.Unmarshal([]byte(out), &extents); err != nil {
		t.Fatalf("nbdinfo --map --json: %v\n%s", err, out)
	}
	want := fmt.Sprint([]uint64{0, 8 << 20, 3, 8 << 20, 1 << 20, 0, 9 << 20, 55 << 20, 3})
	var got []uint64
	for _, e := range extents {
		got = append(got, e.Offset, e.Length, uint64(e.Type))
	}
	if fmt.Sprint(got) != want {
		t.Errorf("map %v, want %s\n%s", got, want, out)
	}
}

// TestQemuImgConvert copies a raw image into exports and back out with qemu-img, over TCP
// and the unix socket, and checks the bytes.
func TestQemuImgConvert(t *testing.T) {
	needTools(t, "qemu-img")
	s := startInterop(t)
	tests := []struct {
		name   string
		export string
		uri    func(string) string
		size   int
	}{
		{"mem over tcp", "mem", s.tcpURI, 64 << 20},
		{"file over unix", "file", s.unixURI, 32 << 20},
		{"single over unix", "single", s.unixURI, 16 << 20},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, data := image(t, tc.size, uint64(i))
			run(t, "qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", src, tc.uri(tc.export))
			out := filepath.Join(t.TempDir(), "out.raw")
			run(t, "qemu-img", "convert", "-f", "raw", "-O", "raw", tc.uri(tc.export), out)
			if !bytes.Equal(readFile(t, out), data) {
				t.Fatal("image read back differs from the one written")
			}
			run(t, "qemu-img", "compare", "-f", "raw", "-F", "raw", src, tc.uri(tc.export))
		})
	}
	// The sparse export kept the holes: qemu-img wrote zeroes as zeroes, not data.
	if n := s.mem.allocated(); n > 16*(1<<20)/memBlock {
		t.Errorf("mem export has %d blocks allocated, want at most the 16 MiB of data", n)
	}
	t.Run("read-only export refuses", func(t *testing.T) {
		src, _ := image(t, 4<<20, 9)
		out, err := runErr(t, "qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", src, s.tcpURI("ro"))
		if err == nil || !strings.Contains(out, "Permission denied") {
			t.Fatalf("qemu-img convert into the read-only export: %v\n%s", err, out)
		}
		if got := s.ro.bytes(); !bytes.Equal(got, s.roData) {
			t.Error("read-only export changed")
		}
	})
}

// TestQemuIO drives reads and writes with patterns, flush, discard, write zeroes and
// asynchronous requests with qemu-io.
func TestQemuIO(t *testing.T) {
	needTools(t, "qemu-io")
	s := startInterop(t)
	for _, tc := range []struct{ name, uri string }{
		{"mem", s.tcpURI("mem")},
		{"file", s.unixURI("file")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmds := []string{
				"write -P 0xab 0 1M",
				"read -P 0xab 0 1M",
				"write -f -P 0x11 1M 64k", // FUA
				"read -P 0x11 1M 64k",
				"flush",
				"discard 0 64k",
				"write -z 2M 128k",
				"read -P 0 2M 128k",
				"write -P 0xcd 3M 64k",
				"write -z -u 3M 64k", // may unmap: a hole
				"read -P 0 3M 64k",
				"aio_write -P 0x21 4M 64k",
				"aio_write -P 0x22 5M 64k",
				"aio_write -P 0x23 6M 64k",
				"aio_write -P 0x24 7M 64k",
				"aio_flush",
				"aio_read -P 0x21 4M 64k",
				"aio_read -P 0x22 5M 64k",
				"aio_read -P 0x23 6M 64k",
				"aio_read -P 0x24 7M 64k",
				"aio_flush",
				"readv -P 0xab 512k 4k 60k 64k", // vectored: one request
				"writev -P 0x5a 8M 4k 4k",
				"read -P 0x5a 8M 8k",
				"write -P 0x77 10M 20M", // longer than two read pieces: streamed back
				"read -P 0x77 10M 20M",
			}
			args := []string{"-f", "raw"}
			for _, c := range cmds {
				args = append(args, "-c", c)
			}
			out := run(t, "qemu-io", append(args, tc.uri)...)
			for _, bad := range []string{"fail", "error", "Error", "Pattern verification"} {
				if strings.Contains(out, bad) {
					t.Fatalf("qemu-io reported %q:\n%s", bad, out)
				}
			}
			if n := strings.Count(out, "bytes at offset"); n < len(cmds)-3 {
				t.Errorf("qemu-io ran %d commands:\n%s", n, out)
			}
		})
	}
	t.Run("read-only export refuses writes", func(t *testing.T) {
		// qemu honours NBD_FLAG_READ_ONLY: it will not open the export for writing, and
		// opened read-only it refuses the write itself. (The server's own EPERM is
		// TestRequestErrors's.)
		out, err := runErr(t, "qemu-io", "-f", "raw", "-c", "write -P 1 0 4k", s.tcpURI("ro"))
		if err == nil || !strings.Contains(out, "Permission denied") {
			t.Errorf("qemu-io opened the read-only export for writing: %v\n%s", err, out)
		}
		out, err = runErr(t, "qemu-io", "-f", "raw", "-r", "-c", "read -P 0 0 4k", "-c", "write -P 1 0 4k", s.tcpURI("ro"))
		if err == nil || !strings.Contains(out, "read-only") {
			t.Errorf("qemu-io wrote to the read-only export: %v\n%s", err, out)
		}
		if got := s.ro.bytes(); !bytes.Equal(got, s.roData) {
			t.Error("read-only export changed")
		}
	})
}

// handshakes returns how many connections have entered transmission.
func (s *interopServer) handshakes(t *testing.T) float64 {
	t.Helper()
	return metricValue(t, s.reg, "stratus_volumed_nbd_handshakes_total", "result", "ok")
}

// TestNbdcopy copies images in and out with nbdcopy, over one connection and over four
// (which nbdcopy uses only when the export advertises CAN_MULTI_CONN).
func TestNbdcopy(t *testing.T) {
	needTools(t, "nbdcopy")
	s := startInterop(t)
	tests := []struct {
		name      string
		uri       string
		size      int
		conns     int
		wantConns float64 // connections per copy, at least
	}{
		{"mem one connection", s.tcpURI("mem"), 64 << 20, 1, 1},
		{"mem four connections", s.tcpURI("mem"), 64 << 20, 4, 4},
		{"file four connections over unix", s.unixURI("file"), 32 << 20, 4, 4},
		{"no multi-conn stays on one", s.tcpURI("single"), 16 << 20, 4, 1},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, data := image(t, tc.size, uint64(100+i))
			// nbdcopy uses no more connections than threads, which default to the CPUs.
			conns := fmt.Sprintf("--connections=%d", tc.conns)
			threads := fmt.Sprintf("--threads=%d", tc.conns)
			before := s.handshakes(t)
			run(t, "nbdcopy", conns, threads, "--requests=16", src, tc.uri)
			in := s.handshakes(t) - before
			out := filepath.Join(t.TempDir(), "out.raw")
			if err := os.WriteFile(out, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			before = s.handshakes(t)
			run(t, "nbdcopy", conns, threads, "--requests=16", tc.uri, out)
			outConns := s.handshakes(t) - before
			if !bytes.Equal(readFile(t, out), data) {
				t.Fatal("image copied out differs from the one copied in")
			}
			if in < tc.wantConns || outConns < tc.wantConns {
				t.Errorf("nbdcopy used %v connections in, %v out; want at least %v", in, outConns, tc.wantConns)
			}
			if tc.wantConns == 1 && (in > 1 || outConns > 1) {
				t.Errorf("nbdcopy used %v connections in, %v out to an export without multi-conn", in, outConns)
			}
		})
	}
	t.Run("read-only export refuses", func(t *testing.T) {
		src, _ := image(t, 4<<20, 7)
		out, err := runErr(t, "nbdcopy", src, s.tcpURI("ro"))
		if err == nil || !strings.Contains(out, "read-only") {
			t.Errorf("nbdcopy into the read-only export: %v\n%s", err, out)
		}
		// Reading it works, with several connections (a read-only export has no cache to
		// keep coherent, but it does not advertise multi-conn, so one is used).
		dst := filepath.Join(t.TempDir(), "ro.raw")
		os.WriteFile(dst, nil, 0o600)
		run(t, "nbdcopy", s.tcpURI("ro"), dst)
		if !bytes.Equal(readFile(t, dst), s.roData) {
			t.Error("read-only export copied out wrong")
		}
	})
}
