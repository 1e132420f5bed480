package nbd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"strings"
	"time"
)

// Limits on negotiation. The protocol bounds strings at 4096 bytes; an option longer than
// maxOptionBytes is refused by closing the connection, before reading (or allocating) it.
const (
	maxOptionBytes = 64 << 10
	maxOptions     = 1024
)

var (
	// errAbort ends a negotiation the client aborted (NBD_OPT_ABORT).
	errAbort = errors.New("nbd: client aborted negotiation")
	// errNotFixedNewstyle refuses a client that does not speak fixed newstyle.
	errNotFixedNewstyle = errors.New("nbd: client does not support fixed newstyle negotiation")
)

// handshake greets the client and negotiates until it picks an export (the connection
// then enters transmission, c.exp set) or the negotiation ends with an error. shutdown
// ends when the server drains; calls to Exports get it, with HandshakeTimeout.
func (c *conn) handshake(shutdown context.Context) error {
	deadline := time.Now().Add(c.s.cfg.HandshakeTimeout)
	c.nc.SetDeadline(deadline)
	ctx, cancel := context.WithDeadline(shutdown, deadline)
	defer cancel()

	b := binary.BigEndian.AppendUint64(c.scratch[:0], magicNBD)
	b = binary.BigEndian.AppendUint64(b, magicOpt)
	b = binary.BigEndian.AppendUint16(b, flagFixedNewstyle|flagNoZeroes)
	c.bw.Write(b)
	if err := c.bw.Flush(); err != nil {
		return fmt.Errorf("send greeting: %w", err)
	}
	var cf [4]byte
	if _, err := io.ReadFull(c.br, cf[:]); err != nil {
		return fmt.Errorf("read client flags: %w", err)
	}
	flags := binary.BigEndian.Uint32(cf[:])
	if flags&^(clientFixedNewstyle|clientNoZeroes) != 0 {
		return fmt.Errorf("nbd: unknown client flags %#x", flags)
	}
	if flags&clientFixedNewstyle == 0 {
		return errNotFixedNewstyle
	}
	c.noZeroes = flags&clientNoZeroes != 0

	var hdr [optHeaderLen]byte
	for range maxOptions {
		if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
			return fmt.Errorf("read option: %w", err)
		}
		h, err := parseOptionHeader(&hdr)
		if err != nil {
			return err
		}
		if h.length > maxOptionBytes {
			return fmt.Errorf("nbd: option %d of %d bytes exceeds %d", h.option, h.length, maxOptionBytes)
		}
		if cap(c.optBuf) < int(h.length) {
			c.optBuf = make([]byte, h.length)
		}
		data := c.optBuf[:h.length]
		if _, err := io.ReadFull(c.br, data); err != nil {
			return fmt.Errorf("read option %d: %w", h.option, err)
		}
		done, err := c.option(ctx, h.option, data)
		if ferr := c.bw.Flush(); err == nil && ferr != nil {
			err = fmt.Errorf("send option reply: %w", ferr)
		}
		if err != nil || done {
			return err
		}
	}
	return fmt.Errorf("nbd: more than %d options", maxOptions)
}

// option answers one option. It reports done when the client has entered transmission.
// An error ends the connection.
func (c *conn) option(ctx context.Context, opt uint32, data []byte) (done bool, err error) {
	switch opt {
	case optExportName:
		return true, c.optExportName(ctx, data)
	case optAbort:
		c.optReply(opt, repAck)
		return false, errAbort
	case optList:
		if len(data) != 0 {
			c.optError(opt, repErrInvalid, "NBD_OPT_LIST takes no data")
			return false, nil
		}
		c.optList(ctx)
		return false, nil
	case optStartTLS:
		c.optError(opt, repErrUnsup, "TLS is not supported: exports are served on local sockets")
		return false, nil
	case optInfo, optGo:
		return c.optInfo(ctx, opt, data)
	case optStructuredReply:
		if len(data) != 0 {
			c.optError(opt, repErrInvalid, "NBD_OPT_STRUCTURED_REPLY takes no data")
			return false, nil
		}
		c.structured = true
		c.optReply(opt, repAck)
		return false, nil
	case optListMetaContext, optSetMetaContext:
		c.optMetaContext(opt, data)
		return false, nil
	}
	c.optError(opt, repErrUnsup, "option not supported")
	return false, nil
}

// optReply buffers an option reply whose payload is the concatenation of parts.
func (c *conn) optReply(opt, typ uint32, parts ...[]byte) {
	var n int
	for _, p := range parts {
		n += len(p)
	}
	var hdr [optReplyHeaderLen]byte // not c.scratch: parts may be in it
	b := binary.BigEndian.AppendUint64(hdr[:0], magicOptReply)
	b = binary.BigEndian.AppendUint32(b, opt)
	b = binary.BigEndian.AppendUint32(b, typ)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	c.bw.Write(b)
	for _, p := range parts {
		c.bw.Write(p) // a bufio.Writer's error is sticky: the caller's Flush returns it
	}
}

