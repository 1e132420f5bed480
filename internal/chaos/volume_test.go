package chaos

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"stratus/internal/pki"
	objclient "stratus/objectd/client"
	"stratus/ring"
	"stratus/volumed/chunkdev"
)

// startStorage starts the storage nodes of a cluster and their ring, without meta or
// proxies: enough for a volume, which talks to storage nodes only.
func startStorage(t *testing.T, nodes int, auditInterval time.Duration) *cluster {
	t.Helper()
	start := time.Now()
	c := &cluster{t: t, dir: t.TempDir()}
	t.Cleanup(c.shutdown)
	c.builder = filepath.Join(c.dir, "object.builder")
	c.ringFile = filepath.Join(c.dir, "object.ring")
	c.initPKI()
	c.stratus("ring", "create", c.builder, "6", "3", "0")
	opts := clusterOptions{auditInterval: auditInterval, auditBytesPerSecond: 64 << 20}
	for i := range nodes {
		n := c.addStorageNode(i, opts)
		for _, d := range n.devices {
			c.stratus("ring", "add", c.builder, fmt.Sprintf("r1z%d-%s/%s", n.zone, n.addr, d), "100")
		}
	}
	c.stratus("ring", "rebalance", c.builder, "--seed", "1")
	c.stratus("ring", "write-ring", c.builder, c.ringFile)
	for _, n := range c.nodes {
		must(t, n.p.start())
	}
	for _, n := range c.nodes {
		c.waitHTTP(n.p, "https://"+n.addr+objclient.PathMetrics)
	}
	t.Logf("storage nodes started in %.1fs", time.Since(start).Seconds())
	return c
}

// volumeClient returns a storage node client holding a volumed certificate.
func (c *cluster) volumeClient() *objclient.Client {
	c.issue(pki.RoleVolumed, "volumed", "127.0.0.1")
	vid := c.loadIdentity("volumed")
	cl := objclient.New(objclient.Config{Timeout: 5 * time.Second, TLS: vid.ClientTLS(pki.RoleObjectd)})
	c.t.Cleanup(cl.CloseIdleConnections)
	return cl
}

// volumeChunks names the chunks of a volume of size bytes in chunks of chunk bytes, with
// their replicas.
func volumeChunks(r *ring.Ring, volume string, size, chunk int64) map[string][]objclient.Target {
	out := map[string][]objclient.Target{}
	for i := range size / chunk {
		name := fmt.Sprintf(".vol/%s/%016x", volume, i)
		p := r.Partition(name)
		for _, d := range r.Primaries(p, nil) {
			out[name] = append(out[name], objclient.Target{Host: d.Host, Device: d.Name, Partition: uint32(p)})
		}
	}
	return out
}

