package nbd

import (
	"encoding/binary"
	"runtime"
)

// baseAllocationID is the metadata context ID of base:allocation on every connection.
const baseAllocationID = 1

// writeLoop sends replies in the order requests finish. It flushes the stream only when
// no other reply is waiting, so replies that finish together share a system call. After a
// write error it closes the connection (the reader then stops) and only releases what
// the remaining replies hold.
func (c *conn) writeLoop() {
	for j := range c.replies {
		if c.werr == nil {
			c.werr = c.writeReply(j)
			if c.werr == nil && len(c.replies) == 0 {
				// Let requests that are about to finish queue their replies first, so one
				// system call sends them all.
				runtime.Gosched()
				if len(c.replies) == 0 {
					c.werr = c.bw.Flush()
				}
			}
			if c.werr != nil {
				c.nc.Close()
			}
		}
		c.release(j)
	}
}

// writeReply encodes one request's reply: a simple reply unless structured replies were
// negotiated, in which case reads and block status (which have payloads) and errors (which
// carry a message) use structured chunks.
func (c *conn) writeReply(j *job) error {
	if j.piece != nil {
		return c.readChunks(j)
	}
	if !c.structured {
		c.simpleReply(j.handle, j.errno)
		if j.typ == cmdRead && j.errno == errnoOK && j.length > 0 {
			_, err := c.bw.Write(j.buf.b)
			return err
		}
		return nil
	}
	if j.errno != errnoOK {
		b := c.chunkHeader(replyFlagDone, replyError, j.handle, uint32(4+2+len(j.msg)))
		b = binary.BigEndian.AppendUint32(b, uint32(j.errno))
		b = binary.BigEndian.AppendUint16(b, uint16(len(j.msg)))
		c.bw.Write(b)
		_, err := c.bw.WriteString(j.msg)
		return err
	}
	switch j.typ {
	case cmdRead:
		if j.streamed {
			// The pieces went before: this ends the reply.
			_, err := c.bw.Write(c.chunkHeader(replyFlagDone, replyNone, j.handle, 0))
			return err
		}
		return c.readChunks(j)
	case cmdBlockStatus:
		b := c.chunkHeader(replyFlagDone, replyBlockStatus, j.handle, uint32(4+8*len(j.descs)))
		b = binary.BigEndian.AppendUint32(b, baseAllocationID)
		if _, err := c.bw.Write(b); err != nil {
			return err
		}
		for _, d := range j.descs {
			b = binary.BigEndian.AppendUint32(c.scratch[:0], d.length)
			b = binary.BigEndian.AppendUint32(b, d.flags)
			if _, err := c.bw.Write(b); err != nil {
				return err
			}
		}
		return nil
	}
	// Success without payload: the simple reply is allowed and shorter.
	c.simpleReply(j.handle, errnoOK)
	return nil
}

// readChunks sends a successful read (or a piece of a streamed one) as content chunks:
// one data chunk, or data and hole chunks in offset order. The last chunk of a whole read
// carries the done flag: the data is all in the buffer already, so no error can follow.
func (c *conn) readChunks(j *job) error {
	var done uint16
	if j.piece == nil {
		done = replyFlagDone
	}
	if j.length == 0 {
		_, err := c.bw.Write(c.chunkHeader(replyFlagDone, replyNone, j.handle, 0))
		return err
	}
	if len(j.segs) == 0 {
		return c.dataChunk(done, j.handle, j.offset, j.buf.b)
	}
	for i, s := range j.segs {
		var flags uint16
		if i == len(j.segs)-1 {
			flags = done
		}
		if s.hole {
			b := c.chunkHeader(flags, replyOffsetHole, j.handle, 8+4)
			b = binary.BigEndian.AppendUint64(b, s.off)
			b = binary.BigEndian.AppendUint32(b, s.n)
			if _, err := c.bw.Write(b); err != nil {
				return err
			}
			continue
		}
		start := s.off - j.offset
		if err := c.dataChunk(flags, j.handle, s.off, j.buf.b[start:start+uint64(s.n)]); err != nil {
			return err
		}
	}
	return nil
}

func (c *conn) dataChunk(flags uint16, handle, off uint64, data []byte) error {
	b := c.chunkHeader(flags, replyOffsetData, handle, uint32(8+len(data)))
	b = binary.BigEndian.AppendUint64(b, off)
	if _, err := c.bw.Write(b); err != nil {
		return err
	}
	_, err := c.bw.Write(data)
	return err
}

// simpleReply buffers a simple reply header.
func (c *conn) simpleReply(handle uint64, e errno) {
	b := binary.BigEndian.AppendUint32(c.scratch[:0], magicSimpleReply)
	b = binary.BigEndian.AppendUint32(b, uint32(e))
	b = binary.BigEndian.AppendUint64(b, handle)
	c.bw.Write(b) // a bufio.Writer's error is sticky: the next Write or Flush returns it
}

// chunkHeader returns a structured reply chunk header in the scratch buffer; the caller
// appends the payload's fixed fields.
func (c *conn) chunkHeader(flags, typ uint16, handle uint64, length uint32) []byte {
	b := binary.BigEndian.AppendUint32(c.scratch[:0], magicStructuredReply)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint64(b, handle)
	return binary.BigEndian.AppendUint32(b, length)
}
