package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"stratus/internal/pki"
	objclient "stratus/objectd/client"
	"stratus/ring"
	"stratus/volumed/chunkdev"
)

// TestVolumeProcesses runs real processes (meta, three objectd, volumed on hosts a and b)
// and checks, through NBD with qemu-io: a forced attach elsewhere fences the old holder; a
// storage node killed mid-run loses no flushed write and is repaired by volumed of exactly
// the chunks written while it was down; deleting the volume removes its chunks everywhere; a
// volume grown while attached is served at its new size to new connections; `stratus status`
// exits 1 naming a killed storage node, and 0 while all are up.
func TestVolumeProcesses(t *testing.T) {
	qemu, err := exec.LookPath("qemu-io")
	if err != nil {
		t.Skip("qemu-io not installed (Debian package qemu-utils; make test installs it): the volume process tests drive NBD with it")
	}
	c := startProcCluster(t)
	t.Run("fencing", func(t *testing.T) { testProcessFencing(t, c, qemu) })
	t.Run("killed-objectd", func(t *testing.T) { testProcessKilledObjectd(t, c, qemu) })
	t.Run("resize", func(t *testing.T) { testProcessResize(t, c, qemu) })
	t.Run("status", func(t *testing.T) { testProcessStatus(t, c) })
}

// testProcessResize: a volume grown while attached is served at its new size to new NBD
// connections, whose writes at the new tail read back; a connection open since before keeps
// the size it negotiated.
func testProcessResize(t *testing.T, c *procCluster, qemu string) {
	b := c.volumed["b"]
	id := c.createVolume("64MiB", "4MiB")
	c.run("volume", "attach", id, "--host", "b", "--meta", c.meta)
	c.waitServed(qemu, b, id)
	uri := "nbd://" + b.nbd + "/" + id
	sb := startQemuSession(t, qemu, uri)
	if got := sb.length(t); got != "64 MiB" {
		t.Fatalf("length before the resize: %q", got)
	}
	if out := c.run("volume", "resize", id, "--size", "96MiB", "--meta", c.meta); !strings.Contains(out, "is 96MiB") || !strings.Contains(out, "new NBD connections") {
		t.Fatalf("resize:\n%s", out)
	}
	start := time.Now()
	c.eventually(b.proc, 10*time.Second, func() error {
		if out := qemuIO(t, qemu, uri, "length"); !strings.Contains(out, "96 MiB") {
			return fmt.Errorf("length after the resize: %s", out)
		}
		return nil
	})
	t.Logf("new connections saw the new size %.2fs after the resize", time.Since(start).Seconds())
	if out := qemuIO(t, qemu, uri, "write -P 0x77 95M 1M", "flush"); ioFailed(out) {
		t.Fatalf("write the new tail: %s", out)
	}
	if out := qemuIO(t, qemu, uri, "read -P 0x77 95M 1M", "read -P 0 64M 4k"); ioFailed(out) || strings.Contains(out, "Pattern verification failed") {
		t.Fatalf("read the new tail back:\n%s", out)
	}
	if got := sb.length(t); got != "64 MiB" {
		t.Fatalf("length on the connection from before the resize: %q, want 64 MiB (NBD has no resize notice)", got)
	}
}

