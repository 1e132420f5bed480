package nbd

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Reads longer than readPieces pieces are streamed (with structured replies): read from
// the export and sent a piece at a time, with at most readPieces pieces held at once, so
// a 32 MiB read holds 8 MiB and its first bytes leave before its last are read. The
// piece is large enough that the export sees big reads (a volume's chunk is 4 MiB).
const (
	readPieceBytes = 4 << 20
	readPieces     = 2
)

// maxDescriptors caps the extents in one block status reply; the protocol lets a server
// describe less than was asked, and clients ask again from where the reply ended.
const maxDescriptors = 4096

// errBadExtents is returned when a SparseReader's extents do not cover the read exactly.
var errBadExtents = errors.New("nbd: export returned extents that do not cover the read")

// job is one request from the moment its header is read until its reply is sent. Jobs are
// pooled; a job belongs to one goroutine at a time (reader, handler, writer, in turn).
type job struct {
	request
	start time.Time
	errno errno
	msg   string  // for the client with an error, if structured replies allow one
	buf   *buffer // WRITE payload or READ data
	cost  int64   // payload bytes held against the connection's budget

	segs  []segment    // READ with structured replies: data and holes, if any hole
	descs []descriptor // BLOCK_STATUS: the reply's extents

	streamed bool          // READ sent as pieces (see streamRead); this job ends the reply
	piece    chan struct{} // set on a piece of a streamed read: receive once it is sent
}

// segment is a run of a read reply: data from the buffer, or a hole.
type segment struct {
	off  uint64 // absolute offset in the export
	n    uint32
	hole bool
}

// descriptor is one extent of a block status reply.
type descriptor struct {
	length uint32
	flags  uint32
}

var jobPool = sync.Pool{New: func() any { return new(job) }}

func getJob() *job { return jobPool.Get().(*job) }

func putJob(j *job) {
	*j = job{segs: j.segs[:0], descs: j.descs[:0]}
	jobPool.Put(j)
}

// caps are an export's abilities as served on a connection: an interface is nil if the
// export lacks it or, for the write side, is served read-only.
type caps struct {
	writer   Writer
	flusher  Flusher
	trimmer  Trimmer
	zeroer   Zeroer
	statuser BlockStatuser
	sparse   SparseReader
	cacher   Cacher
}

func capsOf(exp Export, info ExportInfo) caps {
	var k caps
	if w, ok := exp.(Writer); ok && !info.ReadOnly {
		k.writer = w
		k.trimmer, _ = exp.(Trimmer)
		k.zeroer, _ = exp.(Zeroer)
	}
	k.flusher, _ = exp.(Flusher)
	k.statuser, _ = exp.(BlockStatuser)
	k.sparse, _ = exp.(SparseReader)
	k.cacher, _ = exp.(Cacher)
	return k
}

// flags returns the transmission flags advertising k.
func (k caps) flags(info ExportInfo, structured bool) uint16 {
	f := tflagHasFlags | tflagSendCache
	if k.writer == nil {
		f |= tflagReadOnly
	} else {
		// Zeroing works on every writable export (by writing zeroes if need be); fast
		// zeroing is advertised too, and fails at once where it would not be fast.
		f |= tflagSendFUA | tflagSendWriteZeroes | tflagSendFastZero
		if k.trimmer != nil {
			f |= tflagSendTrim
		}
	}
	if k.flusher != nil {
		f |= tflagSendFlush
	}
	if structured {
		f |= tflagSendDF
	}
	if info.MultiConn {
		f |= tflagCanMultiConn
	}
	return f
}

// handle runs one request against the export and queues its reply.
func (c *conn) handle(j *job) {
	defer c.handlers.Done()
	m := c.s.m
	m.inflight.Inc()
	ctx := c.requestCtx()
	k := &c.caps
	fua := j.flags&cmdFlagFUA != 0
	var err error
	switch j.typ {
	case cmdRead:
		if j.streamed {
			err = c.streamRead(ctx, j)
		} else {
			err = c.read(ctx, j)
		}
	case cmdWrite:
		if j.length > 0 {
			err = k.writer.WriteAt(ctx, j.buf.b, j.offset, fua)
		}
	case cmdFlush:
		err = k.flusher.Flush(ctx)
	case cmdTrim:
		if j.length > 0 {
			err = k.trimmer.Trim(ctx, j.offset, uint64(j.length), fua)
		}
	case cmdWriteZeroes:
		if j.length > 0 {
			err = c.zero(ctx, j)
		}
	case cmdCache:
		if k.cacher != nil && j.length > 0 {
			err = k.cacher.Cache(ctx, j.offset, uint64(j.length))
		}
	case cmdBlockStatus:
		err = c.blockStatusOf(ctx, j)
	}
	m.inflight.Dec()
	if err != nil {
		j.errno = errnoOf(err)
		if j.errno == errnoIO {
			c.noteIOError(j, err)
		} else {
			c.log.Debug("nbd request failed", "op", cmdName(j.typ), "offset", j.offset, "length", j.length,
				"result", j.errno.String(), "err", err)
		}
	}
	c.queue(j)
}

