// Package proxy is the data path of Stratus: it places object reads and writes on storage
// nodes by the ring, in the manner of Swift's proxy server.
//
// A write gets a hybrid-logical-clock timestamp and streams to the partition's primary
// devices in parallel, hashing as it goes (MD5 for the S3 ETag; the storage client adds a
// CRC-32C per node). It succeeds at a write quorum, a majority of the replicas. A target
// that cannot be reached before the first bytes are sent is replaced by the next handoff
// device, so writes succeed while any quorum of devices is up.
//
// Each replica's stream is fed by its own goroutine from a small ring of chunk buffers
// (fanout.go), so replicas write at their own pace and the body is read ahead of the
// slowest by up to Config.MaxLagBytes. A replica that falls that far behind (a stopped
// process whose socket buffers are full, a hung disk) holds the write only until a quorum
// is past the chunk it holds plus the post-quorum grace (PostQuorumTimeout, or twice what
// the quorum took), and is then dropped. Bytes already sent to it cannot be sent to a
// handoff in its place, so once the write has answered the proxy copies the stored version
// from a replica that has it to the next handoff device (handoff.go), whose replicator
// delivers it to the primary when that is back: the object is at its full replica count
// meanwhile. The copies run in the background, a few at a time per proxy; one that cannot
// run leaves the object at its quorum until the replicators restore it. The caller's commit (the
// index entry in meta) runs after the quorum; if it fails, or the quorum is not reached,
// the replicas that were written get a tombstone so no orphan is left to resurrect. A
// content check that must pass before anything is stored (an S3 Content-MD5) goes in
// PutRequest.Verify, which runs while the streams are still open: a refusal aborts them,
// and no replica loses the version it holds to a write that was never valid.
//
// Concurrent writes of one name race by timestamp: a replica that already holds a newer
// version refuses an older one. Such a write has lost last-writer-wins, not failed: a
// replica that refused it that way counts toward its quorum, no handoff stands in for it,
// and Put succeeds with PutResult.Superseded (its commit still runs; the index keeps the
// newer version the same way). Only a newer version dated no later than the proxy's wall
// clock counts: one from its future means the clock is slow, and the write fails as below.
// When what a refusing replica holds is a deletion, PutResult.DeletedAfter says so: the
// delete was committed before its tombstones went out, so the caller should not index the
// write, which would bring back what the delete removed.
//
// The clock follows the timestamps nodes report (a conflict's newer version, versions read,
// deletions), so a proxy whose clock is slow catches up after one lost write; nodes refuse
// writes dated too far ahead of their clocks, which Put reports as ErrClockSkew.
//
// A read asks for the exact version the index names, from the first healthy replica,
// falling back through the other primaries and then the handoffs. Nodes that keep failing
// are skipped for a while (error limiting).
//
// Memory per request is constant, whatever the object size: ChunkBytes + MaxLagBytes of
// chunk buffers (2 MiB with the defaults), plus one copy buffer per background handoff copy.
//
// Erasure-coded storage policies (PutEC, GetEC, on rings given by SetPolicyRing) store an
// object as K+M fragment archives in the format of package ec, fragment i on the i-th
// device of the partition in the policy's ring, addressed to the node's tree for that ring
// (client.Target.Ring). A write streams segment by segment and succeeds once K+1 archives
// are stored and losing any one device leaves K; a fragment whose node is down goes to a
// handoff device under client.ECHandoffName (echandoff.go, ecstream.go). A read asks K+1
// nodes at once, decodes each segment from the first K intact fragments, asks the others
// when too few remain, looks for a fragment its primary lacks where writes hand them off,
// and for a range fetches only the segments it spans. See docs/policies.md.
//
// Metrics (metrics.go, on Config.Registerer) count every request to a storage node by
// operation and outcome (stratus_proxy_replica_requests_total{op,result}) with its
// duration, handoffs used, operations short of their quorum, nodes skipped by error
// limiting and writes refused for clock skew. Labels never name a node, bucket or key.
//
// The proxy imports the ring and the storage node's client only; the index it commits to
// is reached through the caller's commit function.
package proxy