// testProcessFencing: host a serves a volume and writes it; a is cut off from meta (so it
// neither renews its lease nor hears of the takeover, and keeps serving until its lease
// expires), an operator attaches the volume to b with --force, and b writes. a's writes on
// its open connection are then refused by the storage nodes (the fence), while a still serves
// the volume; b reads its own writes and a's writes from before the takeover, none of a's
// after; a stops serving once its lease has expired.
func testProcessFencing(t *testing.T, c *procCluster, qemu string) {
	a, b := c.volumed["a"], c.volumed["b"]
	id := c.createVolume("64MiB", "1MiB")
	// The lease runs 6 s unless renewed (the daemons renew every 2 s).
	c.run("volume", "attach", id, "--host", "a", "--ttl", "6s", "--meta", c.meta)
	c.waitServed(qemu, a, id)
	uriA, uriB := "nbd://"+a.nbd+"/"+id, "nbd://"+b.nbd+"/"+id
	sa := startQemuSession(t, qemu, uriA)
	for _, cmd := range []string{"write -f -P 0x11 0 64k", "write -f -P 0x12 128k 64k"} {
		if out := sa.do(t, cmd); ioFailed(out) {
			t.Fatalf("%s through a: %s", cmd, out)
		}
	}

	a.metaLink.setCut(true)
	defer a.metaLink.setCut(false)
	cut := time.Now()
	out := c.run("volume", "attach", id, "--host", "b", "--force", "--ttl", "6s", "--meta", c.meta)
	if !strings.Contains(out, "took over from host a") {
		t.Fatalf("forced attach:\n%s", out)
	}
	c.waitServed(qemu, b, id)
	// b writes chunk 0: the fence lands on its replicas.
	if out := qemuIO(t, qemu, uriB, "write -P 0x22 0 64k", "flush"); ioFailed(out) {
		t.Fatalf("write through b: %s", out)
	}

	// a still serves the volume (it cannot know better), but the replicas refuse its write.
	if out := sa.do(t, "write -f -P 0x33 0 64k"); !strings.Contains(out, "write failed") {
		t.Fatalf("a's write after the fence landed: %q, want a failure", out)
	}
	if out := qemuIO(t, qemu, uriA, "length"); ioFailed(out) {
		t.Fatalf("a stopped serving before its lease expired, so the refusal was not the fence's: %s", out)
	}
	text, err := c.scrape(a)
	if err != nil {
		t.Fatal(err)
	}
	if n := metric(text, "stratus_volumed_chunkdev_request_errors_total", `op="write",volume="`+id+`"`); n != 1 {
		t.Fatalf("a's failed writes: %v, want 1", n)
	}

	// a stops serving once its lease has expired (6 s after its last renewal).
	c.eventually(a.proc, 15*time.Second, func() error {
		if out := qemuIO(t, qemu, uriA, "length"); !ioFailed(out) {
			return fmt.Errorf("a still serves %s: %s", id, out)
		}
		return nil
	})
	t.Logf("a, cut off from meta, stopped serving %.1fs after the cut (lease TTL 6s)", time.Since(cut).Seconds())
	if out := sa.do(t, "write -f -P 0x34 8M 64k"); !strings.Contains(out, "write failed") {
		t.Fatalf("a's write once it stopped serving: %q, want a failure", out)
	}

	// Through b: its write, a's durable write from before the takeover, nothing of a's after.
	out = qemuIO(t, qemu, uriB, "read -P 0x22 0 64k", "read -P 0x12 128k 64k", "read -P 0 8M 64k")
	if ioFailed(out) || strings.Contains(out, "Pattern verification failed") {
		t.Fatalf("read through b:\n%s", out)
	}
	// a's series of the volume went when it stopped serving it, and a's client, which keeps
	// its connection and calls, does not bring them back.
	c.eventually(a.proc, 10*time.Second, func() error {
		text, err := c.scrape(a)
		if err == nil && strings.Contains(text, `volume="`+id+`"`) {
			err = fmt.Errorf("a still exports series of %s", id)
		}
		return err
	})
	if out := sa.do(t, "write -f -P 0x35 0 64k"); !strings.Contains(out, "write failed") {
		t.Fatalf("a's write once it stopped serving: %q, want a failure", out)
	}
	if text, err := c.scrape(a); err != nil || strings.Contains(text, `volume="`+id+`"`) {
		t.Fatalf("a exports series of %s again after a write on its old connection (%v)", id, err)
	}
}

