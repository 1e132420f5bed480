package snapshot_test

import (
	"bytes"
	"errors"
	vclient "stratus/volumed/client"
	"sync"
	"testing"

	"stratus/meta/client"
	"stratus/volumed/snapshot"
)

// TestDeleteRacesClone: a volume created from a snapshot while the snapshot is being
// deleted. Whichever order the records are written in, either the volume is refused (and
// leaves no record) or the deletion is refused and every chunk stays readable: never a
// volume over a deleted snapshot.
func TestDeleteRacesClone(t *testing.T) {
	e := newEnv(t, fastConfig())
	const cs = 64 << 10
	vol := client.NewVolumeID()
	cloned, deleted := 0, 0
	for round := range 8 {
		data := chunk(cs, uint64(100+round))
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
		var wg sync.WaitGroup
		var cloneErr, deleteErr error
		var clone client.Volume
		wg.Go(func() {
			clone, cloneErr = vclient.CreateVolumeFromSnapshot(e.ctx, e.mc, client.Volume{ID: client.NewVolumeID(), FromSnapshot: s.ID})
		})
		wg.Go(func() { deleteErr = e.store.Delete(e.ctx, s.ID) })
		wg.Wait()
		_, _, verr := e.mc.Volume(e.ctx, clone.ID)
		switch {
		case cloneErr == nil:
			cloned++
			if verr != nil {
				t.Fatalf("round %d: volume created, then its record: %v", round, verr)
			}
			if !errors.Is(deleteErr, snapshot.ErrInUse) {
				t.Fatalf("round %d: volume created and the deletion says %v, want ErrInUse", round, deleteErr)
			}
			got, _, err := e.mc.Snapshot(e.ctx, s.ID)
			if err != nil || got.State != client.SnapshotCompleted {
				t.Fatalf("round %d: snapshot of a live clone is %s (%v)", round, got.State, err)
			}
			buf := make([]byte, cs)
			if err := e.store.ReadChunk(e.ctx, ref, buf); err != nil || !bytes.Equal(buf, data) {
				t.Fatalf("round %d: the clone's base chunk: %v", round, err)
			}
		default:
			deleted++
			if !errors.Is(cloneErr, snapshot.ErrState) && !errors.Is(cloneErr, client.ErrNotFound) {
				t.Fatalf("round %d: volume refused with %v, want ErrState or ErrNotFound", round, cloneErr)
			}
			if !errors.Is(verr, client.ErrNotFound) {
				t.Fatalf("round %d: a refused volume left its record (%v)", round, verr)
			}
			if deleteErr != nil && !errors.Is(deleteErr, snapshot.ErrInUse) {
				t.Fatalf("round %d: delete: %v", round, deleteErr)
			}
			// A deletion refused by the volume's passing record is asked again; now it goes.
			if err := e.store.Delete(e.ctx, s.ID); err != nil {
				t.Fatalf("round %d: delete again: %v", round, err)
			}
			if e.stored(ref) {
				t.Fatalf("round %d: deleted snapshot's chunk still stored", round)
			}
		}
	}
	t.Logf("of 8 races, %d clones won, %d deletions", cloned, deleted)
}
