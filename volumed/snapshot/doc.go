// Package snapshot stores volume snapshots in the object store: content-addressed chunks,
// their reference counts in meta, and one manifest per snapshot.
//
// # Objects and records
//
//   - Chunk ".snap/chunk/<sha256 hex>": the whole content of one volume chunk, written once
//     through the proxy library and shared by every snapshot that holds the same content.
//     An all-zero chunk is never stored; its Ref says Zero.
//   - Manifest ".snap/manifest/<snap id>": written last (Complete), in the binary format of
//     manifest.go: header (format version, snapshot, volume, parent, size, chunk size) and,
//     per chunk present at the snapshot's point in time, its index, its chunk version (the
//     highest write sequence then), its SHA-256 or a zero flag, its size and the version
//     (HLC timestamp) of its object; a SHA-256 of the whole file closes it.
//   - Record snapchunks/<sha256 hex> (client.SnapChunk): the number of snapshots holding the
//     chunk, the object's version, and the time of its last tombstone.
//   - Record snapshots/<snap id> (client.Snapshot): state, progress, manifest name and version.
//
// # References
//
// A snapshot holds exactly one reference to each distinct SHA-256 its manifest lists,
// including those it shares with its parent (AddRef: a conditional increment, no upload).
// Every change of a count is a read and a conditional write on the record's mod index, so
// concurrent acquirers and releasers never lose one:
//
//   - PutChunk on an absent record creates it with one reference, uploads the object, then
//     records the object's version. On a live record it adds a reference; if the first
//     acquirer is still uploading (no version recorded yet), it waits up to
//     Config.UploadWait for the version and then uploads the content itself: waiting is
//     cheaper in the common case (two volumes with the same new chunk at once), and the
//     upload after the wait means a crashed first acquirer cannot stall everyone.
//   - The release of the last reference stamps a deletion and, as the deletion's commit,
//     marks the record deleting with that tombstone time, then writes the tombstones. An
//     acquirer finding a deleting record revives it (one reference) and uploads again,
//     dated after the tombstone, so a tombstone that arrives late can never remove the new
//     upload. Deleting records are removed once no tombstone of theirs can still be in
//     flight (Config.TombstoneHoldoff); one left behind by a crash is harmless.
//   - An upload refused because a replica holds a newer version (a tombstone dated by a
//     faster clock) is retried: the proxy's clock has caught up with the refusal.
//
// Reads ask for the exact version recorded in the manifest. Two acquirers that both
// uploaded (the wait above ran out) leave the newer version on the replicas, so a read of
// the superseded version that is not found falls back to the current version; the content
// is the same by construction, and every read is checked against the SHA-256 before a byte
// is returned. A chunk whose content does not match is an error, never data.
//
// # Deletion
//
// Delete refuses (ErrInUse) while a volume was created from the snapshot (clones read from
// it for as long as they live) or a snapshot being created names it as its parent; it
// records the refusal in the snapshot's Error and puts it back to completed. Otherwise it
// releases the snapshot's references in SHA-256 order, in batches whose end it records in
// the record (ReleaseCursor) before releasing them, so a deletion run again after a crash
// resumes after the batch and never releases a reference twice. Then it removes the
// manifest and the record.
//
// # Caveats
//
// A crash between acquiring references and completing the snapshot, or inside a release
// batch, leaks those references: the chunks stay stored until an operator recounts the
// references from the manifests (not built). It never loses a chunk a manifest names.
//
// # API (used by the volume daemon)
//
//	st := snapshot.New(cfg, metaClient, proxy, logger)
//	ref, err := st.PutChunk(ctx, data)         // hash, skip zeros, reference, upload if new
//	err = st.AddRef(ctx, ref)                  // reference a chunk the parent holds, no upload
//	err = st.Release(ctx, ref)                 // give back a reference (a failed snapshot)
//	err = st.ReadChunk(ctx, ref, buf)          // fill buf, checked against the SHA-256
//	err = st.Complete(ctx, &snap, manifest)    // write the manifest, mark completed
//	m, err := st.Manifest(ctx, snapID)         // cached; m.Lookup(index) for copy-on-write
//	err = st.Delete(ctx, snapID)               // GC: release references, remove manifest and record
//
// Records only, in volumed/client (vclient here; an admin certificate, no object store):
//
//	snap, err := vclient.RequestSnapshot(ctx, mc, volID)         // a pending record
//	snap, err = vclient.AwaitSnapshot(ctx, mc, snap.ID, done)     // follow it until done(snap)
//	snap, err = vclient.RequestSnapshotDelete(ctx, mc, snapID)    // mark deleting (refused if in use)
//	vol, err := vclient.CreateVolumeFromSnapshot(ctx, mc, volume) // a volume from volume.FromSnapshot
//
// Every Ref a snapshot took must end up in its manifest or be given back: the store counts
// one reference per distinct content per manifest, so a caller that gets the same content
// twice for one snapshot releases the second reference.
package snapshot
