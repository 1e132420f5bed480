// Package nbd is a Network Block Device server: it serves Exports (block devices defined
// by the caller) to NBD clients such as QEMU, qemu-img, nbdcopy and nbdinfo, following
// the NBD project's protocol specification (doc/proto.md). It speaks the protocol only;
// what an export's bytes are (a volume's chunks on the ring, a file, memory) is behind the
// Export interface.
//
// # Protocol subset
//
// Negotiation is fixed newstyle only: a client that does not set NBD_FLAG_C_FIXED_NEWSTYLE,
// or sets a client flag the server does not know, is disconnected after the greeting, and
// an oldstyle client never gets the greeting it expects. Options:
//
//   - NBD_OPT_EXPORT_NAME, NBD_OPT_GO and NBD_OPT_INFO, with NBD_INFO_EXPORT,
//     NBD_INFO_NAME, NBD_INFO_DESCRIPTION and NBD_INFO_BLOCK_SIZE (minimum and preferred
//     from ExportInfo, maximum Config.MaxBlockBytes; always sent). An unknown export is
//     NBD_REP_ERR_UNKNOWN (GO, INFO) or a disconnect (EXPORT_NAME, which cannot fail).
//   - NBD_OPT_LIST, NBD_OPT_ABORT, NBD_OPT_STRUCTURED_REPLY.
//   - NBD_OPT_LIST_META_CONTEXT and NBD_OPT_SET_META_CONTEXT with the one context
//     base:allocation (ID 1); queries in other namespaces select nothing.
//   - NBD_OPT_STARTTLS and everything else get NBD_REP_ERR_UNSUP: exports are served on
//     loopback or unix sockets only, so the server runs in the protocol's NOTLS mode.
//     Extended headers (64-bit lengths) are not offered.
//
// An option longer than 64 KiB, a bad magic number, or more than 1024 options on one
// connection close it without a reply, before anything is allocated for the option.
//
// Transmission: READ, WRITE, FLUSH, TRIM, WRITE_ZEROES, CACHE, BLOCK_STATUS and DISC, with
// the flags FUA (on any command once advertised), NO_HOLE and FAST_ZERO (WRITE_ZEROES), DF
// (READ) and REQ_ONE (BLOCK_STATUS). Replies are simple, or with NBD_OPT_STRUCTURED_REPLY
// structured:
//
//   - a read is one OFFSET_DATA chunk, or OFFSET_DATA and OFFSET_HOLE chunks when the export
//     is a SparseReader and reports zero ranges (with DF: one OFFSET_DATA chunk, zeroes
//     filled in); a read longer than 8 MiB goes out in 4 MiB pieces as it is read, ended
//     by a NONE chunk, or an ERROR chunk if a piece fails;
//   - block status is one BLOCK_STATUS chunk (at most 4096 extents);
//   - errors are ERROR chunks with a message;
//   - other successes use the simple reply, which the protocol allows.
//
// The transmission flags follow the export's abilities: READ_ONLY (no Writer, or
// ExportInfo.ReadOnly), SEND_FLUSH (Flusher), SEND_FUA, SEND_WRITE_ZEROES and
// SEND_FAST_ZERO (writable), SEND_TRIM (Trimmer), SEND_CACHE, SEND_DF (structured
// replies), CAN_MULTI_CONN (ExportInfo.MultiConn).
//
// Errors follow the protocol's advice: a READ or CACHE past the end, or a READ or WRITE
// longer than MaxBlockBytes, is EINVAL; a WRITE or WRITE_ZEROES past the end is ENOSPC; a
// write of any kind to a read-only export is EPERM; a request not aligned to the export's
// minimum block size, an unknown command or a flag not valid for the command is EINVAL;
// a fast zero the export cannot do fast is ENOTSUP. The connection stays usable after all
// of these. A WRITE that fails its checks still has its payload read and dropped, unless
// the payload exceeds both MaxBlockBytes and 32 MiB (the size below which the protocol
// says a payload is never a denial of service): then the stream cannot be resynchronised
// cheaply and the connection is closed. TRIM, WRITE_ZEROES, CACHE and BLOCK_STATUS carry
// no payload and are not limited to MaxBlockBytes. Export errors map to the protocol's
// errors in errors.go (errnoOf); anything unmapped is EIO.
//
// # Concurrency
//
// Each connection has a reader (the connection's goroutine), a goroutine per request in
// flight, and a writer. The reader parses a request, reads a WRITE's payload straight into
// a pooled buffer sized to it, and starts the request; it stops reading while
// Config.MaxInFlight requests are in flight or their payloads (writes received, reads to
// send) reach Config.MaxInFlightBytes, which bounds a connection's memory. Requests run
// concurrently against the Export and finish in any order; the writer sends each reply as
// it finishes (replies are out of order, matched by handle), and writes read data straight
// from the request's buffer. It flushes only when no other reply is queued, after yielding
// once to requests about to finish, so replies finishing together share a system call
// (this more than doubles small-read throughput at queue depth 32, and costs nothing
// measurable at depth 1).
//
// The server gives no ordering between overlapping requests in flight, as the protocol
// allows: clients do not send them, and an Export that must order them does so itself.
// A FLUSH is passed to the Export when it is read; the writes it must cover have already
// been answered, so they have returned from the Export.
//
// # Shutdown
//
// When Serve's ctx ends it stops accepting; connections still negotiating are closed;
// connections in transmission stop reading requests, finish the requests in flight and
// send their replies, then close. Requests still running after Config.ShutdownTimeout
// have their contexts cancelled (the client gets ESHUTDOWN, or the connection closes under
// them). Every Export call also has a deadline of Config.RequestTimeout (later by up to
// RequestTimeout/32, at most a second: requests starting close together share one
// deadline, which saves a timer per request).
//
// # Caveats
//
//   - A write is handed to the Export whole, so a 32 MiB write holds 32 MiB until it is
//     done (within MaxInFlightBytes). Reads longer than 8 MiB with structured replies are
//     streamed in 4 MiB pieces, two at a time; shorter reads, and reads with simple replies
//     (which cannot report an error once data is sent), are served from one buffer.
//   - A request whose payload was being read when the server drained is dropped with the
//     connection; the client retries it elsewhere, as after any disconnect.
//   - Each connection's Export calls run on their own goroutines; an Export that ignores
//     its ctx can hold a connection (and Serve's return) past ShutdownTimeout.
//   - Options are answered in the order received and negotiation state is per connection:
//     a later NBD_OPT_SET_META_CONTEXT replaces an earlier one, and block status is
//     available only if the last one named the export the client then enters.
package nbd
