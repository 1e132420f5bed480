package chunkdev

import (
	"context"
	"encoding/json"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func qemuIO(t *testing.T, uri string, cmds ...string) string {
	t.Helper()
	if _, err := exec.LookPath("qemu-io"); err != nil {
		t.Skipf("qemu-io not installed (apt-get install -y qemu-utils): %v", err)
	}
	args := []string{"-f", "raw"}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "qemu-io", append(args, uri)...).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-io %v: %v\n%s", cmds, err, out)
	}
	for _, bad := range []string{"Pattern verification failed", "error", "failed"} {
		if strings.Contains(string(out), bad) {
			t.Fatalf("qemu-io %v reported %q:\n%s", cmds, bad, out)
		}
	}
	return string(out)
}

// TestQemuIO drives the device over NBD with qemu-io: patterns across chunk boundaries,
// FUA, flush, discard and write-zeroes, read back by a second qemu-io process.
func TestQemuIO(t *testing.T) {
	e := newEnv(t)
	d := e.device(64*mib, 4*mib, 1) // the default chunk size
	uri := serve(t, d)
	qemuIO(t, uri,
		"write -P 0xa1 0 1M",
		"write -P 0xb2 3M 2M",     // across chunks 0 and 1
		"write -f -P 0xc3 8M 64k", // FUA
		"aio_write -P 0xd4 12M 4k",
		"aio_write -P 0xd5 16M 4k",
		"aio_flush",
		"flush",
		"discard 64k 64k",
		"write -z 3M 4k",
	)
	qemuIO(t, uri,
		"read -P 0xa1 0 64k",
		"read -P 0 64k 64k",
		"read -P 0xa1 128k 896k",
		"read -P 0 3M 4k",
		"read -P 0xb2 3076k 2044k",
		"read -P 0xc3 8M 64k",
		"read -P 0xd4 12M 4k",
		"read -P 0xd5 16M 4k",
		"read -P 0 32M 4M", // never written
	)
	if d.Degraded() != 0 {
		t.Fatalf("degraded: %d", d.Degraded())
	}
	// Block status: qemu-img map sees the written ranges as data and the rest as zeros.
	if _, err := exec.LookPath("qemu-img"); err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "qemu-img", "map", "--output=json", "--image-opts",
		"driver=nbd,server.type=unix,server.path="+sockOf(uri)+",export="+testVolume).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img map: %v\n%s", err, out)
	}
	var extents []struct {
		Start  int64 `json:"start"`
		Length int64 `json:"length"`
		Data   bool  `json:"data"`
		Zero   bool  `json:"zero"`
	}
	if err := json.Unmarshal(out, &extents); err != nil {
		t.Fatalf("qemu-img map: %v\n%s", err, out)
	}
	dataAt := func(off int64) (bool, bool) {
		for _, e := range extents {
			if off >= e.Start && off < e.Start+e.Length {
				return e.Data, e.Zero
			}
		}
		t.Fatalf("qemu-img map does not cover %d:\n%s", off, out)
		return false, false
	}
	for _, tc := range []struct {
		off        int64
		data, zero bool
	}{
		{0, true, false}, {64 * kib, false, true}, {3 * mib, false, true}, {4 * mib, true, false},
		{8 * mib, true, false}, {32 * mib, false, true}, {60 * mib, false, true},
	} {
		if data, zero := dataAt(tc.off); data != tc.data || zero != tc.zero {
			t.Errorf("map at %d: data %v zero %v, want %v %v\n%s", tc.off, data, zero, tc.data, tc.zero, out)
		}
	}
}

func sockOf(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return ""
	}
	return u.Query().Get("socket")
}

// TestMultiConnConcurrent has several qemu-io processes write disjoint stripes at once
// through one device, then checks every stripe.
func TestMultiConnConcurrent(t *testing.T) {
	e := newEnv(t)
	d := e.device(32*mib, 1*mib, 1)
	uri := serve(t, d)
	const writers = 4
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			var cmds []string
			for i := range 8 {
				off := (i*writers + w) * 256 * kib
				cmds = append(cmds, "aio_write -P "+itoa(0x10+w)+" "+itoa(off)+" 256k")
			}
			cmds = append(cmds, "aio_flush", "flush")
			qemuIO(t, uri, cmds...)
		})
	}
	wg.Wait()
	for w := range writers {
		for i := range 8 {
			off := (i*writers + w) * 256 * kib
			want := make([]byte, 256*kib)
			for j := range want {
				want[j] = byte(0x10 + w)
			}
			mustRead(t, d, want, int64(off))
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
