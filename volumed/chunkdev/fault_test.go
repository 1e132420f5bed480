package chunkdev

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"stratus/internal/testutil"
	objclient "stratus/objectd/client"
)

// TestNodeDownWritesAndRepair stops one storage node mid-run, keeps writing, restarts it,
// and checks that every flushed write reads back, from the device and from every replica,
// and that repair copied exactly the chunks written while the node was down.
func TestNodeDownWritesAndRepair(t *testing.T) {
	e := newEnv(t)
	const chunk, chunks = 256 * kib, 32
	d := e.device(chunks*chunk, chunk, 1)
	ctx := context.Background()
	want := make([]byte, chunks*chunk)
	write := func(off, n int, seed uint64) {
		t.Helper()
		p := testutil.Payload(n, seed)
		mustWrite(t, d, p, int64(off), false)
		copy(want[off:], p)
	}
	// Before: every chunk gets a block, so every chunk's state is loaded.
	for i := range chunks {
		write(i*chunk+4*kib, 8*kib, uint64(i))
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	down := e.st.Nodes[1]
	down.Stop()
	// While down: write to some chunks, two writes to some of them.
	written := map[int]bool{}
	for _, i := range []int{0, 3, 3, 7, 8, 20, 31, 31} {
		write(i*chunk+64*kib, 12*kib, uint64(100+i))
		written[i] = true
	}
	// A write across a chunk boundary counts for both.
	write(11*chunk-4*kib, 8*kib, 200)
	written[10], written[11] = true, true
	if err := d.Flush(ctx); err != nil {
		t.Fatalf("flush with a node down: %v", err)
	}
	if got := d.Degraded(); got != len(written) {
		t.Fatalf("degraded chunks while down = %d, want %d", got, len(written))
	}
	// Reads that tried the stopped node mark more chunks degraded; their repairs find
	// nothing missing and copy nothing.
	mustRead(t, d, want, 0)
	if d.Repaired() != 0 {
		t.Fatalf("repaired %d while the node is down", d.Repaired())
	}
	down.Restart()
	testutil.Eventually(t, 20*time.Second, func() error {
		if n := d.Degraded(); n != 0 {
			return fmt.Errorf("%d chunks still degraded", n)
		}
		return nil
	})
	if got := d.Repaired(); got != len(written) {
		t.Fatalf("repaired %d chunk replicas, want %d (the chunks written while down)", got, len(written))
	}
	// Each repaired chunk got only what it missed: 3 blocks per write, 1 per side of the
	// boundary write (chunks 3 and 31 took two writes to the same blocks: 3 blocks).
	if got, want := d.RepairedBlocks(), 3*6+2; got != want {
		t.Errorf("repaired %d blocks, want %d", got, want)
	}
	mustRead(t, d, want, 0)
	for i := range chunks {
		for r := range 3 {
			got, err := e.replicaData(d, int64(i), r, 0, chunk)
			if err != nil {
				t.Fatalf("chunk %d replica %d: %v", i, r, err)
			}
			if string(got) != string(want[i*chunk:(i+1)*chunk]) {
				t.Fatalf("chunk %d replica %d differs at %d", i, r, firstDiff(got, want[i*chunk:(i+1)*chunk]))
			}
		}
	}
	// Writes go on to all three again.
	write(5*chunk, 4*kib, 300)
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if d.Degraded() != 0 {
		t.Fatalf("degraded after the repair: %d", d.Degraded())
	}
}

// TestFencedByNewerHolder attaches a second device with a newer generation; once it wrote
// a chunk the first device's writes fail there and everywhere else, and none lands.
func TestFencedByNewerHolder(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old := e.device(4*mib, mib, 1)
	mustWrite(t, old, testutil.Payload(8*kib, 1), 0, false)
	if err := old.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cur := e.device(4*mib, mib, 2)
	newer := testutil.Payload(8*kib, 2)
	mustWrite(t, cur, newer, 0, true)

	err := old.WriteAt(ctx, testutil.Payload(4*kib, 3), 0, false)
	if !errors.Is(err, ErrFenced) || !errors.Is(err, objclient.ErrFenced) {
		t.Fatalf("write after a newer holder wrote: %v, want fenced", err)
	}
	if !old.Fenced() {
		t.Fatal("device not fenced")
	}
	// Later calls fail at once, on any chunk, without reaching a replica.
	if err := old.WriteAt(ctx, testutil.Payload(4*kib, 4), 2*mib, false); !errors.Is(err, ErrFenced) {
		t.Fatalf("later write: %v, want fenced", err)
	}
	if err := old.Flush(ctx); !errors.Is(err, ErrFenced) {
		t.Fatalf("flush: %v, want fenced", err)
	}
	mustRead(t, cur, newer, 0)
	mustRead(t, cur, make([]byte, mib), 2*mib)
	for r := range 3 {
		got, err := e.replicaData(cur, 0, r, 0, 8*kib)
		if err != nil || string(got) != string(newer) {
			t.Fatalf("replica %d: err %v or an old write landed", r, err)
		}
		if _, err := e.replicaData(cur, 2, r, 0, 4*kib); !errors.Is(err, objclient.ErrNotFound) {
			t.Fatalf("replica %d of chunk 2: %v, want not found", r, err)
		}
	}
}

// TestLoadComparesTables gives one replica a later write but not an earlier one (as after
// a crash that lost an unflushed write): a fresh device must not read from it, and must
// repair just the missing block.
func TestLoadComparesTables(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	probe := e.device(4*mib, mib, 1)
	c := probe.chunk(0)
	first, second := testutil.Payload(4*kib, 1), testutil.Payload(4*kib, 2)
	const gen = 1
	lagging := 0
	for r, tg := range c.targets {
		if r != lagging {
			if _, err := e.cl.WriteChunk(ctx, tg, objclient.ChunkWrite{Name: c.name, Offset: 0, Generation: gen, Sequence: gen<<32 | 1, ChunkSize: mib}, first); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.cl.WriteChunk(ctx, tg, objclient.ChunkWrite{Name: c.name, Offset: 4 * kib, Generation: gen, Sequence: gen<<32 | 2, ChunkSize: mib}, second); err != nil {
			t.Fatal(err)
		}
	}
	d := e.device(4*mib, mib, 2)
	// Every replica reports version gen<<32|2; only the tables show the lagging one lacks
	// block 0. Reads spread over replicas, so read repeatedly.
	for range 6 {
		mustRead(t, d, append(append([]byte(nil), first...), second...), 0)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if d.Repaired() != 1 || d.Degraded() != 0 {
			return fmt.Errorf("repaired %d, degraded %d", d.Repaired(), d.Degraded())
		}
		return nil
	})
	if d.RepairedBlocks() != 1 {
		t.Fatalf("repaired %d blocks, want 1", d.RepairedBlocks())
	}
	got, err := e.replicaData(d, 0, lagging, 0, 4*kib)
	if err != nil || string(got) != string(first) {
		t.Fatalf("lagging replica after repair: err %v, data differs", err)
	}
	// The new holder's sequences beat the old ones.
	mustWrite(t, d, testutil.Payload(4*kib, 3), 0, false)
	mustRead(t, d, testutil.Payload(4*kib, 3), 0)
}

// TestNoReplicaHoldsEverything gives each replica two of three writes (each write reached a
// quorum): no replica is current, yet reads return every write, and each replica gets
// the one block it lacks.
func TestNoReplicaHoldsEverything(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	probe := e.device(4*mib, mib, 1)
	c := probe.chunk(0)
	const gen = 1
	data := [][]byte{testutil.Payload(4*kib, 1), testutil.Payload(4*kib, 2), testutil.Payload(4*kib, 3)}
	for w := range 3 {
		for r, tg := range c.targets {
			if r == w {
				continue // write w skips replica w
			}
			if _, err := e.cl.WriteChunk(ctx, tg, objclient.ChunkWrite{Name: c.name, Offset: int64(w) * 4 * kib,
				Generation: gen, Sequence: gen<<32 | uint64(w+1), ChunkSize: mib}, data[w]); err != nil {
				t.Fatal(err)
			}
		}
	}
	d := e.device(4*mib, mib, 2)
	var want []byte
	for _, p := range data {
		want = append(want, p...)
	}
	mustRead(t, d, want, 0)
	testutil.Eventually(t, 10*time.Second, func() error {
		if d.Degraded() != 0 || d.Repaired() != 3 {
			return fmt.Errorf("degraded %d, repaired %d", d.Degraded(), d.Repaired())
		}
		return nil
	})
	if d.RepairedBlocks() != 3 {
		t.Fatalf("repaired %d blocks, want 3", d.RepairedBlocks())
	}
	for r := range 3 {
		got, err := e.replicaData(d, 0, r, 0, 12*kib)
		if err != nil || string(got) != string(want) {
			t.Fatalf("replica %d: %v, or data differs", r, err)
		}
	}
}

// TestRestartWithUnflushedWrites restarts a node that holds unflushed writes: its new epoch
// makes the replica behind until its table is compared again; nothing was lost (the node
// stopped cleanly), so no block is copied, and the flush still reaches a quorum.
func TestRestartWithUnflushedWrites(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.device(4*mib, mib, 1)
	p := testutil.Payload(64*kib, 5)
	mustWrite(t, d, p, 0, false)
	n := e.st.Nodes[0]
	r := nodeOf(d, 0, n)
	n.Stop()
	n.Restart()
	if err := d.Flush(ctx); err != nil {
		t.Fatalf("flush after a restart: %v", err)
	}
	c := d.chunk(0)
	c.mu.Lock()
	misses := c.reps[r].misses
	c.mu.Unlock()
	if misses == 0 {
		t.Fatal("the restarted replica was never marked behind")
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if d.Degraded() != 0 {
			return fmt.Errorf("%d degraded", d.Degraded())
		}
		return nil
	})
	if d.Repaired() != 0 {
		t.Fatalf("repaired %d, want 0: the node lost nothing", d.Repaired())
	}
	got, err := e.replicaData(d, 0, r, 0, 64*kib)
	if err != nil || string(got) != string(p) {
		t.Fatalf("restarted replica: %v, or data differs", err)
	}
	mustRead(t, d, p, 0)
}
