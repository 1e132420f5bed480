package chaos

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	objclient "stratus/objectd/client"
	"stratus/ring"
)

var (
	long        = flag.Bool("chaos.long", false, "run the long form of every scenario (make chaos)")
	loadFlag    = flag.Duration("chaos.load", 0, "how long each scenario's load runs (default 12s, or 60s with -chaos.long)")
	outageFlag  = flag.Duration("chaos.outage", 0, "how long a partition lasts (default 8s, or 30s with -chaos.long)")
	keysFlag    = flag.Int("chaos.keys", 0, "keys per worker (default 40, or 150 with -chaos.long)")
	keepFlag    = flag.Bool("chaos.keep", false, "keep each cluster's data and logs after the test")
	resultsFlag = flag.String("chaos.results", "", "append each scenario's figures to this file")
)

var resultsMu sync.Mutex

// recordResult appends a scenario's figures line to -chaos.results, if set.
func recordResult(line string) {
	if *resultsFlag == "" {
		return
	}
	resultsMu.Lock()
	defer resultsMu.Unlock()
	f, err := os.OpenFile(*resultsFlag, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	fmt.Fprintf(f, "%s %s\n", time.Now().UTC().Format(time.RFC3339), line)
	f.Close()
}

// duration is set if given, else the long or the short form's default.
func duration(set, long_, short time.Duration) time.Duration {
	switch {
	case set > 0:
		return set
	case *long:
		return long_
	}
	return short
}

func loadTime() time.Duration   { return duration(*loadFlag, 60*time.Second, 12*time.Second) }
func outageTime() time.Duration { return duration(*outageFlag, 30*time.Second, 8*time.Second) }

func baseLoad() loadOptions {
	o := loadOptions{keys: *keysFlag}
	if o.keys == 0 && *long {
		o.keys = 150
	}
	if *long {
		o.sizes = []int{1 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20}
	}
	return o
}

// preload writes every key once, so the cluster holds data before a fault, and returns
// the checker with its load set to o.
func preload(c *cluster, o loadOptions) *checker {
	fill := o
	fill.putPct, fill.delPct, fill.sweep = 100, 0, true
	ck := newChecker(c, fill)
	ck.start()
	ck.wait()
	if ck.acked.Load() == 0 {
		c.t.Fatal("preload: nothing acknowledged")
	}
	ck.opts = o.withDefaults()
	return ck
}

// phases runs fn at the start of each of n equal slices of d, then waits out the last.
func phases(d time.Duration, fns ...func()) {
	step := d / time.Duration(len(fns)+1)
	for _, fn := range fns {
		time.Sleep(step)
		fn()
	}
	time.Sleep(step)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// 1. A storage node is SIGKILLed under load and restarted; replication restores three
// copies of everything written meanwhile.
func TestKillStorageNode(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	ck := newChecker(c, baseLoad())
	ck.start()
	victim := c.nodes[1]
	phases(loadTime(), func() { must(t, victim.p.kill()) }, func() { must(t, victim.p.start()) })
	ck.stop()
	healed := ck.waitRedundant(3 * time.Minute)
	f := ck.verify()
	f.redundancySeconds = healed.Seconds()
	ck.report("kill-objectd", f)
}

// 2. A device is replaced by an empty one: the replicator restores every replica it held.
func TestWipeDevice(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	ck := preload(c, baseLoad())
	victim := c.nodes[2]
	files, held := victim.dataFiles("d0")
	if len(files) == 0 {
		t.Fatal("the device to wipe holds nothing")
	}
	pushed0 := c.metricSum("stratus_objectd_replication_pushed_bytes_total")
	must(t, victim.p.kill())
	must(t, victim.wipe("d0"))
	start := time.Now()
	must(t, victim.p.start())
	ck.opts.putPct, ck.opts.delPct = 0, 0 // reads only while the device refills
	ck.start()
	ck.waitRedundant(3 * time.Minute)
	healed := time.Since(start)
	ck.stop()
	restoredFiles, restored := victim.dataFiles("d0")
	moved := c.metricSum("stratus_objectd_replication_pushed_bytes_total") - pushed0
	f := ck.verify()
	f.redundancySeconds = healed.Seconds()
	f.extra = fmt.Sprintf("files_held=%d files_restored=%d bytes_held=%d bytes_restored=%d bytes_moved=%.0f",
		len(files), len(restoredFiles), held, restored, moved)
	ck.report("wipe-device", f)
	if len(restoredFiles) != len(files) {
		t.Errorf("device held %d object files, %d after restore", len(files), len(restoredFiles))
	}
	if f.readErrors > 0 || f.badReads > 0 {
		t.Errorf("reads failed while the device refilled: %d errors, %d wrong", f.readErrors, f.badReads)
	}
}

// 3. Silent corruption of 1% of one device's files: the auditor finds every one, the
// replicator repairs them, and no client ever receives corrupt bytes.
func TestBitRot(t *testing.T) {
	c := startCluster(t, clusterOptions{auditInterval: time.Second, auditBytesPerSecond: 64 << 20})
	ck := preload(c, baseLoad())
	victim := c.nodes[3]
	files, _ := victim.dataFiles("d0")
	n := max(2, int(math.Ceil(float64(len(files))/100)))
	q0 := c.metric(victim, "stratus_objectd_quarantined_total")
	for _, path := range files[:n] {
		must(t, flipByte(path))
	}
	ck.opts.putPct, ck.opts.delPct = 0, 0 // reads only: they must never return corrupt bytes
	ck.start()
	start := time.Now()
	c.eventually(victim.p, 2*time.Minute, func() error {
		if q := c.metric(victim, "stratus_objectd_quarantined_total") - q0; q < float64(n) {
			return fmt.Errorf("%v of %d corrupted files quarantined", q, n)
		}
		return nil
	})
	found := time.Since(start)
	ck.waitRedundant(3 * time.Minute)
	repaired := time.Since(start)
	ck.stop()
	// Every object the device should hold reads back whole from it.
	bad := c.checkDevice(ck, victim, "d0")
	f := ck.verify()
	f.redundancySeconds = repaired.Seconds()
	f.extra = fmt.Sprintf("files=%d corrupted=%d quarantined=%.0f found_s=%.1f bad_after_repair=%d",
		len(files), n, c.metric(victim, "stratus_objectd_quarantined_total")-q0, found.Seconds(), bad)
	ck.report("bit-rot", f)
	if f.badReads > 0 {
		t.Errorf("%d reads returned wrong bytes", f.badReads)
	}
	if bad > 0 {
		t.Errorf("%d objects on the corrupted device still unreadable after repair", bad)
	}
}

// 4. A node joins and the ring is rebalanced under load: data moves to it, no read fails
// while partitions move, and the bytes moved are within 10% of the ideal.
func TestAddNode(t *testing.T) {
	c := startCluster(t, clusterOptions{spares: 1})
	// Many objects of similar size, so that the share of bytes a node holds tracks its
	// share of partitions.
	o := baseLoad()
	o.keys, o.sizes = max(o.keys, 300), []int{12 << 10, 16 << 10, 20 << 10}
	// Mostly reads: an object overwritten while its partition moves is moved twice, which
	// says nothing about the ring or the replicator.
	o.putPct, o.delPct = 4, 1
	ck := preload(c, o)
	newNode := c.nodes[5]
	ck.start()
	time.Sleep(loadTime() / 4)
	var adds [][]string
	for _, d := range newNode.devices {
		adds = append(adds, []string{"add", fmt.Sprintf("r1z%d-%s/%s", newNode.zone, newNode.addr, d), "100"})
	}
	// Bytes moved are the replicators' pushes from the ring change until the move is
	// done; pushes that repair writes the load left short of a replica come before or
	// after it and are not the rebalance's.
	pushed0 := c.metricSum("stratus_objectd_replication_pushed_bytes_total")
	before, after := c.changeRing(adds...)
	start := time.Now()
	c.waitDrained(before, after, 3*time.Minute)
	drained := time.Since(start)
	// Measured as the move ends: later overwrites replace moved bytes with new ones.
	moved := c.metricSum("stratus_objectd_replication_pushed_bytes_total") - pushed0
	_, landed := newNode.bytes()
	ideal := float64(c.storedBytes()) * placedShare(after, newNode.addr)
	ck.waitRedundant(3 * time.Minute)
	moving := time.Since(start)
	time.Sleep(max(0, loadTime()*3/4-moving))
	ck.stop()
	f := ck.verify()
	f.redundancySeconds = moving.Seconds()
	f.extra = fmt.Sprintf("drained_s=%.1f bytes_moved=%.0f bytes_on_new_node=%d ideal=%.0f moved_vs_ideal=%.2f replicas_moved=%d/%d",
		drained.Seconds(), moved, landed, ideal, moved/ideal, partsMoved(before, after), after.PartitionCount()*after.Replicas())
	ck.report("add-node", f)
	if f.readErrors > 0 || f.badReads > 0 {
		t.Errorf("reads failed while partitions moved: %d errors, %d wrong", f.readErrors, f.badReads)
	}
	if r := float64(landed) / ideal; r < 0.9 || r > 1.1 {
		t.Errorf("new node holds %d bytes, %.2f of the ideal %.0f", landed, r, ideal)
	}
	if r := moved / ideal; r > 1.1 {
		t.Errorf("moved %.0f bytes, %.2f of the ideal %.0f", moved, r, ideal)
	}
}

// 5. A node is drained (weight 0, rebalance) and removed, with no loss and no failed read.
func TestRemoveNode(t *testing.T) {
	c := startCluster(t, clusterOptions{nodes: 6})
	o := baseLoad()
	o.putPct, o.delPct = 20, 5
	ck := preload(c, o)
	victim := c.nodes[4]
	_, held := victim.bytes()
	ck.start()
	time.Sleep(loadTime() / 4)
	var drains [][]string
	for _, d := range victim.devices {
		drains = append(drains, []string{"set-weight", victim.addr + "/" + d, "0"})
	}
	before, after := c.changeRing(drains...)
	start := time.Now()
	c.waitDrained(before, after, 3*time.Minute)
	drained := time.Since(start)
	time.Sleep(max(0, loadTime()*3/4-drained))
	var removes [][]string
	for _, d := range victim.devices {
		removes = append(removes, []string{"remove", victim.addr + "/" + d})
	}
	c.changeRing(removes...)
	time.Sleep(2 * time.Second) // the proxies adopt the ring without the node
	must(t, victim.p.stop())
	time.Sleep(2 * time.Second)
	ck.stop()
	ck.waitRedundant(3 * time.Minute)
	f := ck.verify()
	f.redundancySeconds = drained.Seconds()
	f.extra = fmt.Sprintf("bytes_drained=%d", held)
	ck.report("remove-node", f)
	if f.readErrors > 0 || f.badReads > 0 {
		t.Errorf("reads failed while the node drained: %d errors, %d wrong", f.readErrors, f.badReads)
	}
}

// 6. The meta leader is SIGKILLed under load: writes pause for less than 10 s.
func TestKillMetaLeader(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	ck := newChecker(c, baseLoad())
	ck.start()
	var killed time.Time
	var victim *metaNode
	phases(loadTime(), func() {
		victim = c.leader()
		must(t, victim.p.kill())
		killed = time.Now()
	}, func() { must(t, victim.p.start()) })
	ck.stop()
	gap := ck.maxAckGap(killed, killed.Add(loadTime()/3))
	healed := ck.waitRedundant(3 * time.Minute)
	f := ck.verify()
	f.redundancySeconds = healed.Seconds()
	f.extra = fmt.Sprintf("write_pause_s=%.1f new_leader=%s", gap.Seconds(), c.leader().id)
	ck.report("kill-meta-leader", f)
	if gap >= 10*time.Second {
		t.Errorf("writes paused for %v after the leader died", gap)
	}
}

// 7. One storage node is cut off from everything for a while, then healed: writes go on
// through handoffs, and afterwards the cluster converges with no stale version winning.
func TestPartitionStorageNode(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	victim := c.nodes[0]
	outage(t, c, "partition-objectd", func(cut bool) { victim.link.setCut(cut) })
}

// 7b. The same with a node that hangs (SIGSTOP: a stuck disk, a long pause) instead of a
// network cut: its sockets stay open and answer nothing.
func TestPauseStorageNode(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	victim := c.nodes[2]
	outage(t, c, "pause-objectd", func(stop bool) {
		if stop {
			must(t, victim.p.pause())
		} else {
			must(t, victim.p.resume())
		}
	})
}

// outage runs load, takes a node away with fault(true) for the outage time, brings it back
// with fault(false), and checks that writes went on meanwhile and the cluster converges.
func outage(t *testing.T, c *cluster, name string, fault func(bool)) {
	ck := newChecker(c, baseLoad())
	ck.start()
	time.Sleep(loadTime() / 3)
	start := time.Now()
	fault(true)
	time.Sleep(outageTime())
	fault(false)
	end := time.Now()
	time.Sleep(loadTime() / 3)
	ck.stop()
	gap := ck.maxAckGap(start, end)
	healed := ck.waitRedundant(3 * time.Minute)
	f := ck.verify()
	f.redundancySeconds = healed.Seconds()
	f.extra = fmt.Sprintf("outage_s=%.0f longest_write_pause_s=%.1f", outageTime().Seconds(), gap.Seconds())
	ck.report(name, f)
	if gap >= outageTime()/2 {
		t.Errorf("no write was acknowledged for %v while the node was away", gap)
	}
}

// 8. A device fills up: writes go to other devices, and nothing half-written is visible.
func TestDeviceFull(t *testing.T) {
	c := startCluster(t, clusterOptions{smallDevice: 1 << 20})
	o := baseLoad()
	o.putPct, o.delPct = 80, 5
	ck := newChecker(c, o)
	ck.start()
	time.Sleep(loadTime())
	ck.stop()
	full := c.nodes[0]
	fsFree := freeBytes(filepath.Join(full.dir, "d1"))
	bad := c.checkDevice(ck, full, "d1")
	f := ck.verify()
	f.redundancySeconds = math.NaN()
	f.extra = fmt.Sprintf("device_free_bytes=%d bad_on_full_device=%d", fsFree, bad)
	ck.report("device-full", f)
	if fsFree > 256<<10 {
		t.Errorf("the small device never filled: %d bytes free", fsFree)
	}
	if bad > 0 {
		t.Errorf("%d objects on the full device are half-written or unreadable", bad)
	}
}

// checkDevice reads, directly from the device, every key that the ring places there; a
// copy that is missing is fine (another replica holds it), one that fails its checksum or
// is cut short is not. It returns the number of bad copies.
func (c *cluster) checkDevice(ck *checker, n *storageNode, device string) int {
	r := c.ring()
	bad := 0
	for _, key := range ck.names {
		name := bucket + "/" + key
		part := r.Partition(name)
		for _, d := range r.Primaries(part, nil) {
			if d.Host != n.addr || d.Name != device {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			obj, err := c.objc.Get(ctx, objclient.Target{Host: d.Host, Device: d.Name, Partition: uint32(part)}, name, nil)
			if err == nil {
				_, err = io.Copy(io.Discard, obj.Body)
				obj.Body.Close()
			}
			cancel()
			if err != nil && !errors.Is(err, objclient.ErrNotFound) {
				bad++
				c.t.Logf("%s on %s/%s: %v", name, n.name, device, err)
			}
		}
	}
	return bad
}

// waitDrained waits until no device holds files of a partition it lost in the ring change
// before → after.
func (c *cluster) waitDrained(before, after *ring.Ring, limit time.Duration) {
	c.t.Helper()
	c.eventually(nil, limit, func() error {
		left := 0
		for _, n := range c.nodes {
			for _, dev := range n.devices {
				entries, _ := os.ReadDir(filepath.Join(n.dir, dev, "objects"))
				for _, e := range entries {
					part, err := strconv.ParseUint(e.Name(), 10, 32)
					if err != nil {
						continue
					}
					if !holds(after, ring.Partition(part), n.addr, dev) {
						if files, _ := dirFiles(filepath.Join(n.dir, dev, "objects", e.Name())); files > 0 {
							left++
						}
					}
				}
			}
		}
		if left > 0 {
			return fmt.Errorf("%d partitions still on devices the ring moved them from", left)
		}
		return nil
	})
}

func holds(r *ring.Ring, p ring.Partition, host, dev string) bool {
	for _, d := range r.Primaries(p, nil) {
		if d.Host == host && d.Name == dev {
			return true
		}
	}
	return false
}

// dirFiles counts the .data and .ts files under dir.
func dirFiles(dir string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".data") || strings.HasSuffix(path, ".ts")) {
			n++
		}
		return nil
	})
	return n, err
}