// read fills the job's buffer, and with structured replies notes the holes to send as
// such.
func (c *conn) read(ctx context.Context, j *job) error {
	if j.length == 0 {
		return nil
	}
	j.buf = getBuffer(int(j.length))
	p := j.buf.b
	if c.caps.sparse == nil {
		return c.exp.ReadAt(ctx, p, j.offset)
	}
	exts, err := c.caps.sparse.ReadSparse(ctx, p, j.offset)
	if err != nil {
		return err
	}
	// Holes go out as holes only with structured replies and when the client did not ask
	// for one content chunk (DF); otherwise they are zeroed in the buffer.
	asHoles := c.structured && j.flags&cmdFlagDF == 0
	segs := j.segs[:0]
	var pos uint64
	for _, e := range exts {
		if e.Length == 0 {
			continue
		}
		if e.Length > uint64(len(p))-pos {
			return errBadExtents
		}
		hole := e.Flags&ExtentZero != 0
		if hole && !asHoles {
			clear(p[pos : pos+e.Length])
			hole = false
		}
		if n := len(segs); n > 0 && segs[n-1].hole == hole {
			segs[n-1].n += uint32(e.Length)
		} else {
			segs = append(segs, segment{off: j.offset + pos, n: uint32(e.Length), hole: hole})
		}
		pos += e.Length
	}
	if pos != uint64(len(p)) {
		return errBadExtents
	}
	if len(segs) == 1 && !segs[0].hole {
		segs = segs[:0] // all data: the plain reply
	}
	j.segs = segs
	return nil
}

// streams reports whether a read is sent in pieces: only structured replies can send a
// read in several chunks and still report an error after some were sent.
func (c *conn) streams(r request) bool {
	return c.structured && r.flags&cmdFlagDF == 0 && r.length > readPieces*readPieceBytes
}

// streamRead reads j's range a piece at a time and queues each piece to the writer as it
// is read; j itself then ends the reply (with NBD_REPLY_TYPE_NONE, or an error chunk).
// A piece waits for one of readPieces tokens, which the writer returns once the piece
// before it is sent, so reading the next piece overlaps sending the last.
func (c *conn) streamRead(ctx context.Context, j *job) error {
	tokens := make(chan struct{}, readPieces)
	for pos := uint32(0); pos < j.length; {
		n := min(readPieceBytes, j.length-pos)
		select {
		case tokens <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		p := getJob()
		p.request = j.request
		p.offset, p.length = j.offset+uint64(pos), n
		p.piece = tokens
		if err := c.read(ctx, p); err != nil {
			putBuffer(p.buf)
			putJob(p)
			<-tokens
			return err
		}
		c.replies <- p
		pos += n
	}
	return nil
}

// zero makes the job's range read as zeroes, by the export's Zeroer or by writing zeroes.
func (c *conn) zero(ctx context.Context, j *job) error {
	flags := ZeroFlags{
		NoHole: j.flags&cmdFlagNoHole != 0,
		FUA:    j.flags&cmdFlagFUA != 0,
		Fast:   j.flags&cmdFlagFastZero != 0,
	}
	if c.caps.zeroer != nil {
		return c.caps.zeroer.Zero(ctx, j.offset, uint64(j.length), flags)
	}
	if flags.Fast {
		return ErrNotFast
	}
	for done := uint64(0); done < uint64(j.length); {
		n := min(uint64(j.length)-done, uint64(len(zeroes)))
		if err := c.caps.writer.WriteAt(ctx, zeroes[:n], j.offset+done, flags.FUA); err != nil {
			return err
		}
		done += n
	}
	return nil
}

// blockStatusOf fills the job's descriptors for base:allocation.
func (c *conn) blockStatusOf(ctx context.Context, j *job) error {
	want := uint64(j.length)
	descs := j.descs[:0]
	if c.caps.statuser != nil {
		exts, err := c.caps.statuser.BlockStatus(ctx, j.offset, want)
		if err != nil {
			return err
		}
		reqOne := j.flags&cmdFlagReqOne != 0
		var pos uint64
		for _, e := range exts {
			if e.Length == 0 {
				continue
			}
			n := min(e.Length, want-pos) // fits 32 bits: want does
			flags := uint32(e.Flags & (ExtentHole | ExtentZero))
			if k := len(descs); k > 0 && descs[k-1].flags == flags {
				descs[k-1].length += uint32(n)
			} else {
				if k == maxDescriptors || reqOne && k == 1 {
					break
				}
				descs = append(descs, descriptor{length: uint32(n), flags: flags})
			}
			if pos += n; pos == want {
				break
			}
		}
	}
	if len(descs) == 0 {
		// Nothing known: allocated, contents unknown, which is always true.
		descs = append(descs, descriptor{length: uint32(want)})
	}
	j.descs = descs
	return nil
}