// optError buffers an error reply with a message for the user.
func (c *conn) optError(opt, typ uint32, msg string) {
	c.optReply(opt, typ, []byte(msg))
}

// optExportName enters transmission the old way: there is no error reply, so a refusal
// closes the connection.
func (c *conn) optExportName(ctx context.Context, data []byte) error {
	if len(data) > maxStringLen {
		return fmt.Errorf("nbd: export name of %d bytes", len(data))
	}
	name := string(data)
	exp, info, err := c.s.exports.Lookup(ctx, name)
	if err != nil {
		return fmt.Errorf("export %q: %w", name, err)
	}
	if _, _, err := c.blockSizes(info); err != nil {
		closeExport(c.log, exp)
		return fmt.Errorf("export %q: %w", name, err)
	}
	c.use(name, exp, info, exp.Size())
	b := binary.BigEndian.AppendUint64(c.scratch[:0], c.size)
	b = binary.BigEndian.AppendUint16(b, c.tflags)
	c.bw.Write(b)
	if !c.noZeroes {
		c.bw.Write(zeroes[:124])
	}
	return nil
}

// optList answers NBD_OPT_LIST.
func (c *conn) optList(ctx context.Context) {
	infos, err := c.s.exports.List(ctx)
	if err != nil {
		c.log.Debug("nbd list refused", "err", err)
		typ := repErrPolicy
		if errors.Is(err, context.Canceled) {
			typ = repErrShutdown
		}
		c.optError(optList, typ, "export list not available")
		return
	}
	for _, info := range infos {
		if len(info.Name) > maxStringLen {
			continue
		}
		desc := info.Description
		if len(desc) > maxStringLen {
			desc = desc[:maxStringLen]
		}
		n := binary.BigEndian.AppendUint32(nil, uint32(len(info.Name)))
		c.optReply(optList, repServer, n, []byte(info.Name), []byte(desc))
	}
	c.optReply(optList, repAck)
}

// optInfo answers NBD_OPT_INFO and NBD_OPT_GO; a successful GO enters transmission.
func (c *conn) optInfo(ctx context.Context, opt uint32, data []byte) (bool, error) {
	// Data: name length (32), name, number of requests (16), requests (16 each).
	if len(data) < 6 {
		c.optError(opt, repErrInvalid, "option data too short")
		return false, nil
	}
	nameLen := binary.BigEndian.Uint32(data)
	if uint64(nameLen) > uint64(len(data)-6) || nameLen > maxStringLen {
		c.optError(opt, repErrInvalid, "bad export name length")
		return false, nil
	}
	name := string(data[4 : 4+nameLen])
	rest := data[4+nameLen:]
	nreq := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if len(rest) != 2*nreq {
		c.optError(opt, repErrInvalid, "information request count does not match the data")
		return false, nil
	}
	var wantName, wantDesc bool
	for i := 0; i < len(rest); i += 2 {
		switch binary.BigEndian.Uint16(rest[i:]) {
		case infoName:
			wantName = true
		case infoDescription:
			wantDesc = true
		}
		// NBD_INFO_EXPORT and NBD_INFO_BLOCK_SIZE are always sent; others are ignored.
	}

	exp, info, err := c.s.exports.Lookup(ctx, name)
	if err != nil {
		c.log.Debug("nbd export lookup", "export", name, "err", err)
		typ := optErrOf(err)
		msg := "export not available"
		switch typ {
		case repErrUnknown:
			if errors.Is(err, ErrUnknownExport) {
				msg = "unknown export"
			}
		case repErrPolicy:
			msg = "export refused by policy"
		case repErrShutdown:
			msg = "server shutting down"
		}
		c.optError(opt, typ, msg)
		return false, nil
	}
	minB, prefB, err := c.blockSizes(info)
	if err != nil {
		closeExport(c.log, exp)
		c.log.Error("nbd export has bad block sizes", "export", name, "err", err)
		c.optError(opt, repErrPolicy, "export misconfigured")
		return false, nil
	}
	k := capsOf(exp, info)
	size := exp.Size()
	b := binary.BigEndian.AppendUint16(c.scratch[:0], infoExport)
	b = binary.BigEndian.AppendUint64(b, size)
	b = binary.BigEndian.AppendUint16(b, k.flags(info, c.structured))
	c.optReply(opt, repInfo, b)
	if wantName {
		canonical := info.Name
		if canonical == "" || len(canonical) > maxStringLen {
			canonical = name
		}
		c.optReply(opt, repInfo, binary.BigEndian.AppendUint16(nil, infoName), []byte(canonical))
	}
	if wantDesc && info.Description != "" {
		c.optReply(opt, repInfo, binary.BigEndian.AppendUint16(nil, infoDescription),
			[]byte(truncate(info.Description, maxStringLen)))
	}
	b = binary.BigEndian.AppendUint16(c.scratch[:0], infoBlockSize)
	b = binary.BigEndian.AppendUint32(b, minB)
	b = binary.BigEndian.AppendUint32(b, prefB)
	b = binary.BigEndian.AppendUint32(b, c.s.cfg.MaxBlockBytes)
	c.optReply(opt, repInfo, b)
	c.optReply(opt, repAck)
	if opt == optInfo {
		closeExport(c.log, exp)
		return false, nil
	}
	c.use(name, exp, info, size)
	return true, nil
}

