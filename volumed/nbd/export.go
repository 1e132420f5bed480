package nbd

import "context"

// Export is a block device the server serves: a range of Size bytes that can be read. Its
// other abilities are the optional interfaces below (Writer, Flusher, Trimmer, Zeroer,
// BlockStatuser, SparseReader, Cacher), which the server type-asserts once per connection
// and advertises to the client in the transmission flags.
//
// The server calls an Export's methods concurrently, from as many goroutines as a
// connection has requests in flight (Config.MaxInFlight) and from every connection to the
// same export; the Export orders overlapping requests itself, if it needs to. Every
// offset and length passed in lies within [0, Size()) and is aligned to the export's
// ExportInfo.MinBlockBytes. Each ctx carries Config.RequestTimeout and is cancelled when
// the server gives up on the request; a method should return soon after.
type Export interface {
	// Size returns the export's size in bytes. It is read once per connection, when the
	// client enters transmission.
	Size() uint64
	// ReadAt fills p with the bytes at off. p is the server's buffer: it is only valid
	// during the call and must not be retained.
	ReadAt(ctx context.Context, p []byte, off uint64) error
}

// Writer is an Export that can be written. An Export without it, or whose ExportInfo says
// ReadOnly, is served read-only.
type Writer interface {
	// WriteAt writes p at off. With fua (force unit access) it returns only once the bytes
	// are on stable storage. It must not modify or retain p.
	WriteAt(ctx context.Context, p []byte, off uint64, fua bool) error
}

// Flusher is an Export with a volatile cache. Flush returns once every write that has
// completed (on any connection to the export, when ExportInfo.MultiConn is set) is on
// stable storage.
type Flusher interface {
	Flush(ctx context.Context) error
}

// Trimmer is an Export that can deallocate a range. Trim is a hint: the range may read
// back as anything until it is written again, and ignoring the call is correct. With fua
// the effect is on stable storage before it returns.
type Trimmer interface {
	Trim(ctx context.Context, off, length uint64, fua bool) error
}

// ZeroFlags qualify a Zero call.
type ZeroFlags struct {
	// NoHole asks that the range stay allocated, so later writes to it cannot fail for
	// want of space.
	NoHole bool
	// FUA asks that the zeroes be on stable storage before Zero returns.
	FUA bool
	// Fast asks Zero to fail with ErrNotFast, without changing anything, unless it can zero
	// the range faster than writing zeroes would.
	Fast bool
}

// Zeroer is an Export that can make a range read as zeroes without being sent them. An
// Export that can be written but lacks Zeroer is zeroed by writing zeroes, and fast zero
// requests to it fail with ErrNotFast.
type Zeroer interface {
	Zero(ctx context.Context, off, length uint64, flags ZeroFlags) error
}

// ExtentFlags describe an extent in the base:allocation metadata context. The values are
// the protocol's: never renumber.
type ExtentFlags uint32

const (
	// ExtentHole marks a range that is not allocated: writing it may need space.
	ExtentHole ExtentFlags = 1 << 0
	// ExtentZero marks a range that reads as zeroes.
	ExtentZero ExtentFlags = 1 << 1
)

// Extent is a run of bytes with the same allocation status. A list of extents describes
// consecutive ranges starting at the offset asked about.
type Extent struct {
	Length uint64
	Flags  ExtentFlags
}

// BlockStatuser is an Export that knows which of its ranges are holes or zeroes. Without
// it, every range is reported allocated (status 0), which is always correct.
type BlockStatuser interface {
	// BlockStatus describes [off, off+length) as consecutive extents starting at off. It may
	// describe less than length (at least one nonzero extent) or more: the server trims the
	// answer to the request and to its own limit on extents per reply.
	BlockStatus(ctx context.Context, off, length uint64) ([]Extent, error)
}

// SparseReader is an Export that can leave out the zero ranges of a read, so the server
// sends them as holes (NBD_REPLY_TYPE_OFFSET_HOLE) instead of bytes.
type SparseReader interface {
	// ReadSparse is ReadAt that returns extents covering exactly [off, off+len(p)). Ranges
	// flagged ExtentZero read as zeroes and are not filled in p (their bytes in p are
	// unspecified); the others are filled as by ReadAt.
	ReadSparse(ctx context.Context, p []byte, off uint64) ([]Extent, error)
}

// Cacher is an Export that can prefetch a range the client says it will read soon. Without
// it, cache requests succeed and do nothing.
type Cacher interface {
	Cache(ctx context.Context, off, length uint64) error
}

// ExportInfo is what Exports says about an export besides its data.
type ExportInfo struct {
	// Name is the export's canonical name, sent in NBD_OPT_LIST and NBD_INFO_NAME. Empty
	// means the name the client asked for.
	Name string
	// Description is a human-readable line about the export; may be empty.
	Description string
	// ReadOnly serves the export read-only even if it implements Writer.
	ReadOnly bool
	// MultiConn advertises NBD_FLAG_CAN_MULTI_CONN: a Flush or a FUA write on one
	// connection covers, and is visible to, every connection to this export. Set it only
	// if the export shares one cache (or none) among its connections; clients then spread
	// their requests over several connections.
	MultiConn bool
	// MinBlockBytes is the alignment, in bytes, of every offset and length the client
	// sends: a power of two up to 64 KiB. The server refuses unaligned requests with EINVAL.
	// Zero means 1 (any alignment).
	MinBlockBytes uint32
	// PreferredBlockBytes is the request size and alignment that avoids read-modify-write
	// in the export: a power of two, at least 512 and MinBlockBytes. Zero means 4096.
	PreferredBlockBytes uint32
}

// Exports is the set of exports a server offers, looked up by name for each client.
type Exports interface {
	// Lookup returns the export called name ("" is the default export) and its info. It
	// returns an error wrapping ErrUnknownExport if there is none, or ErrRefused if the
	// client may not have it. If the returned Export implements io.Closer, the server
	// calls Close once it is done with it: after answering NBD_OPT_INFO, or after the
	// connection that used it ends. Lookup is called concurrently.
	Lookup(ctx context.Context, name string) (Export, ExportInfo, error)
	// List returns the exports to show a client that asks (NBD_OPT_LIST). It may leave some
	// out, or return ErrRefused to refuse the listing.
	List(ctx context.Context) ([]ExportInfo, error)
}
