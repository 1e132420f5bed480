// Package ec is the erasure-coded object format: how an object becomes K+M fragment
// archives with a Reed-Solomon code (github.com/klauspost/reedsolomon), and how any K of
// them become the object again.
//
// The object is cut into segments of a fixed size (the last one shorter). Each segment is
// split into K data fragments of ceil(len/K) bytes (the last zero-padded) and M parity
// fragments of the same size. Fragment archive i is a 32-byte header naming the layout (K,
// M, segment size, object size) and i, then, per segment, fragment i followed by its
// CRC-32C. The checksum is keyed by the segment number and the fragment index, so a block
// read from the wrong place fails it just as a flipped bit does. Every block but the last
// has the same size, so a byte range of the object maps to a byte range of every archive
// ([Layout.Plan], [Layout.ArchiveRange]) without an index.
//
// [Encoder] is an io.Writer that holds one segment and its fragments, whatever the object's
// size, and writes each segment's blocks to the K+M outputs in parallel; an output that
// fails is dropped while enough remain. [Reader] decodes from any K archives: one goroutine
// per source reads ahead a few blocks, each segment is decoded from the first K intact
// fragments to arrive (so giving K+1 sources hides a slow one), a fragment that fails its
// checksum is excluded for that segment and reported ([Reader.Issues]), and a [MoreFunc]
// is asked for another archive when too few remain.
//
// Like ring, the package is a pure library: it does no network or disk I/O of its own
// (callers pass readers and writers), logs nothing and imports nothing of Stratus, so that
// the proxy (encode on PUT, decode on GET) and objectd (the reconstructor) share it.
package ec
