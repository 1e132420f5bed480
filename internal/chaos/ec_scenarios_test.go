package chaos

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	objclient "stratus/objectd/client"
)

// E1. A whole host (two of the six fragments of every object) is SIGKILLed under a mixed
// load on an EC 4+2 bucket and restarted: no acknowledged write is lost, and every object
// reads back byte for byte. A write may still fail as the host dies (its fragments
// already streaming there): that is unavailability, not loss, reported as the write
// availability — and such a failed overwrite must leave the version it was replacing
// whole (every write has a storage name of its own, so its rollback touches only its own
// archives).
func TestECKillHost(t *testing.T) {
	c := ecCluster(t, 2*time.Second)
	o := ecLoad()
	o.putPct, o.delPct = 50, 5
	ck := newChecker(c, o)
	ck.start()
	victim := c.nodes[1]
	var down, up time.Time
	// The load stops when the host comes back, so that what the outage left is what is
	// verified: a key whose write failed while the host was down is not rewritten after.
	var ackedAtKill, failedAtKill, ackedAtStart, failedAtStart int64
	var readsAtKill, readErrorsAtKill, readsAtStart, readErrorsAtStart int64
	phases(loadTime(), func() {
		ackedAtKill, failedAtKill = ck.ackedPuts.Load(), ck.failedPuts.Load()
		readsAtKill, readErrorsAtKill = ck.reads.Load(), ck.readErrors.Load()
		must(t, victim.p.kill())
		down = time.Now()
	}, func() {
		// What the fragments' devices held for keys that could not be read, while the
		// host is still down: a failed read explains itself.
		ck.errMu.Lock()
		failed := slices.Clone(ck.failedKeys)
		ck.errMu.Unlock()
		for _, key := range failed {
			t.Logf("fragments of %s with %s down: %s", key, victim.name, c.describeFragments(bucket+"/"+key))
		}
		ck.stop()
		ackedAtStart, failedAtStart = ck.ackedPuts.Load(), ck.failedPuts.Load()
		readsAtStart, readErrorsAtStart = ck.reads.Load(), ck.readErrors.Load()
		must(t, victim.p.start())
		up = time.Now()
	})
	c.waitHTTP(victim.p, "https://"+victim.addr+objclient.PathMetrics)
	acked, failed := ackedAtStart-ackedAtKill, failedAtStart-failedAtKill
	reads, readErrors := readsAtStart-readsAtKill, readErrorsAtStart-readErrorsAtKill
	f := ck.verify()
	for _, key := range f.lostKeys {
		t.Logf("acknowledged object lost: %s (its last write failed: %v)", key, len(ck.keys[key].may) > 1)
	}
	f.extra = fmt.Sprintf("host_down_s=%.1f puts_while_down=%d put_availability_while_down=%s get_availability_while_down=%s",
		up.Sub(down).Seconds(), acked+failed, percent(acked, acked+failed), percent(reads, reads+readErrors))
	ck.report("ec-kill-host", f)
	ck.errMu.Lock()
	for _, e := range ck.readErrs {
		t.Logf("failed read (host down %s–%s): %s", down.Format("15:04:05.000"), up.Format("15:04:05.000"), e)
	}
	ck.errMu.Unlock()
	if f.badReads > 0 {
		t.Errorf("%d reads during the load returned wrong bytes", f.badReads)
	}
}

// E2. A device is replaced by an empty one while its node is stopped: the reconstructors
// rebuild every fragment archive it held, byte for byte, and every object then reads
// back with another host down, so that each read needs the rebuilt fragments.
func TestECWipeDevice(t *testing.T) {
	c := ecCluster(t, time.Second)
	ck := preload(c, ecLoad())
	victim := c.nodes[2]
	held := victim.fragments("d0")
	if len(held) == 0 {
		t.Fatal("the device to wipe holds no fragment archives: the objects were not erasure-coded")
	}
	must(t, victim.p.kill())
	must(t, victim.wipe("d0"))
	start := time.Now()
	must(t, victim.p.start())
	c.eventually(victim.p, 2*time.Minute, func() error {
		if d := fragmentsDiff(held, victim.fragments("d0")); d != "" {
			return fmt.Errorf("the wiped device is not refilled: %s", d)
		}
		return nil
	})
	refilled := time.Since(start)
	other := c.nodes[0]
	must(t, other.p.stop())
	f := ck.verify()
	f.redundancySeconds = refilled.Seconds()
	f.extra = fmt.Sprintf("archives_held=%d archives_rebuilt=%d read_back_with=%s_down", len(held), len(held), other.name)
	ck.report("ec-wipe-device", f)
}

