package volumed

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"stratus/meta/client"
	"stratus/volumed/chunkdev"
	"stratus/volumed/snapshot"
)

// Snapshots (docs/volumes.md, "Snapshots and clones"). The server follows the snapshots
// table next to the volumes table:
//
//   - A pending snapshot of a volume it serves is taken on that volume's device: the device
//     freezes (the point in time), then the record goes to creating with the device's
//     generation, the changed chunks are copied, and the store completes it. The record
//     leaves pending only once the point in time is fixed, so an operator who waits for
//     creating knows later writes are not in it.
//   - A pending snapshot of a volume attached nowhere is taken by whichever server wins a
//     lease on it (an attach without force, so an operator's attach or another server's is
//     never overridden); the server serves the volume while it freezes and copies, then
//     detaches.
//   - A deleting snapshot is deleted (Store.Delete) by any server; concurrent deleters of
//     one snapshot are kept apart by the store's conditional writes, and one server runs
//     one deletion of a snapshot at a time.
//   - A creating snapshot whose taker is gone (the volume is no longer held at the
//     snapshot's generation, or this server serves it but runs no copy for it) is marked
//     error: its copy cannot resume, since the point in time is lost.

// snapshotProgressInterval is how often the copy's progress is written to the record.
// Every change of the table wakes every daemon's follow loop, so not too often.
const snapshotProgressInterval = 5 * time.Second

// snapshotPutTimeout bounds one chunk's reference and upload once the snapshot no longer
// wants it (a detach); a copy that is still wanted is bounded by the store's call timeouts.
const snapshotPutTimeout = time.Minute

// snapshotter is the server's snapshot work in progress.
type snapshotter struct {
	mu       sync.Mutex
	taking   map[string]bool // snapshot IDs being taken here
	volumes  map[string]bool // volume IDs with a snapshot being taken here
	deleting map[string]bool // snapshot IDs being deleted here
	// considered is when each snapshot was last looked at for work that needs meta reads to
	// decide (another host's volume, a deletion, an abandoned copy): every change of the
	// table wakes every server, so each looks again only once per resync interval.
	considered map[string]time.Time
	noStore    bool // "no snapshot store" was logged
	wg         sync.WaitGroup
}