// use makes exp the connection's export for transmission.
func (c *conn) use(name string, exp Export, info ExportInfo, size uint64) {
	c.exp = exp
	c.caps = capsOf(exp, info)
	c.size = size
	c.tflags = c.caps.flags(info, c.structured)
	minB, _, _ := c.blockSizes(info)
	c.minBlock = uint64(minB)
	c.blockStatus = c.structured && c.metaAlloc && c.metaExport == name
	c.log = c.log.With("export", name)
	c.optBuf = nil // negotiation is over
}

// blockSizes returns an export's minimum and preferred block sizes, defaulted, or an
// error if they break the protocol's rules.
func (c *conn) blockSizes(info ExportInfo) (minB, prefB uint32, err error) {
	minB, prefB = info.MinBlockBytes, info.PreferredBlockBytes
	if minB == 0 {
		minB = 1
	}
	if prefB == 0 {
		prefB = 4096
	}
	switch {
	case bits.OnesCount32(minB) != 1 || minB > 64<<10:
		return 0, 0, fmt.Errorf("min block size %d is not a power of two up to 65536", minB)
	case bits.OnesCount32(prefB) != 1 || prefB < max(minB, 512) || prefB > c.s.cfg.MaxBlockBytes:
		return 0, 0, fmt.Errorf("preferred block size %d is not a power of two from %d to %d", prefB,
			max(minB, 512), c.s.cfg.MaxBlockBytes)
	}
	return minB, prefB, nil
}

// optMetaContext answers NBD_OPT_LIST_META_CONTEXT and NBD_OPT_SET_META_CONTEXT. The
// server knows one context, base:allocation; queries in other namespaces select nothing.
func (c *conn) optMetaContext(opt uint32, data []byte) {
	if opt == optSetMetaContext {
		c.metaExport, c.metaAlloc = "", false // replaced even if this option fails
	}
	if !c.structured {
		c.optError(opt, repErrInvalid, "structured replies must be negotiated first")
		return
	}
	// Data: export name length (32), name, number of queries (32), then each query as a
	// length (32) and a string.
	name, rest, ok := cutString(data)
	if !ok || len(rest) < 4 {
		c.optError(opt, repErrInvalid, "malformed meta context request")
		return
	}
	nq := binary.BigEndian.Uint32(rest)
	rest = rest[4:]
	match := nq == 0 && opt == optListMetaContext // no query lists everything
	for range nq {
		var q string
		if q, rest, ok = cutString(rest); !ok {
			c.optError(opt, repErrInvalid, "malformed meta context query")
			return
		}
		ns, leaf, found := strings.Cut(q, ":")
		if !found {
			c.optError(opt, repErrInvalid, "meta context query without a namespace")
			return
		}
		if ns != "base" {
			continue // other namespaces are not ours: ignored, as the protocol requires
		}
		// "base:" is a wildcard when listing and selects nothing when setting.
		if leaf == "allocation" || leaf == "" && opt == optListMetaContext {
			match = true
		}
	}
	if len(rest) != 0 {
		c.optError(opt, repErrInvalid, "trailing data after meta context queries")
		return
	}
	if match {
		var id uint32 // reserved (zero) in a listing
		if opt == optSetMetaContext {
			id = baseAllocationID
			c.metaExport, c.metaAlloc = name, true
		}
		c.optReply(opt, repMetaContext, binary.BigEndian.AppendUint32(nil, id), []byte("base:allocation"))
	}
	c.optReply(opt, repAck)
}

// cutString splits a length-prefixed string (32-bit length) off the front of b.
func cutString(b []byte) (s string, rest []byte, ok bool) {
	if len(b) < 4 {
		return "", nil, false
	}
	n := binary.BigEndian.Uint32(b)
	if n > maxStringLen || uint64(n) > uint64(len(b)-4) {
		return "", nil, false
	}
	return string(b[4 : 4+n]), b[4+n:], true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
