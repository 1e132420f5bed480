// Package client is the wire protocol of the meta catalog and the only way other parts of
// Stratus talk to it over the network.
//
// The protocol is HTTP on the meta node's single listener (the same port also carries
// Raft traffic, told apart by the first byte of each connection). Request and response types,
// paths and error codes are defined here once; the server in package meta imports them.
// Bodies are JSON, except that writes, gets and list pages travel in a binary form
// ([EncodeBinary], [ContentTypeBinary]) when both sides speak it: values go as raw bytes,
// not base64. The client falls back to JSON for a minute when a node from before the binary
// form refuses a body. Object index entries may be stored in a binary form too
// ([Config.BinaryEntries]); every client reads both.
//
// The catalog is a set of named tables (see [Tables]) of string keys and opaque values. Each
// stored value carries the Raft index that last modified it (ModIndex) and an optional
// caller-supplied ordering stamp (Version, e.g. a hybrid logical clock timestamp) used for
// last-writer-wins updates. Typed helpers (accounts, buckets, the object index, rings, nodes)
// sit on top of the generic table operations. A list can roll keys up at a delimiter, as S3
// listings do, with the server seeking past each common prefix ([Client.ListDelimited]).
//
// Guarantees: every call has a deadline derived from its context and [Config.CallTimeout];
// calls are retried on leader change and transport errors until [Config.RetryTimeout] or the
// context ends. Writes carry a request ID that the catalog deduplicates, so a retried write is
// applied at most once. Reads are linearizable unless [Stale] is passed. A write is a list
// of ops applied atomically under conditions; a check op ([OpCheck]) writes nothing and
// only conditions the request, and an op may ask for the record it replaced
// ([Op.ReturnPrev]). [Client.Calls] counts the calls a client made.
//
// A Client is safe for concurrent use.
package client