// followSnapshots handles snapshot records whenever the table changes, until ctx ends.
func (s *Server) followSnapshots(ctx context.Context) {
	var after uint64
	for ctx.Err() == nil {
		s.reconcileSnapshots(ctx)
		w, err := s.mc.Watch(ctx, client.TableSnapshots, "", after, s.cfg.ResyncInterval)
		switch {
		case err == nil:
			after = w.Index
		case ctx.Err() == nil:
			s.log.Warn("watch snapshots", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// reconcileSnapshots starts the snapshot work this server can do now. It is also called
// after each change of the volumes table, since a volume starting to be served here may
// have a snapshot waiting.
func (s *Server) reconcileSnapshots(ctx context.Context) {
	snaps, err := s.mc.Snapshots(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("list snapshots", "err", err)
		}
		return
	}
	sn := &s.snaps
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if sn.taking == nil {
		sn.taking, sn.volumes, sn.deleting, sn.considered = map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]time.Time{}
	}
	now := time.Now()
	present := make(map[string]bool, len(snaps))
	for _, snap := range snaps {
		present[snap.ID] = true
	}
	for id := range sn.considered {
		if !present[id] {
			delete(sn.considered, id)
		}
	}
	due := func(id string) bool {
		if t, ok := sn.considered[id]; ok && now.Sub(t) < s.cfg.ResyncInterval {
			return false
		}
		sn.considered[id] = now
		return true
	}
	if s.cfg.Snapshots == nil {
		if len(snaps) > 0 && !sn.noStore {
			sn.noStore = true
			s.log.Warn("no snapshot store configured: snapshots are not taken or deleted by this server")
		}
		return
	}
	// Oldest first, so that a volume's snapshots are taken in the order they were asked.
	slices.SortFunc(snaps, func(a, b client.Snapshot) int { return a.CreatedAt.Compare(b.CreatedAt) })
	for _, snap := range snaps {
		switch snap.State {
		case client.SnapshotPending:
			if sn.volumes[snap.VolumeID] || sn.taking[snap.ID] {
				continue
			}
			s.mu.Lock()
			here := s.served[snap.VolumeID] != nil
			s.mu.Unlock()
			if !here && !due(snap.ID) {
				continue
			}
			sn.taking[snap.ID], sn.volumes[snap.VolumeID] = true, true
			sn.wg.Go(func() {
				s.takeSnapshot(ctx, snap.ID)
				sn.mu.Lock()
				delete(sn.taking, snap.ID)
				delete(sn.volumes, snap.VolumeID)
				sn.mu.Unlock()
			})
		case client.SnapshotCreating:
			if !sn.taking[snap.ID] && due(snap.ID) {
				s.reapSnapshot(ctx, snap)
			}
		case client.SnapshotDeleting:
			if sn.deleting[snap.ID] || !due(snap.ID) || !s.deletesSnapshot(ctx, snap) {
				continue
			}
			sn.deleting[snap.ID] = true
			sn.wg.Go(func() {
				if err := s.cfg.Snapshots.Delete(ctx, snap.ID); err != nil && ctx.Err() == nil {
					// Another server deleting it too loses a conditional write; the next
					// resync resumes where the deletion stopped.
					s.log.Info("delete snapshot (retried at the next change or resync)", "snapshot", snap.ID, "err", err)
				}
				sn.mu.Lock()
				delete(sn.deleting, snap.ID)
				sn.mu.Unlock()
			})
		}
	}
}

// deletesSnapshot reports whether this server should delete snap: the one serving its
// volume does, or every server if the volume is attached nowhere (or gone). Deleters of
// one snapshot are safe together (the store's conditional writes keep them apart), but
// each one lists every volume and snapshot, so one is enough.
func (s *Server) deletesSnapshot(ctx context.Context, snap client.Snapshot) bool {
	v, _, err := s.mc.Volume(ctx, snap.VolumeID)
	if errors.Is(err, client.ErrNotFound) {
		return true
	}
	if err != nil {
		return false
	}
	a := v.Attachment
	return a == nil || !time.Now().Before(a.LeaseExpiresAt) || a.Host == s.cfg.Host
}

// reapSnapshot marks error a creating snapshot that nobody is taking any more: the volume
// is not held at the snapshot's generation, or it is held here and this server has no copy
// of it running (it restarted). sn.mu is held.
func (s *Server) reapSnapshot(ctx context.Context, snap client.Snapshot) {
	v, _, err := s.mc.Volume(ctx, snap.VolumeID)
	if err != nil && !errors.Is(err, client.ErrNotFound) {
		return
	}
	a := v.Attachment
	s.mu.Lock()
	sv := s.served[snap.VolumeID]
	s.mu.Unlock()
	heldElsewhere := err == nil && a != nil && time.Now().Before(a.LeaseExpiresAt) && a.Generation == snap.Generation && sv == nil
	if heldElsewhere || (sv == nil && a != nil && a.Host == s.cfg.Host && a.Generation == snap.Generation) {
		return // its taker may still be at work (or this server is about to serve it)
	}
	s.markSnapshotError(ctx, snap.ID, client.SnapshotCreating, errors.New("the volumed taking it stopped before it completed"))
}

// takeSnapshot takes pending snapshot id, if its volume is served here or attached nowhere.
func (s *Server) takeSnapshot(ctx context.Context, id string) {
	snap, idx, err := s.mc.Snapshot(ctx, id)
	if err != nil || snap.State != client.SnapshotPending {
		return
	}
	v, _, err := s.mc.Volume(ctx, snap.VolumeID)
	if errors.Is(err, client.ErrNotFound) {
		s.markSnapshotError(ctx, id, client.SnapshotPending, fmt.Errorf("volume %s does not exist", snap.VolumeID))
		return
	}
	if err != nil {
		return
	}
	s.mu.Lock()
	sv := s.served[v.ID]
	s.mu.Unlock()
	if sv == nil {
		if a := v.Attachment; a != nil && time.Now().Before(a.LeaseExpiresAt) {
			return // its holder takes it (this server, once it serves the volume)
		}
		if v.State != client.VolumeAvailable && v.State != client.VolumeInUse {
			s.markSnapshotError(ctx, id, client.SnapshotPending, fmt.Errorf("volume %s is %s", v.ID, v.State))
			return
		}
		lease, err := Attach(ctx, s.mc, v.ID, s.cfg.Host, false, s.cfg.LeaseTTL)
		if err != nil {
			return // another server (or an operator) attached it first: the holder takes it
		}
		defer func() {
			// Detach first: stopping first would let the follow loop, still seeing the
			// lease, serve the volume again. Nothing writes to it meanwhile.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Device.CallTimeout)
			defer cancel()
			if err := Detach(dctx, s.mc, lease); err != nil {
				s.log.Warn("detach after a snapshot", "volume", v.ID, "err", err)
			}
			s.stop(v.ID, stopSnapshot)
		}()
		if v, _, err = s.mc.Volume(ctx, v.ID); err != nil || v.Attachment == nil || v.Attachment.Generation != lease.Generation {
			return
		}
		if err := s.start(ctx, v); err != nil {
			s.markSnapshotError(ctx, id, client.SnapshotPending, fmt.Errorf("open volume %s: %w", v.ID, err))
			return
		}
		s.mu.Lock()
		sv = s.served[v.ID]
		s.mu.Unlock()
		if sv == nil || sv.gen != lease.Generation {
			return
		}
	}
	if err := s.snapshotOn(ctx, sv, snap, idx); err != nil {
		// Pending too: a freeze that failed (a flush without quorum, a fence) says so
		// rather than leaving the request waiting.
		s.markSnapshotError(ctx, id, client.SnapshotPending, err)
	}
}

// errNotTaken is returned by snapshotOn when the record changed before the point in time
// was recorded: the snapshot is left to whoever changed it (or to the next attempt).
var errNotTaken = errors.New("snapshot record changed before it was taken")

// snapshotOn takes pending snapshot snap (read at mod index idx) on sv's device.
func (s *Server) snapshotOn(ctx context.Context, sv *served, snap client.Snapshot, idx uint64) error {
	st := s.cfg.Snapshots
	parent, pm, err := s.snapshotParent(ctx, snap)
	if err != nil {
		return err
	}
	// The snapshot has the volume's size at the point in time (a resize since it was asked
	// for is in it).
	snap.SizeBytes, snap.ChunkSizeBytes = int64(sv.dev.Size()), sv.dev.ChunkSizeBytes()
	if pm != nil && pm.ChunkSizeBytes != snap.ChunkSizeBytes {
		return fmt.Errorf("parent snapshot %s has %d-byte chunks, the volume %d", parent, pm.ChunkSizeBytes, snap.ChunkSizeBytes)
	}
	sink := &snapSink{st: st, chunkSize: snap.ChunkSizeBytes, size: snap.SizeBytes, entries: map[int64]snapshot.Entry{}, held: map[[32]byte]bool{}}
	if b, ok := sv.base.(snapBase); ok {
		sink.base = b.m
	}
	spec := chunkdev.FreezeSpec{ID: snap.ID, ParentID: parent, Sink: sink}
	if pm != nil {
		spec.Parent = make(map[int64]uint64, len(pm.Entries))
		for _, e := range pm.Entries {
			spec.Parent[e.Index] = e.Version
		}
	}
	start := time.Now()
	f, err := sv.dev.Freeze(ctx, spec)
	if errors.Is(err, chunkdev.ErrSnapshotBusy) || errors.Is(err, chunkdev.ErrFenced) || errors.Is(err, chunkdev.ErrDetached) {
		// Taken at a later pass, once the other one is done, or by the volume's new holder.
		return nil
	}
	if err != nil {
		return fmt.Errorf("freeze: %w", err)
	}
	// The point in time is fixed: say so.
	snap.State, snap.Generation, snap.Parent = client.SnapshotCreating, sv.gen, parent
	snap.ChunksTotal, snap.ChunksCopied, snap.Error = int64(len(f.Copying())), 0, ""
	if err := s.mc.UpdateSnapshot(ctx, snap, idx); err != nil {
		f.Abort(errNotTaken)
		_ = f.Wait(context.WithoutCancel(ctx))
		sink.releaseAll(context.WithoutCancel(ctx), s)
		if errors.Is(err, client.ErrConflict) {
			return nil // record changed (deleted?); the next pass decides again
		}
		return fmt.Errorf("record point in time: %w", err)
	}
	s.log.Info("snapshot point in time fixed", "snapshot", snap.ID, "volume", snap.VolumeID, "generation", sv.gen,
		"parent", parent, "chunks_to_copy", len(f.Copying()), "freeze", time.Since(start))
	fail := func(err error) error {
		f.Abort(err)
		_ = f.Wait(context.WithoutCancel(ctx))
		sink.releaseAll(context.WithoutCancel(ctx), s)
		return err
	}
	if parent != "" {
		// The parent's deleter marks it before it checks for children, and this record
		// names it from now on: one of the two sees the other.
		p, _, err := s.mc.Snapshot(ctx, parent)
		if err != nil || p.State != client.SnapshotCompleted {
			return fail(fmt.Errorf("parent snapshot %s went away (%s, %v)", parent, p.State, err))
		}
	}
	if err := s.awaitCopy(ctx, f, snap.ID); err != nil {
		return fail(err)
	}
	m, err := sink.manifest(ctx, snap, pm, f)
	if err != nil {
		return fail(err)
	}
	snap.ChunksCopied, snap.StoredBytes = int64(f.Copied()), sink.storedBytes()
	if err := st.Complete(ctx, &snap, m); err != nil {
		// The record may have been written even so (an answer lost): its references are
		// then the manifest's, and releasing them would lose chunks it names.
		cur, _, rerr := s.mc.Snapshot(context.WithoutCancel(ctx), snap.ID)
		if rerr == nil && cur.Manifest != "" {
			return nil
		}
		if rerr == nil {
			sink.releaseAll(context.WithoutCancel(ctx), s)
		}
		return fmt.Errorf("complete: %w", err)
	}
	s.log.Info("snapshot completed", "snapshot", snap.ID, "volume", snap.VolumeID, "chunks_copied", f.Copied(),
		"copied_on_write", f.CopiedOnWrite(), "stored_bytes", snap.StoredBytes, "took", time.Since(start))
	return nil
}

// awaitCopy waits for f's copy, writing its progress to snapshot id's record meanwhile.
func (s *Server) awaitCopy(ctx context.Context, f *chunkdev.Frozen, id string) error {
	t := time.NewTicker(snapshotProgressInterval)
	defer t.Stop()
	written := 0
	for {
		select {
		case <-f.Done():
			return f.Wait(ctx)
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if n := f.Copied(); n != written {
			written = n
			if snap, idx, err := s.mc.Snapshot(ctx, id); err == nil && snap.State == client.SnapshotCreating {
				snap.ChunksCopied = int64(n)
				_ = s.mc.UpdateSnapshot(ctx, snap, idx) // progress only: a conflict skips one update
			}
		}
	}
}

// snapshotParent returns the snapshot the new one is incremental to and its manifest: the
// one its record names if that is a completed snapshot of the same volume, or else the
// volume's latest completed snapshot; "" and nil if there is none.
func (s *Server) snapshotParent(ctx context.Context, snap client.Snapshot) (string, *snapshot.Manifest, error) {
	snaps, err := s.mc.Snapshots(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("list snapshots: %w", err)
	}
	var best *client.Snapshot
	for i, p := range snaps {
		if p.VolumeID != snap.VolumeID || p.State != client.SnapshotCompleted || p.ID == snap.ID {
			continue
		}
		if p.ID == snap.Parent {
			best = &snaps[i]
			break
		}
		if best == nil || p.CompletedAt.After(best.CompletedAt) {
			best = &snaps[i]
		}
	}
	if best == nil {
		return "", nil, nil
	}
	m, err := s.cfg.Snapshots.Manifest(ctx, best.ID)
	if err != nil {
		return "", nil, fmt.Errorf("parent manifest: %w", err)
	}
	return best.ID, m, nil
}

// markSnapshotError records err in snapshot id if it is still in state from (or creating).
func (s *Server) markSnapshotError(ctx context.Context, id string, from client.SnapshotState, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Device.CallTimeout)
	defer cancel()
	for range 8 {
		snap, idx, gerr := s.mc.Snapshot(ctx, id)
		if gerr != nil || (snap.State != from && snap.State != client.SnapshotCreating) {
			return
		}
		snap.State, snap.Error = client.SnapshotError, err.Error()
		snap.ChunksCopied = min(snap.ChunksCopied, snap.ChunksTotal)
		uerr := s.mc.UpdateSnapshot(ctx, snap, idx)
		if uerr == nil {
			s.log.Warn("snapshot failed", "snapshot", id, "err", err)
			return
		}
		if !errors.Is(uerr, client.ErrConflict) {
			s.log.Warn("record snapshot failure", "snapshot", id, "err", uerr)
			return
		}
	}
}

// snapSink stores a snapshot's chunks in the store and keeps the manifest entries, holding
// exactly one reference per distinct content, as the store's manifests require.
type snapSink struct {
	st              *snapshot.Store
	chunkSize, size int64
	base            *snapshot.Manifest // a clone's base: its chunks are referenced, not read back

	mu      sync.Mutex
	entries map[int64]snapshot.Entry
	held    map[[32]byte]bool // contents this snapshot holds a reference to
	refs    []snapshot.Ref    // one per held content, to release on failure
	stored  int64
	closed  bool // released: a late chunk is given back at once
}

// PutChunk implements chunkdev.Sink.
func (k *snapSink) PutChunk(ctx context.Context, idx int64, version uint64, data []byte) error {
	n := min(k.chunkSize, k.size-idx*k.chunkSize) // the last chunk ends at the volume's end
	if n <= 0 {
		return fmt.Errorf("chunk %d is past the snapshot's %d bytes", idx, k.size)
	}
	// A reference count changed by a call cut short is a change whose outcome is unknown,
	// and a reference that may leak: a detach does not cancel the calls of a chunk in
	// progress, and the store's own call timeouts bound them.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), snapshotPutTimeout)
	defer cancel()
	ref := snapshot.Ref{Zero: true, Size: n}
	if data != nil {
		var err error
		if ref, err = k.st.PutChunk(ctx, data[:n]); err != nil {
			return err
		}
	}
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		if !ref.Zero {
			return errors.Join(errors.New("snapshot abandoned"), k.st.Release(ctx, ref))
		}
		return errors.New("snapshot abandoned")
	}
	dup := !ref.Zero && k.held[ref.SHA]
	if !ref.Zero && !dup {
		k.held[ref.SHA] = true
		k.refs = append(k.refs, ref)
	}
	if ref.Uploaded {
		k.stored += n
	}
	k.entries[idx] = snapshot.Entry{Index: idx, Version: version, Ref: ref}
	k.mu.Unlock()
	if dup {
		// Another chunk of this snapshot has the same content: one reference is enough.
		return k.st.Release(ctx, ref)
	}
	return nil
}

// PutBaseChunk implements chunkdev.BaseSink: a clone's chunk that only its base holds gets
// the base's entry (one more reference), unless its size differs (the base's last chunk in
// a larger clone).
func (k *snapSink) PutBaseChunk(ctx context.Context, idx int64, version uint64) (bool, error) {
	if k.base == nil {
		return false, nil
	}
	e, ok := k.base.Lookup(idx)
	if !ok || e.Ref.Zero || e.Ref.Size != min(k.chunkSize, k.size-idx*k.chunkSize) {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), snapshotPutTimeout)
	defer cancel()
	if err := k.st.AddRef(ctx, e.Ref); err != nil {
		return false, fmt.Errorf("reference base chunk %d: %w", idx, err)
	}
	k.mu.Lock()
	closed, dup := k.closed, k.held[e.Ref.SHA]
	if !closed && !dup {
		k.held[e.Ref.SHA] = true
		k.refs = append(k.refs, e.Ref)
	}
	if !closed {
		k.entries[idx] = snapshot.Entry{Index: idx, Version: version, Ref: e.Ref}
	}
	k.mu.Unlock()
	switch {
	case closed:
		return false, errors.Join(errors.New("snapshot abandoned"), k.st.Release(ctx, e.Ref))
	case dup:
		return true, k.st.Release(ctx, e.Ref)
	}
	return true, nil
}

