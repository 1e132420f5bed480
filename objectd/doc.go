// Package objectd is the storage-node daemon: it owns the bytes on a node's disks and their
// healing, like Swift's object server, replicator and auditor together. It knows nothing of
// S3, buckets or accounts: it stores named objects in ring partitions that the caller picks.
//
// # Storage
//
// Each device is a directory under Config.DevicesDir that holds the marker file written by
// InitDevice (and, with Config.MountCheck, is a mount point); any other device answers 507.
// With Config.MountCheck, Run refuses to start when no device directory is a mount point,
// and /healthz answers 503 while no device is usable.
// Objects live at <device>/objects/<partition>/<suffix>/<name-hash>/<timestamp>.data, deletions
// as <timestamp>.ts tombstones (layout.go). Each file is one record of package client: a
// header with name, length, checksums and metadata, then the content. A write goes to a temp
// file, is verified against the sender's length and checksum, fsynced, renamed into place,
// and the directory fsynced, all before the node answers: an acknowledged write is on disk
// and a failed one leaves nothing visible.
//
// With Config.SmallObjectMax, small versions and tombstones are instead appended to a
// per-device log (<device>/objlog, smallobj_log.go): group-committed with one fdatasync per
// batch, indexed in memory by partition, suffix and name hash, rebuilt from the segments at
// start, and compacted oldest segment first (smallobj_compact.go). Every reader of the layout
// sees a name's files and log entry together, newest wins (smallobj_store.go).
//
// Volume chunks live beside objects at <device>/chunks/<partition>/<name-hash>.chunk
// (chunkfile.go has the format, chunks.go the store): fixed-size files that volumed writes
// in place, block by block. A change carries a generation, refused if older than the
// chunk's fence, and a sequence per block, never lowered. It is acknowledged in the page
// cache and made durable by a flush or FUA; a block whose checksum fails (a write torn by a
// crash) is never served.
//
// # Ordering
//
// Last writer wins by timestamp: a write not newer than the held version is refused with
// client.ErrConflict, and the newer version replaces the older files. Tombstones are kept
// for Config.ReclaimAge and then removed. A version dated more than Config.MaxClockSkew
// ahead of the node's clock is refused (client.ErrFutureTimestamp), whether written or
// pushed, and the replicator does not offer one it already holds: under last writer wins it
// would beat every write until its time.
//
// # Callers
//
// With Config.Identity the node serves mutual TLS and checks the certificate of every
// request (auth.go), including in-process ones that present theirs in r.TLS: objects are
// for proxies and storage nodes, replication (hashes, missing, push) for storage nodes only,
// chunks for volume daemons and storage nodes (never proxies), metrics for any cluster
// certificate, and /healthz for anyone. A refused caller gets 401
// (client.ErrUnauthenticated) or 403 (client.ErrForbidden) with pki's reason, and nothing of
// its request is read.
//
// # Healing
//
// The replicator (ReplicateOnce, or every Config.ReplicationInterval) compares per-suffix
// hashes of each partition with the other primaries and pushes what they lack, and moves
// handoff partitions to their primaries. The auditor (AuditOnce) re-reads everything at a
// bounded rate and quarantines files whose checksums fail, so replication restores them.
// Chunks heal block by block (chunkrepl.go): the replicator compares block table digests
// with the other primaries (chunk-missing) and pushes exactly the blocks a replica holds
// at a lower sequence; deletes leave tombstones (chunktomb.go) so a replica that missed one
// does not bring the chunk back; the auditor repairs a torn block from a peer in place
// (chunkaudit.go) instead of quarantining the chunk.
// The ring comes from Config.RingPath, reloaded when a newer version appears, or SetRing.
// Between passes the node keeps how far behind it is (nodestate.go) and exports it, with each
// device's state and free space, as gauges that `stratus status` and the alerting rules read.
//
// # Concurrency
//
// Everything is safe for concurrent use. A per-name-hash lock orders the publication of
// versions of one name; content streams without it. One replication pass and one audit
// pass run at a time.
//
// # Erasure-coded fragment archives
//
// Objects of other rings than the object ring (client.HeaderRing: erasure-coded policies'
// fragment archives) live in trees of their own, objects-<ring>/, which the replicator and
// the auditor do not walk. The reconstructor (ReconstructOnce, reconstructor.go) heals them:
// it verifies each archive, quarantines a corrupt one, rebuilds a neighbour's missing
// fragment from K others, moves archives kept off their primary (handoffs, a ring change)
// home, and carries and reaps tombstones, with the rings SetPolicyRing gives it.
// These trees never use the small-object log: their versions are always files.
package objectd
