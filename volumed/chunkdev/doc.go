// Package chunkdev is a block device over a volume's chunks on the ring (docs/volumes.md,
// "Writing and reading"): it implements nbd.Export and its optional interfaces (Writer,
// Flusher, Trimmer, Zeroer, BlockStatuser, SparseReader) so that volumed/nbd can serve a
// volume to QEMU.
//
// Chunk i of volume v is the ring name ".vol/<v>/<i as 16 hex digits>"; its replicas are
// the ring's primaries of that name's partition. The device is the volume's single writer
// for one lease generation: every change carries that generation, and every sequence is
// generation<<32 | n with n counting up per chunk, so a newer holder's writes beat an
// older one's at every replica.
//
// # Invariants
//
//   - A write (or zero) goes to every replica of its chunk in parallel and is acknowledged
//     at a write quorum (a majority). A replica that failed it, or had not answered within
//     a short grace after the quorum, is marked behind for that chunk; only a repair makes
//     it current again. Nothing a call started outlives the call.
//   - A read goes only to a replica that is current for the chunk. The first access to a
//     chunk reads the block tables of its replicas (ChunkMeta, a quorum of answers), takes
//     the highest sequence of each block as the truth, and marks behind every replica that
//     lacks a block of it, so a replica that reports a high version while missing an
//     earlier unflushed write is never read.
//   - A replica whose node epoch changed while it held acknowledged, unflushed writes of a
//     chunk (it restarted) is behind for that chunk from the oldest such write.
//   - Repair copies only the blocks a replica lacks: it compares the two tables above the
//     sequence the replica is known to hold, reads those blocks from a current replica
//     (ReadChunkBlocks) and applies them with their own sequences (RepairChunk, FUA). It
//     runs in the background with bounded concurrency and retries with backoff.
//   - Flush syncs every chunk written since the last flush on its current replicas and
//     succeeds only when, for every chunk, a write quorum of replicas that hold every
//     acknowledged write synced under the epoch that acknowledged them.
//   - A refusal for fencing (another holder attached with a newer generation) fences the
//     device: that call and every later call fail with ErrFenced.
//   - Freeze fixes a snapshot's point in time: every change holds the read side of a
//     barrier for its whole length, and Freeze takes the write side while it flushes and
//     records each candidate chunk's version, so the snapshot holds exactly the changes
//     acknowledged before it. Until a frozen chunk is copied to the Sink, the first change
//     to it reads it first (copy-on-write; the upload runs in the background within a
//     memory budget), so what is copied is the chunk at the freeze;
//     a copy finding a version past the recorded one fails the snapshot. Each chunk is
//     copied once. Detach or a fence fails a snapshot in progress; Wait returns only once
//     no copy runs any more.
//   - A clone (Config.Base) reads a chunk no replica holds from its base; the first change
//     to a chunk with base data first writes the whole base chunk to the replicas (FUA),
//     under a per-chunk lock, and then applies the change at a later sequence. A snapshot
//     of a clone gives a BaseSink the chunks only the base holds without reading them.
//
// # Caveats
//
//   - The size may grow (SetSize) while attached: later NBD connections see it, open ones
//     keep the size they negotiated.
//   - The ring is fixed for the device's life: a ring change needs a new Device (a
//     re-attach). Handoffs are not used; a write needs a quorum of primaries.
//   - State is kept for every chunk touched (a few hundred bytes each) until the device is
//     dropped; a freeze that scans every chunk's tables touches them all.
//   - The device does not implement io.Closer on purpose: the NBD server closes an export
//     after each connection, and all connections of an attachment share one Device. Call
//     Detach when the attachment ends.
//   - Requests must be 4 KiB aligned (ExportInfo.MinBlockBytes); NoHole zeroing punches
//     holes anyway, since the replicas allocate on write.
//   - A replica that hangs (rather than refusing connections) costs each change of a chunk
//     it holds PostQuorumGrace, even once it is behind: the change is still sent to it so
//     that it stays close, and no call leaves a request behind. A flush naming a chunk it
//     was current for waits up to CallTimeout for it once. TODO: stop waiting on replicas
//     already behind, with device-owned stragglers, once repair can tell an in-flight
//     write from a missed one.
//   - A read that finds no current replica (every one missed some change) compares the
//     tables again and repairs a replica inline before answering; reads of that chunk
//     wait for it.
//   - A freeze holds changes back for one flush. A device that did not freeze the parent
//     reads every chunk's tables before freezing. A change to a chunk waiting for its copy
//     waits for one chunk read (and one Sink.PutChunk past 64 MiB of chunks in
//     memory). Detach waits for the copies in progress to return (the Sink bounds them). A clone keeps its last 8 base chunks in
//     memory.
//   - Every series carries a volume label. A daemon makes one Metrics on its registry and
//     gives it to each device (Config.Metrics), then calls Forget when the device is
//     detached, so its series are those of the volumes it serves. A device without
//     Config.Metrics registers a set of its own on New's Registerer: one device per registry.
package chunkdev
