package snapshot_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/sha256-simd"

	"stratus/internal/hlc"
	"stratus/meta/client"
	"stratus/proxy"
	"stratus/volumed/snapshot"
)

func isNotFound(err error) bool      { return errors.Is(err, client.ErrNotFound) }
func isProxyNotFound(err error) bool { return errors.Is(err, proxy.ErrNotFound) }

// TestPutReadChunk: content round-trips through the object store, zeros are not stored,
// and content that does not match its SHA-256 is refused, never returned.
func TestPutReadChunk(t *testing.T) {
	e := newEnv(t, fastConfig())
	data := chunk(64<<10, 1)
	ref, err := e.store.PutChunk(e.ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Zero || !ref.Uploaded || ref.Size != int64(len(data)) || ref.SHA != sha256.Sum256(data) || ref.Timestamp == 0 {
		t.Fatalf("ref %+v", ref)
	}
	if rec, ok := e.record(data); !ok || rec.Refs != 1 || rec.State != client.SnapChunkLive || rec.Timestamp != ref.Timestamp || rec.SizeBytes != int64(len(data)) {
		t.Fatalf("record %+v (present %v), want 1 live reference at %v", rec, ok, ref.Timestamp)
	}
	buf := make([]byte, len(data))
	if err := e.store.ReadChunk(e.ctx, ref, buf); err != nil || !bytes.Equal(buf, data) {
		t.Fatalf("read back: %v (equal %v)", err, bytes.Equal(buf, data))
	}

	zeros := make([]byte, 64<<10)
	zref, err := e.store.PutChunk(e.ctx, zeros)
	if err != nil || !zref.Zero || zref.Uploaded || zref.Size != int64(len(zeros)) {
		t.Fatalf("zero chunk: %+v %v", zref, err)
	}
	if _, ok := e.record(zeros); ok {
		t.Fatal("a zero chunk got a reference record")
	}
	if e.stored(snapshot.Ref{SHA: sha256.Sum256(zeros)}) {
		t.Fatal("a zero chunk was stored")
	}
	for i := range buf {
		buf[i] = 0xff
	}
	if err := e.store.ReadChunk(e.ctx, zref, buf); err != nil || !bytes.Equal(buf, zeros) {
		t.Fatalf("zero chunk read: %v", err)
	}
	if err := e.store.ReadChunk(e.ctx, ref, buf[:100]); err == nil {
		t.Fatal("read into a buffer of the wrong size succeeded")
	}

	// Another content stored under the name of data's SHA-256, as a bit flip or a bad
	// write would leave it: the read fails and says why.
	bad := bytes.Clone(data)
	bad[12345] ^= 1
	res, err := e.px.Put(e.ctx, proxy.PutRequest{Name: snapshot.ChunkName(ref.SHA), Length: int64(len(bad))}, bytes.NewReader(bad), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []snapshot.Ref{ref, {SHA: ref.SHA, Size: ref.Size, Timestamp: res.Timestamp}} {
		clear(buf)
		if err := e.store.ReadChunk(e.ctx, r, buf); !errors.Is(err, snapshot.ErrCorrupt) {
			t.Fatalf("read of corrupt content at %v: %v, want ErrCorrupt", r.Timestamp, err)
		}
	}
}

// TestDedupAndRevive: the same content twice is one object with two references; the last
// release deletes it; a new reference after that stores it again, dated after the
// tombstone.
func TestDedupAndRevive(t *testing.T) {
	e := newEnv(t, fastConfig())
	data := chunk(64<<10, 2)
	a, err := e.store.PutChunk(e.ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.store.PutChunk(e.ctx, bytes.Clone(data))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Uploaded || b.Uploaded || a.Timestamp != b.Timestamp {
		t.Fatalf("second put of the same content: %+v after %+v, want no upload and the same version", b, a)
	}
	if err := e.store.AddRef(e.ctx, a); err != nil {
		t.Fatal(err)
	}
	if rec, _ := e.record(data); rec.Refs != 3 {
		t.Fatalf("refs %d, want 3", rec.Refs)
	}
	for i := range 2 {
		if err := e.store.Release(e.ctx, a); err != nil {
			t.Fatal(err)
		}
		if !e.stored(a) {
			t.Fatalf("object gone after release %d of 3", i+1)
		}
	}
	if err := e.store.Release(e.ctx, a); err != nil {
		t.Fatal(err)
	}
	rec, ok := e.record(data)
	if !ok || rec.State != client.SnapChunkDeleting || rec.Refs != 0 || rec.Tombstone <= a.Timestamp {
		t.Fatalf("after the last release: %+v (present %v), want deleting with a tombstone after %v", rec, ok, a.Timestamp)
	}
	if e.stored(a) {
		t.Fatal("object still stored after the last release")
	}
	if err := e.store.AddRef(e.ctx, a); !errors.Is(err, snapshot.ErrChunkGone) {
		t.Fatalf("AddRef of deleted content: %v, want ErrChunkGone", err)
	}
	c, err := e.store.PutChunk(e.ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Uploaded || c.Timestamp <= rec.Tombstone {
		t.Fatalf("revived: %+v, want an upload after the tombstone %d", c, rec.Tombstone)
	}
	buf := make([]byte, len(data))
	if err := e.store.ReadChunk(e.ctx, c, buf); err != nil || !bytes.Equal(buf, data) {
		t.Fatalf("read revived: %v", err)
	}
	if rec, _ := e.record(data); rec.State != client.SnapChunkLive || rec.Refs != 1 || rec.Timestamp != c.Timestamp {
		t.Fatalf("revived record %+v", rec)
	}
}

// TestConcurrentReferences: goroutines take and give back references to the same content
// at once, each reading the content while it holds its reference. No read may fail (an
// object deleted while referenced), and once all are given back the object is gone and the
// count is zero.
func TestConcurrentReferences(t *testing.T) {
	e := newEnv(t, fastConfig())
	data := chunk(16<<10, 3)
	const workers, rounds = 6, 8
	var reads atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			buf := make([]byte, len(data))
			for r := range rounds {
				ref, err := e.store.PutChunk(e.ctx, data)
				if err != nil {
					errs <- fmt.Errorf("worker %d round %d: put: %w", w, r, err)
					return
				}
				if err := e.store.ReadChunk(e.ctx, ref, buf); err != nil || !bytes.Equal(buf, data) {
					errs <- fmt.Errorf("worker %d round %d: read while referenced: %v", w, r, err)
					return
				}
				reads.Add(1)
				if err := e.store.Release(e.ctx, ref); err != nil {
					errs <- fmt.Errorf("worker %d round %d: release: %w", w, r, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	if reads.Load() != workers*rounds {
		t.Fatalf("%d reads, want %d", reads.Load(), workers*rounds)
	}
	if rec, ok := e.record(data); ok && (rec.Refs != 0 || rec.State != client.SnapChunkDeleting) {
		t.Fatalf("after every release: %+v", rec)
	}
	if e.stored(snapshot.Ref{SHA: sha256.Sum256(data)}) {
		t.Fatal("object still stored after every reference was released")
	}
}

// TestManifestFormat: a manifest round-trips through its binary form, Lookup finds what is
// there, and a flipped byte, a truncation or a bad layout is refused.
func TestManifestFormat(t *testing.T) {
	m := &snapshot.Manifest{SnapshotID: client.NewSnapshotID(), VolumeID: client.NewVolumeID(), Parent: client.NewSnapshotID(),
		SizeBytes: 10*(64<<10) + 4096, ChunkSizeBytes: 64 << 10}
	full := func(seed byte, ts hlc.Timestamp) snapshot.Ref {
		return snapshot.Ref{SHA: sha256.Sum256([]byte{seed}), Size: 64 << 10, Timestamp: ts}
	}
	last := full(3, 1003)
	last.Size = 4096
	m.Entries = []snapshot.Entry{
		{Index: 0, Version: 7, Ref: full(1, 1001)},
		{Index: 1, Version: 5, Ref: full(1, 1001)}, // the same content as chunk 0
		{Index: 3, Version: 1, Ref: snapshot.Ref{Zero: true, Size: 64 << 10}},
		{Index: 4, Version: 28, Ref: full(2, 1002)},
		{Index: 10, Version: 70, Ref: last},
	}
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got snapshot.Manifest
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(*m) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, *m)
	}
	if e, ok := got.Lookup(10); !ok || e.Ref.Size != 4096 || e.Version != 70 {
		t.Fatalf("lookup 10: %+v %v", e, ok)
	}
	if e, ok := got.Lookup(3); !ok || !e.Ref.Zero {
		t.Fatalf("lookup 3: %+v %v", e, ok)
	}
	if _, ok := got.Lookup(2); ok {
		t.Fatal("lookup of an absent chunk found one")
	}
	if refs := got.Refs(); len(refs) != 3 {
		t.Fatalf("distinct references %d, want 3 (chunks 0 and 1 share, 3 is zero)", len(refs))
	}
	for _, pos := range []int{0, 9, 30, len(b) / 2, len(b) - 1} {
		bad := bytes.Clone(b)
		bad[pos] ^= 0x10
		if err := new(snapshot.Manifest).UnmarshalBinary(bad); !errors.Is(err, snapshot.ErrCorrupt) {
			t.Errorf("byte %d flipped: %v, want ErrCorrupt", pos, err)
		}
	}
	if err := new(snapshot.Manifest).UnmarshalBinary(b[:len(b)-40]); !errors.Is(err, snapshot.ErrCorrupt) {
		t.Errorf("truncated: %v, want ErrCorrupt", err)
	}
	out := *m
	out.Entries = append([]snapshot.Entry{}, m.Entries...)
	out.Entries[0], out.Entries[1] = out.Entries[1], out.Entries[0]
	if err := out.Validate(); !errors.Is(err, snapshot.ErrBadManifest) {
		t.Errorf("entries out of order: %v, want ErrBadManifest", err)
	}
	out.Entries = append([]snapshot.Entry{}, m.Entries...)
	out.Entries[len(out.Entries)-1].Ref.Size = 64 << 10
	if err := out.Validate(); !errors.Is(err, snapshot.ErrBadManifest) {
		t.Errorf("last chunk past the size: %v, want ErrBadManifest", err)
	}
}

// TestSnapshotLifecycle: two snapshots of a volume, the second sharing a chunk with the
// first; completing writes the manifests; deleting the first keeps the shared chunk and
// removes the others; a snapshot a volume was created from may not go until that volume
// does; a snapshot being created may not go at all.
func TestSnapshotLifecycle(t *testing.T) {
	e := newEnv(t, fastConfig())
	const cs = 64 << 10
	vol := client.NewVolumeID()
	c0, c1, c3 := chunk(cs, 10), chunk(cs, 11), chunk(cs, 13)

	// Snapshot A: chunks 0 and 1, chunk 2 written but zero.
	a := e.creating(vol, 4*cs, cs, "")
	ma := &snapshot.Manifest{SnapshotID: a.ID, VolumeID: vol, SizeBytes: 4 * cs, ChunkSizeBytes: cs}
	for i, d := range [][]byte{c0, c1, make([]byte, cs)} {
		ref, err := e.store.PutChunk(e.ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		if ref.Uploaded {
			a.StoredBytes += ref.Size
		}
		ma.Entries = append(ma.Entries, snapshot.Entry{Index: int64(i), Version: uint64(i + 1), Ref: ref})
		ma.Entries[i].Ref.Uploaded = false // not part of the manifest
	}
	a.ChunksTotal, a.ChunksCopied = 4, 4
	if err := e.store.Complete(e.ctx, &a, ma); err != nil {
		t.Fatal(err)
	}
	if a.State != client.SnapshotCompleted || a.Manifest != snapshot.ManifestName(a.ID) || a.ManifestTimestamp == 0 || a.StoredBytes != 2*cs {
		t.Fatalf("completed A: %+v", a)
	}
	if err := e.store.Complete(e.ctx, &a, ma); !errors.Is(err, snapshot.ErrState) {
		t.Fatalf("completing twice: %v, want ErrState", err)
	}

	// Snapshot B on top of A: chunk 0 unchanged (a reference, no upload), chunk 3 new.
	b := e.creating(vol, 4*cs, cs, a.ID)
	if err := e.store.Delete(e.ctx, a.ID); !errors.Is(err, snapshot.ErrInUse) {
		t.Fatalf("deleting A while B is taken on top of it: %v, want ErrInUse", err)
	}
	if err := e.store.Delete(e.ctx, b.ID); !errors.Is(err, snapshot.ErrState) {
		t.Fatalf("deleting B while it is being created: %v, want ErrState", err)
	}
	got, err := e.store.Manifest(e.ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(*got) != fmt.Sprint(*ma) {
		t.Fatalf("manifest of A read back:\n got %+v\nwant %+v", *got, *ma)
	}
	e0, _ := got.Lookup(0)
	if err := e.store.AddRef(e.ctx, e0.Ref); err != nil {
		t.Fatal(err)
	}
	r3, err := e.store.PutChunk(e.ctx, c3)
	if err != nil {
		t.Fatal(err)
	}
	mb := &snapshot.Manifest{SnapshotID: b.ID, VolumeID: vol, Parent: a.ID, SizeBytes: 4 * cs, ChunkSizeBytes: cs,
		Entries: []snapshot.Entry{{Index: 0, Version: 1, Ref: e0.Ref}, {Index: 3, Version: 9, Ref: r3}}}
	if err := e.store.Complete(e.ctx, &b, mb); err != nil {
		t.Fatal(err)
	}

	// A clone of A holds it.
	clone := client.Volume{ID: client.NewVolumeID(), SizeBytes: 4 * cs, ChunkSizeBytes: cs, FromSnapshot: a.ID}
	if err := e.mc.CreateVolume(e.ctx, clone); err != nil {
		t.Fatal(err)
	}
	err = e.store.Delete(e.ctx, a.ID)
	var use *snapshot.InUseError
	if !errors.As(err, &use) || len(use.Volumes) != 1 || use.Volumes[0] != clone.ID {
		t.Fatalf("deleting A while a volume was made from it: %v, want an InUseError naming %s", err, clone.ID)
	}
	if s, _, _ := e.mc.Snapshot(e.ctx, a.ID); s.State != client.SnapshotCompleted || s.Error == "" {
		t.Fatalf("A after the refused deletion: %+v, want completed with the reason", s)
	}
	_, vidx, err := e.mc.Volume(e.ctx, clone.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.mc.DeleteVolume(e.ctx, clone.ID, vidx); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	if err := e.store.Delete(e.ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	t.Logf("deleted snapshot A (3 chunk references) in %v", time.Since(start))
	if _, _, err := e.mc.Snapshot(e.ctx, a.ID); !isNotFound(err) {
		t.Fatalf("A's record after delete: %v", err)
	}
	if _, err := e.px.Get(e.ctx, snapshot.ManifestName(a.ID), 0, nil); !isProxyNotFound(err) {
		t.Fatalf("A's manifest after delete: %v", err)
	}
	if rec, ok := e.record(c0); !ok || rec.Refs != 1 || !e.stored(e0.Ref) {
		t.Fatalf("shared chunk 0 after deleting A: %+v (present %v)", rec, ok)
	}
	if _, ok := e.record(c1); ok || e.stored(ma.Entries[1].Ref) {
		t.Fatal("chunk 1, held by A only, is still there")
	}
	buf := make([]byte, cs)
	mbGot, err := e.store.Manifest(e.ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range mbGot.Entries {
		if err := e.store.ReadChunk(e.ctx, en.Ref, buf); err != nil {
			t.Fatalf("B's chunk %d after deleting A: %v", en.Index, err)
		}
	}
	if err := e.store.Delete(e.ctx, a.ID); err != nil {
		t.Fatalf("deleting A again: %v, want nil", err)
	}

	if err := e.store.Delete(e.ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	for i, d := range [][]byte{c0, c3} {
		if _, ok := e.record(d); ok {
			t.Errorf("content %d still has a record after every snapshot went", i)
		}
	}
	if e.stored(e0.Ref) || e.stored(r3) {
		t.Fatal("chunks still stored after every snapshot went")
	}
}