// partsMoved counts the partition replicas assigned to a different device after a change.
func partsMoved(before, after *ring.Ring) int {
	n := 0
	for p := range after.PartitionCount() {
		was := map[string]bool{}
		for _, d := range before.Primaries(ring.Partition(p), nil) {
			was[d.Host+"/"+d.Name] = true
		}
		for _, d := range after.Primaries(ring.Partition(p), nil) {
			if !was[d.Host+"/"+d.Name] {
				n++
			}
		}
	}
	return n
}

// placedShare is the share of all partition replicas that r assigns to host.
func placedShare(r *ring.Ring, host string) float64 {
	mine, all := 0, 0
	for p := range r.PartitionCount() {
		for _, d := range r.Primaries(ring.Partition(p), nil) {
			all++
			if d.Host == host {
				mine++
			}
		}
	}
	return float64(mine) / float64(all)
}

// storedBytes sums the object files on every device.
func (c *cluster) storedBytes() int64 {
	var total int64
	for _, n := range c.nodes {
		_, b := n.bytes()
		total += b
	}
	return total
}

// bytes sums the object files on n's devices.
func (n *storageNode) bytes() (int, int64) {
	files, total := 0, int64(0)
	for _, d := range n.devices {
		f, b := n.dataFiles(d)
		files += len(f)
		total += b
	}
	return files, total
}

// metric reads a counter or gauge from n's /metrics, summed over its labels.
func (c *cluster) metric(n *storageNode, name string) float64 {
	resp, err := c.hc.Get("https://" + n.addr + objclient.PathMetrics)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// metricSum sums a metric over every running storage node.
func (c *cluster) metricSum(name string) float64 {
	sum := 0.0
	for _, n := range c.nodes {
		sum += c.metric(n, name)
	}
	return sum
}

// flipByte inverts one byte near the end of a file, where the content is, and keeps its
// size and modification time, as silent corruption would.
func flipByte(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() == 0 {
		return fmt.Errorf("%s is empty", path)
	}
	off := st.Size() - 1 - st.Size()/7
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		return err
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return os.Chtimes(path, st.ModTime(), st.ModTime())
}