// testProcessKilledObjectd: writes, each flushed, go through a; storage node n0 is killed
// (SIGKILL) between two of them and writing goes on; once it is restarted, every flushed
// write reads back through NBD, volumed repairs n0 of exactly the chunks written while it was
// down (its metrics say so, and n0 holds their blocks), and then deleting the volume removes
// its chunks from every node.
func testProcessKilledObjectd(t *testing.T, c *procCluster, qemu string) {
	a := c.volumed["a"]
	id := c.createVolume("64MiB", "1MiB")
	c.run("volume", "attach", id, "--host", "a", "--meta", c.meta)
	c.waitServed(qemu, a, id)
	uri := "nbd://" + a.nbd + "/" + id

	type write struct {
		chunk, off int64
		pattern    int
	}
	var written []write
	writeFlush := func(w write) {
		t.Helper()
		if out := qemuIO(t, qemu, uri, fmt.Sprintf("write -P %#x %d 64k", w.pattern, w.chunk<<20+w.off), "flush"); ioFailed(out) {
			t.Fatalf("write %+v: %s", w, out)
		}
		written = append(written, w)
	}
	for i := range int64(4) {
		writeFlush(write{i, 0, 0x40 + int(i)})
	}
	c.nodes[0].signal(syscall.SIGKILL)
	killed := time.Now()
	// Chunk 0 again and chunks 4 to 11, while n0 is down: n0 misses every one of them.
	downChunks := []int64{0, 4, 5, 6, 7, 8, 9, 10, 11}
	for _, i := range downChunks {
		writeFlush(write{i, 128 << 10, 0x60 + int(i)})
	}
	down := time.Since(killed)
	c.nodes[0].start(t)
	restarted := time.Now()
	c.waitTCP(c.nodes[0], c.addrs[0])

	series := `volume="` + id + `"`
	var text string
	c.eventually(a.proc, 30*time.Second, func() error {
		var err error
		if text, err = c.scrape(a); err != nil {
			return err
		}
		repaired := metric(text, "stratus_volumed_chunkdev_repairs_total", series)
		degraded := metric(text, "stratus_volumed_chunkdev_degraded_chunks", series)
		if repaired < float64(len(downChunks)) || degraded != 0 {
			return fmt.Errorf("repaired %v of %d, degraded %v", repaired, len(downChunks), degraded)
		}
		return nil
	})
	t.Logf("%d writes flushed while n0 was down (%.2fs); n0 repaired %.2fs after its restart: %v chunk replicas, %v blocks, %v failed attempts while it was down",
		len(downChunks), down.Seconds(), time.Since(restarted).Seconds(),
		metric(text, "stratus_volumed_chunkdev_repairs_total", series),
		metric(text, "stratus_volumed_chunkdev_repaired_blocks_total", series),
		metric(text, "stratus_volumed_chunkdev_repair_failures_total", series))
	if got := metric(text, "stratus_volumed_chunkdev_repairs_total", series); got != float64(len(downChunks)) {
		t.Fatalf("repaired %v chunk replicas, want %d: those written while n0 was down", got, len(downChunks))
	}
	// 64 KiB per missed write: 16 blocks each.
	if got := metric(text, "stratus_volumed_chunkdev_repaired_blocks_total", series); got != float64(16*len(downChunks)) {
		t.Fatalf("repaired %v blocks, want %d", got, 16*len(downChunks))
	}

	var cmds []string
	for _, w := range written {
		cmds = append(cmds, fmt.Sprintf("read -P %#x %d 64k", w.pattern, w.chunk<<20+w.off))
	}
	if out := qemuIO(t, qemu, uri, cmds...); ioFailed(out) || strings.Contains(out, "Pattern verification failed") {
		t.Fatalf("read back the flushed writes:\n%s", out)
	}

	// n0 itself holds every block it missed, read straight from it with a volumed certificate.
	id0, err := pki.Load(pki.InDir(filepath.Join(c.pkiDir, "a"), "a"))
	if err != nil {
		t.Fatal(err)
	}
	cl := objclient.New(objclient.Config{Timeout: 5 * time.Second, TLS: id0.ClientTLS(pki.RoleObjectd)})
	defer cl.CloseIdleConnections()
	r, err := ring.Load(c.ringFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	replicas := func(chunk int64) (string, []objclient.Target) {
		name := chunkdev.ChunkName(id, chunk)
		p := r.Partition(name)
		var ts []objclient.Target
		for _, d := range r.Primaries(p, nil) {
			ts = append(ts, objclient.Target{Host: d.Host, Device: d.Name, Partition: uint32(p)})
		}
		return name, ts
	}
	for _, w := range written {
		name, ts := replicas(w.chunk)
		for _, tg := range ts {
			if tg.Host != c.addrs[0] {
				continue
			}
			buf := make([]byte, 64<<10)
			if _, err := cl.ReadChunk(ctx, tg, name, w.off, buf); err != nil {
				t.Fatalf("read chunk %d from n0: %v", w.chunk, err)
			}
			for _, b := range buf {
				if b != byte(w.pattern) {
					t.Fatalf("chunk %d at %d on n0: byte %#x, want %#x", w.chunk, w.off, b, w.pattern)
				}
			}
		}
	}

	// Deleting it: detach, then delete --wait returns once a volumed removed every chunk
	// replica and then the record.
	c.run("volume", "detach", id, "--force", "--meta", c.meta)
	start := time.Now()
	if out := c.run("volume", "delete", id, "--wait", "--timeout", "30s", "--meta", c.meta); !strings.Contains(out, "deleted "+id) {
		t.Fatalf("delete --wait:\n%s", out)
	}
	t.Logf("deleted %s (64 chunks × 3 replicas) in %.2fs", id, time.Since(start).Seconds())
	if _, err := c.try("volume", "show", id, "--meta", c.meta); err == nil || !strings.Contains(err.Error(), "no volume") {
		t.Fatalf("show a deleted volume: %v", err)
	}
	for i := range int64(64) {
		name, ts := replicas(i)
		for _, tg := range ts {
			if _, err := cl.ChunkMeta(ctx, tg, name, 0); !errors.Is(err, objclient.ErrNotFound) {
				t.Fatalf("chunk %d on %s after the delete: %v, want not found", i, tg.Host, err)
			}
		}
	}
}
