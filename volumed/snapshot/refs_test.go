package snapshot_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/minio/sha256-simd"

	"stratus/internal/hlc"
	"stratus/meta/client"
	objclient "stratus/objectd/client"
	"stratus/volumed/snapshot"
)

// TestUploadTakeover: an acquirer whose content's first uploader never recorded a version
// (it crashed after taking its reference) waits UploadWait, then uploads the content
// itself; one without the content (AddRef) gives up with ErrChunkGone and gives its
// reference back.
func TestUploadTakeover(t *testing.T) {
	cfg := fastConfig()
	cfg.UploadWait = 300 * time.Millisecond
	e := newEnv(t, cfg)
	data := chunk(32<<10, 4)
	sum := sha256.Sum256(data)
	key := snapshot.Ref{SHA: sum}.Hex()
	if _, err := e.mc.PutSnapChunk(e.ctx, key, client.SnapChunk{Refs: 1, State: client.SnapChunkLive, SizeBytes: int64(len(data))}, 0); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := e.store.AddRef(e.ctx, snapshot.Ref{SHA: sum, Size: int64(len(data))}); !errors.Is(err, snapshot.ErrChunkGone) {
		t.Fatalf("AddRef while the upload is never recorded: %v, want ErrChunkGone", err)
	}
	if waited := time.Since(start); waited < cfg.UploadWait {
		t.Fatalf("AddRef gave up after %v, before UploadWait", waited)
	}
	if rec, _ := e.record(data); rec.Refs != 1 {
		t.Fatalf("refs %d after the failed AddRef, want its reference given back (1)", rec.Refs)
	}
	ref, err := e.store.PutChunk(e.ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	if !ref.Uploaded || ref.Timestamp == 0 {
		t.Fatalf("ref %+v, want an upload of its own", ref)
	}
	if rec, _ := e.record(data); rec.Refs != 2 || rec.Timestamp != ref.Timestamp {
		t.Fatalf("record %+v after the takeover, want 2 references at %v", rec, ref.Timestamp)
	}
	buf := make([]byte, len(data))
	if err := e.store.ReadChunk(e.ctx, ref, buf); err != nil || !bytes.Equal(buf, data) {
		t.Fatalf("read after the takeover: %v", err)
	}
}

// TestUploadAfterNewerTombstone: the replicas hold a tombstone dated ahead of the store's
// clock (a deletion by a process whose clock runs fast). The first upload is refused as
// older; the retry is dated after the tombstone and succeeds.
func TestUploadAfterNewerTombstone(t *testing.T) {
	e := newEnv(t, fastConfig())
	data := chunk(32<<10, 5)
	name := snapshot.ChunkName(sha256.Sum256(data))
	tomb := hlc.FromTime(time.Now().Add(3 * time.Second))
	p := e.st.Ring.Partition(name)
	for _, d := range e.st.Ring.Primaries(p, nil) {
		tg := objclient.Target{Host: d.Host, Device: d.Name, Partition: uint32(p)}
		if err := e.oc.Delete(e.ctx, tg, name, tomb); err != nil {
			t.Fatal(err)
		}
	}
	ref, err := e.store.PutChunk(e.ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Timestamp <= tomb {
		t.Fatalf("upload dated %v, not after the tombstone %v", ref.Timestamp, tomb)
	}
	buf := make([]byte, len(data))
	if err := e.store.ReadChunk(e.ctx, ref, buf); err != nil || !bytes.Equal(buf, data) {
		t.Fatalf("read: %v", err)
	}
}

// TestDeleteResumes: a deletion interrupted after it recorded a batch and released it
// is run again: it releases the rest and nothing of the recorded batch a second time.
func TestDeleteResumes(t *testing.T) {
	e := newEnv(t, fastConfig())
	const cs = 64 << 10
	vol := client.NewVolumeID()
	x, y := chunk(cs, 20), chunk(cs, 21)
	s := e.creating(vol, 2*cs, cs, "")
	m := &snapshot.Manifest{SnapshotID: s.ID, VolumeID: vol, SizeBytes: 2 * cs, ChunkSizeBytes: cs}
	for i, d := range [][]byte{x, y} {
		ref, err := e.store.PutChunk(e.ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		ref.Uploaded = false
		m.Entries = append(m.Entries, snapshot.Entry{Index: int64(i), Version: 1, Ref: ref})
	}
	if err := e.store.Complete(e.ctx, &s, m); err != nil {
		t.Fatal(err)
	}
	refs := m.Refs()
	// Another holder of the first content (in SHA-256 order), so a second release of it
	// would show as a count of 0 instead of 1.
	if err := e.store.AddRef(e.ctx, refs[0]); err != nil {
		t.Fatal(err)
	}
	// The interrupted run: deleting, cursor at the first content, which it released.
	cur, idx, err := e.mc.Snapshot(e.ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	cur.State, cur.ReleaseCursor = client.SnapshotDeleting, refs[0].Hex()
	if err := e.mc.UpdateSnapshot(e.ctx, cur, idx); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Release(e.ctx, refs[0]); err != nil {
		t.Fatal(err)
	}

	if err := e.store.Delete(e.ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	first, second := x, y
	if refs[0].SHA != sha256.Sum256(x) {
		first, second = y, x
	}
	if rec, ok := e.record(first); !ok || rec.Refs != 1 || !e.stored(refs[0]) {
		t.Fatalf("content released before the interruption: %+v (present %v), want 1 reference left", rec, ok)
	}
	if _, ok := e.record(second); ok || e.stored(refs[1]) {
		t.Fatal("content after the cursor was not released")
	}
	if _, _, err := e.mc.Snapshot(e.ctx, s.ID); !isNotFound(err) {
		t.Fatalf("record after the resumed deletion: %v", err)
	}
}

// TestDeleteAfterReleasingAll: a deletion that crashed after releasing every reference and
// removing the manifest, but before removing the record, is run again: it removes the
// record without looking for the manifest or releasing anything.
func TestDeleteAfterReleasingAll(t *testing.T) {
	e := newEnv(t, fastConfig())
	const cs = 64 << 10
	vol := client.NewVolumeID()
	data := chunk(cs, 30)
	s := e.creating(vol, cs, cs, "")
	ref, err := e.store.PutChunk(e.ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	m := &snapshot.Manifest{SnapshotID: s.ID, VolumeID: vol, SizeBytes: cs, ChunkSizeBytes: cs,
		Entries: []snapshot.Entry{{Index: 0, Version: 1, Ref: ref}}}
	if err := e.store.Complete(e.ctx, &s, m); err != nil {
		t.Fatal(err)
	}
	cur, idx, err := e.mc.Snapshot(e.ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	cur.State, cur.ReleaseCursor = client.SnapshotDeleting, "all"
	if err := e.mc.UpdateSnapshot(e.ctx, cur, idx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.px.Delete(e.ctx, cur.Manifest, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Delete(e.ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.mc.Snapshot(e.ctx, s.ID); !isNotFound(err) {
		t.Fatalf("record after the resumed deletion: %v", err)
	}
	if rec, ok := e.record(data); !ok || rec.Refs != 1 || !e.stored(ref) {
		t.Fatalf("the chunk's count after a deletion with nothing left to release: %+v (present %v), want it untouched", rec, ok)
	}
}
