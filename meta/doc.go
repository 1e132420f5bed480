// Package meta is the cluster's catalog: a replicated state machine on hashicorp/raft holding
// the cluster config, ring versions, nodes, accounts and access keys, buckets, the object
// index and (as later parts add tables) volumes, images and instances. Object bytes never pass
// through it.
//
// A node ([Server]) serves Raft and the meta protocol (HTTP with JSON bodies, and a binary
// form for writes, gets and list pages; defined in package meta/client) on one listener. The Raft log and stable store are raft-boltdb/v2; the state
// machine is a bbolt database with one bucket per table (see client.Tables) whose records carry
// the Raft index of their last write and a caller-supplied version stamp.
//
// Writes: any node accepts them and forwards them to the leader. The leader's batcher packs
// all requests queued while earlier batches are in flight into one log entry, so many
// concurrent writers share one Raft round trip. Each request carries an ID that the state
// machine remembers for Config.DedupWindow, so a retry after a leader change is applied at most
// once. The ops of one request are applied atomically; conditions (absent, exists, mod
// index, an empty key range, last-writer-wins by version) are checked by the state machine,
// so they are exact. A check op writes nothing and only carries a condition; an op may ask
// for the record it replaced, returned in its result.
//
// Reads are linearizable by default (the read-index method): once per term the leader waits
// for a Raft barrier, so every earlier leader's acknowledged writes are applied, and each read
// confirms leadership with a quorum (raft VerifyLeader) in that term. A stale read is served by
// whichever node receives it.
//
// Snapshots stream a bbolt read transaction (Tx.WriteTo), so they copy millions of keys
// without stopping writes. The state machine's file is rebuilt at each start from the latest
// snapshot and the log, which is why it is written without fsync.
//
// Watches long-poll an in-memory history of recent changes (Config.WatchHistory entries); a
// watcher that falls further behind, or whose node restored a snapshot, is told to resync.
//
// Values of sealed tables (access keys) are encrypted with the cluster key (AES-256-GCM)
// before they enter the log, and are never logged.
//
// Caveats: one Raft group holds everything; the object index is reached through an interface
// keyed by bucket (client.Client.Index) so it can later be split over several groups.
package meta