func (k *snapSink) storedBytes() int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.stored
}

// manifest returns the snapshot's manifest: the parent's entries of the chunks unchanged
// since (each content referenced once more), and the chunks copied.
func (k *snapSink) manifest(ctx context.Context, snap client.Snapshot, parent *snapshot.Manifest, f *chunkdev.Frozen) (*snapshot.Manifest, error) {
	m := &snapshot.Manifest{SnapshotID: snap.ID, VolumeID: snap.VolumeID, Parent: snap.Parent, SizeBytes: snap.SizeBytes, ChunkSizeBytes: snap.ChunkSizeBytes}
	k.mu.Lock()
	entries := make(map[int64]snapshot.Entry, len(k.entries))
	for i, e := range k.entries {
		entries[i] = e
	}
	k.mu.Unlock()
	if parent != nil {
		versions := f.Versions()
		for _, e := range parent.Entries {
			if _, ok := entries[e.Index]; ok {
				continue
			}
			if v, ok := versions[e.Index]; f.AllChunks() && (!ok || v != e.Version) || !f.AllChunks() && ok && v != e.Version {
				continue // not present any more, or changed (and then copied)
			}
			if !e.Ref.Zero {
				k.mu.Lock()
				held := k.held[e.Ref.SHA]
				k.mu.Unlock()
				if !held {
					if err := k.st.AddRef(ctx, e.Ref); err != nil {
						return nil, fmt.Errorf("reference parent chunk %d: %w", e.Index, err)
					}
					k.mu.Lock()
					k.held[e.Ref.SHA] = true
					k.refs = append(k.refs, e.Ref)
					k.mu.Unlock()
				}
			}
			entries[e.Index] = e
		}
	}
	for _, i := range f.Copying() {
		if _, ok := entries[i]; !ok {
			return nil, fmt.Errorf("chunk %d was not copied", i)
		}
	}
	for _, e := range entries {
		m.Entries = append(m.Entries, e)
	}
	slices.SortFunc(m.Entries, func(a, b snapshot.Entry) int { return cmp.Compare(a.Index, b.Index) })
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// releaseAll gives back every reference the sink holds (the snapshot failed). A release the
// catalog did not answer ends it: the daemon may be stopping, and retrying each of the
// others for as long would hold it up for minutes per thousand chunks.
func (k *snapSink) releaseAll(ctx context.Context, s *Server) {
	k.mu.Lock()
	refs := k.refs
	k.refs, k.held, k.closed = nil, map[[32]byte]bool{}, true
	k.mu.Unlock()
	for i, r := range refs {
		rctx, cancel := context.WithTimeout(ctx, snapshotPutTimeout)
		err := k.st.Release(rctx, r)
		unanswered := err != nil && (rctx.Err() != nil || errors.Is(err, client.ErrUnavailable))
		cancel()
		if unanswered {
			s.log.Warn("gave up releasing a failed snapshot's chunks (their space leaks)", "chunks", len(refs)-i, "err", err)
			return
		}
		if err != nil {
			s.log.Warn("release a failed snapshot's chunk (its space leaks)", "chunk", r.Hex(), "err", err)
		}
	}
}

// snapBase is the snapshot a clone was created from, as its device reads it.
type snapBase struct {
	st *snapshot.Store
	m  *snapshot.Manifest
}

// Holds implements chunkdev.Base.
func (b snapBase) Holds(idx int64) bool {
	e, ok := b.m.Lookup(idx)
	return ok && !e.Ref.Zero
}

// ReadChunk implements chunkdev.Base.
func (b snapBase) ReadChunk(ctx context.Context, idx int64, buf []byte) error {
	clear(buf)
	e, ok := b.m.Lookup(idx)
	if !ok || e.Ref.Zero {
		return nil
	}
	if e.Ref.Size > int64(len(buf)) {
		return fmt.Errorf("snapshot %s chunk %d has %d bytes, more than a chunk (%d)", b.m.SnapshotID, idx, e.Ref.Size, len(buf))
	}
	return b.st.ReadChunk(ctx, e.Ref, buf[:e.Ref.Size])
}

// cloneBase returns the base of a volume created from a snapshot (nil for other volumes).
func (s *Server) cloneBase(ctx context.Context, v client.Volume) (chunkdev.Base, error) {
	if v.FromSnapshot == "" {
		return nil, nil
	}
	if s.cfg.Snapshots == nil {
		return nil, fmt.Errorf("volume %s was created from snapshot %s, and no snapshot store is configured", v.ID, v.FromSnapshot)
	}
	m, err := s.cfg.Snapshots.Manifest(ctx, v.FromSnapshot)
	if err != nil {
		return nil, fmt.Errorf("base snapshot of %s: %w", v.ID, err)
	}
	if m.ChunkSizeBytes != v.ChunkSizeBytes || m.SizeBytes > v.SizeBytes {
		return nil, fmt.Errorf("volume %s (%d bytes in %d-byte chunks) cannot hold its snapshot %s (%d in %d)", v.ID, v.SizeBytes, v.ChunkSizeBytes, m.SnapshotID, m.SizeBytes, m.ChunkSizeBytes)
	}
	return snapBase{st: s.cfg.Snapshots, m: m}, nil
}