// 9. A storage node is down while a volume writes and flushes; once it is back, its own
// replicator (not volumed, which is detached) brings its chunk block tables level with its
// peers', and every flushed write reads back from it.
func TestVolumeNodeDownHealsByReplication(t *testing.T) {
	c := startStorage(t, 3, time.Hour)
	r := c.ring()
	cl := c.volumeClient()
	const (
		volume = "vol-00000000000000e1"
		chunk  = 1 << 20
	)
	size := int64(16 << 20)
	writes := 400
	if *long {
		size, writes = 256<<20, 20000
	}
	open := func(gen uint64) *chunkdev.Device {
		cfg := chunkdev.DefaultConfig()
		cfg.Volume, cfg.SizeBytes, cfg.ChunkSizeBytes, cfg.Generation = volume, size, chunk, gen
		cfg.CallTimeout, cfg.RepairRetryMax = 2*time.Second, 200*time.Millisecond
		d, err := chunkdev.New(cfg, r, cl, prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Every block of the volume in the verifier pattern: its offset and the write that set
	// it, so a stale or misplaced block shows.
	shadow := make([]byte, size)
	pattern := func(off int64, n int, w int) []byte {
		b := make([]byte, n)
		for i := 0; i < n; i += 16 {
			binary.LittleEndian.PutUint64(b[i:], uint64(off)+uint64(i))
			binary.LittleEndian.PutUint64(b[i+8:], uint64(w))
		}
		return b
	}
	victim := c.nodes[1]
	must(t, victim.p.kill())
	dev := open(1)
	rng := rand.New(rand.NewPCG(7, 11))
	var written int64
	missed := map[int64]bool{} // blocks the victim lacks: every block written
	for w := 1; w <= writes; w++ {
		n := (1 + rng.IntN(16)) * objclient.ChunkBlockSize
		off := rng.Int64N((size-int64(n))/objclient.ChunkBlockSize+1) * objclient.ChunkBlockSize
		p := pattern(off, n, w)
		if err := dev.WriteAt(ctx, p, uint64(off), false); err != nil {
			t.Fatalf("write %d at %d: %v", w, off, err)
		}
		copy(shadow[off:], p)
		written += int64(n)
		for b := off / objclient.ChunkBlockSize; b < (off+int64(n))/objclient.ChunkBlockSize; b++ {
			missed[b] = true
		}
	}
	must(t, dev.Flush(ctx))
	dev.Detach() // volumed touches nothing from here on
	pushed0 := c.metricSum("stratus_objectd_replication_chunk_blocks_pushed_total")

	chunks := volumeChunks(r, volume, size, chunk)
	// level counts the written chunks whose replicas do not all hold the same fence and
	// block table.
	level := func() (behind int, err error) {
		for name, tgs := range chunks {
			var metas []objclient.ChunkMeta
			missing := 0
			for _, tg := range tgs {
				m, err := cl.ChunkMeta(ctx, tg, name, 0)
				switch {
				case errors.Is(err, objclient.ErrNotFound):
					missing++
				case err != nil:
					return 0, fmt.Errorf("%s on %s: %w", name, tg, err)
				}
				m.Epoch = "" // differs per node by design
				metas = append(metas, m)
			}
			if missing == len(tgs) {
				continue // never written
			}
			for _, m := range metas[1:] {
				if !reflect.DeepEqual(m, metas[0]) {
					behind++
					break
				}
			}
		}
		return behind, nil
	}
	// The chunks the victim missed: with it down, its replicas lack or lag behind.
	start := time.Now()
	must(t, victim.p.start())
	c.waitHTTP(victim.p, "https://"+victim.addr+objclient.PathMetrics)
	behindAtStart, err := level()
	if err != nil {
		t.Fatal(err)
	}
	if behindAtStart == 0 {
		t.Fatal("no chunk is behind on the restarted node: the scenario tests nothing")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		behind, err := level()
		if err == nil && behind == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d chunks still differ 30s after the node came back (%v)", behind, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	healed := time.Since(start)
	pushed := c.metricSum("stratus_objectd_replication_chunk_blocks_pushed_total") - pushed0
	// Blocks, not chunks, and each once: the victim promises a chunk to the first of its
	// peers that offers it (a promise that lapses would let a second push through).
	if pushed < float64(len(missed)) || pushed > 1.1*float64(len(missed)) {
		t.Errorf("%.0f blocks pushed for %d blocks missed", pushed, len(missed))
	}

	// Every flushed write reads back from the healed node alone, and through a new holder.
	var victimReads int
	buf := make([]byte, chunk)
	for name, tgs := range chunks {
		var idx int64
		fmt.Sscanf(name[len(".vol/"+volume+"/"):], "%x", &idx)
		for _, tg := range tgs {
			if tg.Host != victim.addr {
				continue
			}
			_, err := cl.ReadChunk(ctx, tg, name, 0, buf)
			switch {
			case errors.Is(err, objclient.ErrNotFound):
				clear(buf)
			case err != nil:
				t.Fatalf("read %s from the healed node: %v", name, err)
			}
			if want := shadow[idx*chunk : (idx+1)*chunk]; string(buf) != string(want) {
				t.Fatalf("%s on the healed node differs from what was flushed", name)
			}
			victimReads++
		}
	}
	dev2 := open(2)
	defer dev2.Detach()
	got := make([]byte, size)
	for off := int64(0); off < size; off += chunk {
		must(t, dev2.ReadAt(ctx, got[off:off+chunk], uint64(off)))
	}
	if string(got) != string(shadow) {
		t.Fatal("the volume reads back differently from what was flushed")
	}
	line := fmt.Sprintf("volume-node-down writes=%d bytes_written=%d chunks=%d chunks_behind=%d healed_s=%.1f blocks_missed=%d blocks_pushed=%.0f victim_chunk_reads=%d lost=0 corrupt=0 stale=0",
		writes, written, len(chunks), behindAtStart, healed.Seconds(), len(missed), pushed, victimReads)
	t.Log(line)
	recordResult(line)
}

// 10. Bit rot in volume chunks: one block of every chunk a node holds is damaged on disk
// after the volume is detached; that node's auditor finds each, copies it back from a peer,
// and the node serves the flushed data again, with the chunk files kept.
func TestVolumeBitRotRepairedByAuditor(t *testing.T) {
	c := startStorage(t, 3, 500*time.Millisecond)
	r := c.ring()
	cl := c.volumeClient()
	const (
		volume = "vol-00000000000000e2"
		chunk  = 1 << 20
		size   = 8 << 20
	)
	cfg := chunkdev.DefaultConfig()
	cfg.Volume, cfg.SizeBytes, cfg.ChunkSizeBytes, cfg.Generation = volume, size, chunk, 1
	cfg.CallTimeout = 2 * time.Second
	dev, err := chunkdev.New(cfg, r, cl, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(3, 5))
	for i := 0; i < len(data); i += 8 {
		binary.LittleEndian.PutUint64(data[i:], rng.Uint64())
	}
	must(t, dev.WriteAt(ctx, data, 0, false))
	must(t, dev.Flush(ctx))
	dev.Detach()

	victim := c.nodes[0]
	repaired0 := c.metric(victim, "stratus_objectd_audit_chunk_blocks_repaired_total")
	// Block 5 of every chunk file on the victim: its data starts after the header and the
	// block table (chunkfile.go).
	blocks := int64(chunk / objclient.ChunkBlockSize)
	dataOff := 4096 + (blocks*16+4095)/4096*4096
	files, err := filepath.Glob(filepath.Join(victim.dir, "*", "chunks", "*", "*.chunk"))
	if err != nil || len(files) == 0 {
		t.Fatalf("chunk files on the victim: %v, %v", files, err)
	}
	for _, f := range files {
		must(t, flipByteAt(f, dataOff+5*objclient.ChunkBlockSize+100))
	}
	start := time.Now()
	deadline := start.Add(30 * time.Second)
	var repaired float64
	for {
		repaired = c.metric(victim, "stratus_objectd_audit_chunk_blocks_repaired_total") - repaired0
		if repaired >= float64(len(files)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v blocks repaired of %d damaged, 30s on", repaired, len(files))
		}
		time.Sleep(100 * time.Millisecond)
	}
	healed := time.Since(start)
	buf := make([]byte, chunk)
	served := 0
	for name, tgs := range volumeChunks(r, volume, size, chunk) {
		var idx int64
		fmt.Sscanf(name[len(".vol/"+volume+"/"):], "%x", &idx)
		for _, tg := range tgs {
			if tg.Host != victim.addr {
				continue
			}
			if _, err := cl.ReadChunk(ctx, tg, name, 0, buf); err != nil {
				t.Fatalf("read %s from the audited node: %v", name, err)
			}
			if string(buf) != string(data[idx*chunk:(idx+1)*chunk]) {
				t.Fatalf("%s on the audited node differs from what was flushed", name)
			}
			served++
		}
	}
	if served != len(files) {
		t.Fatalf("%d chunks read from the victim, %d chunk files damaged", served, len(files))
	}
	line := fmt.Sprintf("volume-bit-rot chunks_damaged=%d blocks_repaired=%.0f healed_s=%.1f lost=0 corrupt=0",
		len(files), repaired, healed.Seconds())
	t.Log(line)
	recordResult(line)
}

// flipByteAt inverts the byte at off of a file.
func flipByteAt(path string, off int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		return err
	}
	b[0] ^= 0xff
	_, err = f.WriteAt(b, off)
	return err
}