// E3. Silent corruption of fragment archives on one device: reads stay correct (the bad
// fragment fails its checksum and is read around), the reconstructor quarantines every
// corrupt archive, and its neighbour rebuilds it byte for byte; every object then reads
// back with another host down, so that each read needs the rebuilt fragments.
func TestECBitRot(t *testing.T) {
	c := ecCluster(t, 3*time.Second)
	ck := preload(c, ecLoad())
	victim := c.nodes[1]
	held := victim.fragments("d1")
	paths := make([]string, 0, len(held))
	for p := range held {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	n := max(3, len(paths)/20)
	if len(paths) < n {
		t.Fatalf("the device holds %d fragment archives; %d are needed", len(paths), n)
	}
	corrupt := paths[:n]
	q0 := c.metric(victim, "stratus_objectd_quarantined_total")
	for _, p := range corrupt {
		must(t, flipByte(victim.fragmentPath("d1", p)))
	}
	start := time.Now()
	// Every object read at once, before the reconstructor's next pass is likely to have
	// repaired anything: no read may return other bytes than were written.
	if f := ck.verify(); f.lost+f.corrupt+f.stale+f.resurrected > 0 {
		t.Errorf("reads right after the corruption: %s", f)
	}
	ck.opts.putPct, ck.opts.delPct = 0, 0 // reads only while the reconstructor repairs
	ck.start()
	c.eventually(victim.p, 2*time.Minute, func() error {
		if q := c.metric(victim, "stratus_objectd_quarantined_total") - q0; q < float64(n) {
			return fmt.Errorf("%v of %d corrupted fragment archives quarantined", q, n)
		}
		return nil
	})
	found := time.Since(start)
	want := map[string][32]byte{}
	for _, p := range corrupt {
		want[p] = held[p]
	}
	c.eventually(victim.p, 2*time.Minute, func() error {
		if d := fragmentsDiff(want, victim.fragments("d1")); d != "" {
			return fmt.Errorf("corrupted archives not rebuilt: %s", d)
		}
		return nil
	})
	repaired := time.Since(start)
	ck.stop()
	other := c.nodes[2]
	must(t, other.p.stop())
	f := ck.verify()
	f.redundancySeconds = repaired.Seconds()
	f.extra = fmt.Sprintf("archives=%d corrupted=%d quarantined=%.0f found_s=%.1f read_back_with=%s_down",
		len(paths), n, c.metric(victim, "stratus_objectd_quarantined_total")-q0, found.Seconds(), other.name)
	ck.report("ec-bit-rot", f)
	if f.badReads > 0 {
		t.Errorf("%d reads returned wrong bytes while the archives were corrupt", f.badReads)
	}
	if untouched := slices.DeleteFunc(slices.Clone(paths), func(p string) bool { return slices.Contains(corrupt, p) }); len(untouched) > 0 {
		if d := fragmentsDiff(pick(held, untouched), victim.fragments("d1")); d != "" {
			t.Errorf("archives that were not corrupted changed: %s", d)
		}
	}
}

// describeFragments says what each device of name's partition in the EC ring holds.
func (c *cluster) describeFragments(name string) string {
	part := c.ecRing.Partition(name)
	var out []string
	for i, d := range c.ecRing.Primaries(part, nil) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		info, err := c.objc.Head(ctx, objclient.Target{Host: d.Host, Device: d.Name, Partition: uint32(part), Ring: ecPolicy}, name)
		cancel()
		var se *objclient.StatusError
		switch {
		case err == nil:
			out = append(out, fmt.Sprintf("%d:%s/%s=%v(%s)", i, d.Host, d.Name, info.Timestamp, info.Meta[objclient.MetaECIndex]))
		case errors.As(err, &se):
			out = append(out, fmt.Sprintf("%d:%s/%s=%s@%v", i, d.Host, d.Name, se.Code, se.Timestamp))
		default:
			out = append(out, fmt.Sprintf("%d:%s/%s=%v", i, d.Host, d.Name, err))
		}
	}
	return strings.Join(out, " ")
}

// fragmentPath is the file of a fragment archive named by fragments.
func (n *storageNode) fragmentPath(device, rel string) string {
	return filepath.Join(n.dir, device, "objects-"+ecPolicy, rel)
}

func pick[V any](m map[string]V, keys []string) map[string]V {
	out := make(map[string]V, len(keys))
	for _, k := range keys {
		out[k] = m[k]
	}
	return out
}

func percent(a, b int64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(a)/float64(b))
}
