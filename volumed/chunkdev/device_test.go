package chunkdev

import (
	"context"
	"errors"
	"testing"

	"stratus/internal/testutil"
	objclient "stratus/objectd/client"
	"stratus/volumed/nbd"
)

const (
	kib = 1 << 10
	mib = 1 << 20
)

func TestWriteReadAcrossChunks(t *testing.T) {
	e := newEnv(t)
	d := e.device(16*mib, 1*mib, 1)
	ctx := context.Background()
	// A write spanning three chunks, unaligned to chunks.
	p := testutil.Payload(2*mib+8*kib, 1)
	mustWrite(t, d, p, mib-4*kib, false)
	mustRead(t, d, p, mib-4*kib)
	// Never-written ranges read as zeros, also within a written chunk.
	mustRead(t, d, make([]byte, 64*kib), 0)
	mustRead(t, d, make([]byte, 64*kib), 8*mib)
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Every replica holds the write.
	for r := range 3 {
		got, err := e.replicaData(d, 2, r, 0, 4*kib)
		if err != nil || string(got) != string(p[mib+4*kib:mib+8*kib]) {
			t.Fatalf("replica %d of chunk 2: err %v, data differs", r, err)
		}
	}
	// A fresh device (the next attach) reads the same bytes.
	d2 := e.device(16*mib, 1*mib, 2)
	mustRead(t, d2, p, mib-4*kib)
	if d.Degraded() != 0 || d2.Degraded() != 0 {
		t.Fatalf("degraded chunks: %d, %d", d.Degraded(), d2.Degraded())
	}
}

func TestTrimZeroBlockStatus(t *testing.T) {
	e := newEnv(t)
	d := e.device(8*mib, 1*mib, 1)
	ctx := context.Background()
	p := testutil.Payload(mib, 2)
	mustWrite(t, d, p, mib, false)
	if err := d.Trim(ctx, mib+64*kib, 64*kib, false); err != nil {
		t.Fatal(err)
	}
	if err := d.Zero(ctx, mib+256*kib, 4*kib, nbd.ZeroFlags{FUA: true}); err != nil {
		t.Fatal(err)
	}
	// Zeroing a chunk nobody holds creates nothing.
	if err := d.Zero(ctx, 4*mib, mib, nbd.ZeroFlags{}); err != nil {
		t.Fatal(err)
	}
	want := append([]byte(nil), p...)
	clear(want[64*kib : 128*kib])
	clear(want[256*kib : 260*kib])
	mustRead(t, d, want, mib)
	if _, err := e.replicaData(d, 4, 0, 0, 4*kib); !errors.Is(err, objclient.ErrNotFound) {
		t.Fatalf("zeroed missing chunk: %v, want not found", err)
	}
	ext, err := d.BlockStatus(ctx, 0, 3*mib)
	if err != nil {
		t.Fatal(err)
	}
	const hole = nbd.ExtentHole | nbd.ExtentZero
	ex := func(n uint64, f nbd.ExtentFlags) nbd.Extent { return nbd.Extent{Length: n, Flags: f} }
	want2 := []nbd.Extent{
		ex(mib, hole), ex(64*kib, 0), ex(64*kib, hole), ex(128*kib, 0), ex(4*kib, hole),
		ex(mib-260*kib, 0), ex(mib, hole),
	}
	if len(ext) != len(want2) {
		t.Fatalf("extents %v, want %v", ext, want2)
	}
	for i := range ext {
		if ext[i] != want2[i] {
			t.Fatalf("extents %v, want %v", ext, want2)
		}
	}
	// What block status learnt of a chunk is kept until the chunk changes: a write into
	// the trimmed hole shows at once, and with every node stalled the answer is the same.
	mustWrite(t, d, p[64*kib:128*kib], mib+64*kib, true)
	want3 := []nbd.Extent{ex(mib, hole), ex(256*kib, 0), ex(4*kib, hole), ex(mib-260*kib, 0), ex(mib, hole)}
	for _, phase := range []string{"after a write", "with every node stalled"} {
		ext, err := d.BlockStatus(ctx, 0, 3*mib)
		if err != nil || len(ext) != len(want3) {
			t.Fatalf("extents %s: %v (%v), want %v", phase, ext, err, want3)
		}
		for i := range ext {
			if ext[i] != want3[i] {
				t.Fatalf("extents %s: %v, want %v", phase, ext, want3)
			}
		}
		for _, n := range e.st.Nodes {
			n.Stall()
		}
	}
	for _, n := range e.st.Nodes {
		n.Resume()
	}
	if err := d.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Unaligned requests are refused, not half-done.
	if err := d.WriteAt(ctx, make([]byte, 512), 0, false); !errors.Is(err, nbd.ErrInvalid) {
		t.Fatalf("unaligned write: %v", err)
	}
}
