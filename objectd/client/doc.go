// Package client is the wire protocol of objectd, the storage-node daemon, and the client for
// it. The request and response types, URL paths, header names, error codes and the record
// format (which is also the on-disk format of object files) are defined here and nowhere else;
// the server imports them. Proxy, volumed and objectd's own replicator all talk to storage
// nodes through this package.
//
// # Addressing
//
// Every object call names a Target: the node's "ip:port", one of its devices, and the ring
// partition the object belongs to. The storage node does not consult the ring on the data
// path; the caller has already placed the object.
//
// # Ordering
//
// Every write carries a timestamp (package internal/hlc). A node keeps only the newest
// version of a name and refuses a PUT or DELETE that is not newer than what it holds
// (ErrConflict, with the newer timestamp in the error). That is last-writer-wins, and it makes
// retries and replication idempotent. A write dated further ahead of the node's clock than it
// allows is refused (ErrFutureTimestamp), so no clock or forged timestamp can win for ever.
//
// # Chunks
//
// Volume chunks (chunks.go) are addressed like objects but written in place, in
// ChunkBlockSize blocks, under a fence generation and per-block sequences; WriteChunk,
// ReadChunk, ZeroChunk, ChunkMeta, ReadChunkBlocks, RepairChunk, DeleteChunk and
// FlushChunks are their calls, ErrFenced, ErrTorn and ErrMisaligned their own errors.
//
// # Callers
//
// Production nodes speak only mutual TLS: set Config.TLS to the caller's
// pki.Identity.ClientTLS(pki.RoleObjectd). A node refuses a caller without a valid cluster
// certificate (ErrUnauthenticated, 401) or whose role may not make the call (ErrForbidden,
// 403); the client reports a node whose own certificate fails its checks the same way.
//
// # Integrity
//
// Object content is protected by a CRC-32C (Castagnoli) checksum, chosen over SHA-256 because
// it runs at memory speed (about 15x faster here) and the threat it guards against is disk and
// transfer corruption, not an adversary. A PUT carries the checksum the sender computed, as a
// header when known up front or as an HTTP trailer computed while streaming; the node refuses
// a body that does not match. A full GET is checked again by this client as it is read.
package client
