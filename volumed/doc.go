// Package volumed is the block-volume daemon's core: the attachment lease that makes one
// host a volume's single writer, and the volume lifecycle operators drive (resize, delete).
// The NBD server is volumed/nbd and the block device over a volume's chunks
// volumed/chunkdev; Server joins them to the lease: it serves each volume attached to its
// host with the lease's generation, keeps the lease, and stops serving when it is lost.
// It also takes and deletes the snapshots the snapshots table asks for, and serves volumes
// made from a snapshot over it (snapshots.go; docs/volumes.md, "Snapshots and clones").
//
// # The attachment lease
//
// A volume's record in meta (table volumes, client.Volume) holds its lease: the holder host,
// the lease's generation and its expiry. Attach takes it with a conditional write
// (CondModIndex on the record it read), so of concurrent attaches exactly one wins and the
// others see its lease. Every attach issues a generation one higher than the volume's
// LastGeneration and stores it there; LastGeneration survives a detach, so a generation is
// never issued twice for a volume.
//
// Invariants:
//   - A volume is in-use exactly when its record has an Attachment, available otherwise;
//     other states are not attachable, and only a deleting volume holds an attachment: its
//     reaper's claim.
//   - Attachment.Generation == LastGeneration while attached.
//   - The generation is the fence: every chunk write carries it, and a storage node refuses
//     a generation older than the newest it has seen for the chunk. Whoever attaches with a
//     new generation therefore fences the old holder at every replica it writes to, whether
//     the old holder is dead, partitioned or still running.
//
// The expiry decides only who may attach without --force: a lease whose expiry has passed is
// no lease, and any host may take the volume. The holder keeps its lease live by renewing it
// every TTL/3 (Keep); a Renew that finds another generation reports the lease lost. Expiry is
// compared with the local clock of whoever reads it, so hosts' clocks must agree to well
// within the TTL; if they do not, a host may take over a lease its holder still counts as
// live, which costs that holder its writes (it is fenced) but never mixes two writers' data.
//
// # Serving
//
// Server follows the volumes table: it serves each volume attached to its host (state
// in-use, lease live), grows a served device when the record's size grows (new NBD
// connections see it; open ones keep the size they negotiated), and stops serving after a
// flush when the attachment ends, moves or its lease is lost. Every device observes into one
// chunkdev.Metrics on the server's Registerer under a volume label; a volume's series are
// forgotten when the server stops serving it, so a host exports those of the volumes it serves.
//
// # Deletion
//
// Delete makes an unattached volume deleting (a never-attached one, which holds no chunks,
// is deleted at once). Every Server following the table tries to reap deleting volumes with
// no live claim: Claim stores an attachment naming the reaper with a new generation (a
// conditional write, so one reaper works at a time, and its deletes fence every earlier
// holder), Reap deletes every chunk index on every ring primary at that generation, and only
// when all succeeded deletes the record. A replica that cannot be reached keeps the volume
// deleting; the claim is left to lapse, and a pass after its expiry tries again.
//
// # Caveats
//
//   - Losing the lease (Keep returns an error) means the holder must stop writing: its
//     writes will be refused wherever the new holder has written, and accepted, uselessly,
//     where it has not.
//   - Nothing here talks to storage nodes: the chunk data path (volumed/chunkdev) carries
//     the generation, in every change and in the high 32 bits of every sequence, which is
//     why a generation stops at MaxGeneration.
package volumed
