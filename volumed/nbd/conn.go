package nbd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// Sizes of a connection's stream buffers. Requests and replies without payload are
// batched through them; payloads larger than a buffer pass straight through.
const (
	readBufBytes  = 64 << 10
	writeBufBytes = 256 << 10
)

// shutdownGrace is how long replies may take to send once a shutdown has cancelled the
// requests still in flight.
const shutdownGrace = time.Second

var (
	// errPayloadTooLarge ends a connection whose WRITE carries more than the server will
	// read: its stream cannot be resynchronised without reading the payload.
	errPayloadTooLarge = errors.New("nbd: write payload too large to read")
	// errShutdown ends a connection because the server is shutting down.
	errShutdown = errors.New("nbd: server shutting down")
)

// conn is one client connection. The handshake runs on the connection's goroutine; in
// transmission that goroutine becomes the reader, each request runs on a goroutine of
// its own, and one writer goroutine sends the replies.
type conn struct {
	s   *Server
	nc  net.Conn
	log *slog.Logger
	br  *bufio.Reader
	bw  *bufio.Writer // the handshake's, then the writer goroutine's only

	// Negotiated during the handshake; read-only in transmission.
	structured bool
	noZeroes   bool
	metaExport string // export named by the last NBD_OPT_SET_META_CONTEXT
	metaAlloc  bool   // whether that option selected base:allocation
	optBuf     []byte

	// The export, fixed when transmission begins.
	exp         Export
	caps        caps
	size        uint64
	tflags      uint16
	minBlock    uint64
	blockStatus bool // base:allocation negotiated for this export

	mu         sync.Mutex // guards the fields below
	inTransmit bool
	draining   bool
	forceTimer *time.Timer

	reqCtx     context.Context // parent of every Export call
	cancelReqs context.CancelFunc
	deadline   atomic.Pointer[deadlineCtx] // see requestCtx
	slots      chan struct{}               // one per request in flight
	budget     *semaphore.Weighted         // payload bytes in flight
	replies    chan *job                   // to the writer; never blocks (capacity MaxInFlight)
	handlers   sync.WaitGroup

	ioErrors int // EIO replies, for rate-limiting their log lines; handlers only, under mu

	// The writer goroutine's own.
	scratch [64]byte
	werr    error
}

func newConn(s *Server, nc net.Conn) *conn {
	return &conn{
		s:   s,
		nc:  nc,
		log: s.log.With("remote", nc.RemoteAddr().String()),
		br:  bufio.NewReaderSize(nc, readBufBytes),
		bw:  bufio.NewWriterSize(nc, writeBufBytes),
	}
}

// serve runs the connection to its end. shutdown ends when the server stops; base carries
// the values (not the end) of Serve's ctx to Exports calls.
func (c *conn) serve(shutdown, base context.Context) {
	defer c.nc.Close()
	stop := context.AfterFunc(shutdown, c.drain)
	defer stop()
	defer c.closeExport()

	c.log.Debug("nbd connection opened")
	err := c.handshake(shutdown)
	switch {
	case errors.Is(err, errAbort):
		c.s.m.handshakes.WithLabelValues("aborted").Inc()
		c.log.Debug("nbd negotiation aborted by client")
		return
	case err != nil:
		c.s.m.handshakes.WithLabelValues("failed").Inc()
		c.log.Debug("nbd negotiation failed", "err", err)
		return
	}
	c.s.m.handshakes.WithLabelValues("ok").Inc()

	c.reqCtx, c.cancelReqs = context.WithCancel(base)
	defer c.cancelReqs()
	c.mu.Lock()
	if c.draining {
		c.mu.Unlock()
		return
	}
	c.nc.SetDeadline(time.Time{})
	c.inTransmit = true
	c.mu.Unlock()

	c.log.Info("nbd client attached", "size_bytes", c.size, "flags", fmt.Sprintf("%#x", c.tflags),
		"structured", c.structured, "block_status", c.blockStatus)
	start := time.Now()
	err = c.transmit()
	c.log.Info("nbd client detached", "dur", time.Since(start), "err", err)
}

// drain starts a graceful shutdown of the connection: no more options or requests are
// read; requests in flight finish and are answered within ShutdownTimeout, after which
// they are cancelled and the connection closed.
func (c *conn) drain() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.draining = true
	if !c.inTransmit {
		// Nothing in flight that the client is owed: a negotiation just ends.
		c.nc.Close()
		return
	}
	c.nc.SetReadDeadline(time.Now())
	c.forceTimer = time.AfterFunc(c.s.cfg.ShutdownTimeout, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.inTransmit {
			return // finished meanwhile
		}
		c.log.Warn("nbd shutdown: cancelling requests still in flight", "shutdown_timeout", c.s.cfg.ShutdownTimeout)
		// Cancelled requests answer ESHUTDOWN; a client that does not read them within
		// the grace period has its connection closed by the write deadline.
		c.cancelReqs()
		c.nc.SetWriteDeadline(time.Now().Add(shutdownGrace))
	})
}

func (c *conn) isDraining() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.draining
}

// closeExport closes the connection's export if it asks to be.
func (c *conn) closeExport() {
	if c.exp == nil {
		return
	}
	closeExport(c.log, c.exp)
	c.exp = nil
}

func closeExport(log *slog.Logger, exp Export) {
	if cl, ok := exp.(io.Closer); ok {
		if err := cl.Close(); err != nil {
			log.Warn("nbd export close", "err", err)
		}
	}
}

// transmit runs the transmission phase: it reads requests until the client disconnects,
// breaks the protocol or the server drains, then waits for the requests in flight and
// their replies.
func (c *conn) transmit() error {
	cfg := &c.s.cfg
	c.slots = make(chan struct{}, cfg.MaxInFlight)
	c.replies = make(chan *job, cfg.MaxInFlight)
	c.budget = semaphore.NewWeighted(cfg.MaxInFlightBytes)

	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		c.writeLoop()
	}()
	err := c.readLoop()
	c.handlers.Wait()
	close(c.replies)
	<-wrote

	c.mu.Lock()
	c.inTransmit = false // a drain from now on just closes the connection
	if c.forceTimer != nil {
		c.forceTimer.Stop()
	}
	c.mu.Unlock()
	if err == nil && c.werr != nil {
		err = c.werr
	}
	return err
}

// readLoop reads requests and dispatches them. It returns nil when the client sends
// NBD_CMD_DISC or closes the connection, or the server drains.
func (c *conn) readLoop() error {
	var hdr [requestLen]byte
	for {
		if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
			switch {
			case errors.Is(err, io.EOF):
				return nil // the client went away between requests
			case errors.Is(err, os.ErrDeadlineExceeded) && c.isDraining():
				return nil
			}
			return fmt.Errorf("read request: %w", err)
		}
		req, err := parseRequest(&hdr)
		if err != nil {
			return err // out of step with the client: hard disconnect
		}
		if req.typ == cmdDisc {
			return nil
		}

		c.slots <- struct{}{} // blocks while MaxInFlight requests are in flight
		j := getJob()
		j.request = req
		j.start = time.Now()
		j.errno, j.msg = c.check(req)
		if req.typ == cmdWrite {
			if err := c.readPayload(j); err != nil {
				c.release(j)
				return err
			}
		}
		if j.errno != errnoOK {
			c.queue(j)
			continue
		}
		if req.typ == cmdRead && req.length > 0 {
			j.cost = int64(req.length)
			if j.streamed = c.streams(req); j.streamed {
				j.cost = readPieces * readPieceBytes // what streamRead holds at once
			}
			c.budget.Acquire(context.Background(), j.cost) // cost <= MaxInFlightBytes: cannot fail
		}
		c.handlers.Add(1)
		go c.handle(j)
	}
}

// readPayload reads a WRITE's payload into a pooled buffer, or drops it if the request
// already failed its checks.
func (c *conn) readPayload(j *job) error {
	n := int64(j.length)
	if j.errno != errnoOK {
		if n > max(int64(c.s.cfg.MaxBlockBytes), portableMaxPayload) {
			return fmt.Errorf("%w: %d bytes", errPayloadTooLarge, n)
		}
		if _, err := io.CopyN(io.Discard, c.br, n); err != nil {
			return fmt.Errorf("read write payload: %w", err)
		}
		return nil
	}
	j.cost = n
	c.budget.Acquire(context.Background(), n) // n <= MaxBlockBytes <= MaxInFlightBytes
	j.buf = getBuffer(int(n))
	if _, err := io.ReadFull(c.br, j.buf.b); err != nil {
		return fmt.Errorf("read write payload: %w", err)
	}
	return nil
}

// check validates a request against the protocol and the export, before any payload is
// read, and returns the error to answer it with (errnoOK if it may proceed) and a message
// for the client.
func (c *conn) check(r request) (errno, string) {
	if r.flags&^c.allowedFlags(r.typ) != 0 {
		return errnoInval, "command flags not valid for this command"
	}
	k := &c.caps
	switch r.typ {
	case cmdRead:
		if r.length > c.s.cfg.MaxBlockBytes {
			return errnoInval, "read longer than the maximum block size"
		}
		return c.checkRange(r, errnoInval)
	case cmdWrite:
		if k.writer == nil {
			return errnoPerm, "export is read-only"
		}
		if r.length > c.s.cfg.MaxBlockBytes {
			return errnoInval, "write longer than the maximum block size"
		}
		return c.checkRange(r, errnoNoSpace)
	case cmdFlush:
		if k.flusher == nil {
			return errnoInval, "flush not supported"
		}
		if r.offset != 0 || r.length != 0 {
			return errnoInval, "flush offset and length must be zero"
		}
		return errnoOK, ""
	case cmdTrim:
		if k.writer == nil {
			return errnoPerm, "export is read-only"
		}
		if k.trimmer == nil {
			return errnoInval, "trim not supported"
		}
		return c.checkRange(r, errnoInval)
	case cmdWriteZeroes:
		if k.writer == nil {
			return errnoPerm, "export is read-only"
		}
		return c.checkRange(r, errnoNoSpace)
	case cmdCache:
		return c.checkRange(r, errnoInval)
	case cmdBlockStatus:
		if !c.blockStatus {
			return errnoInval, "no metadata context negotiated"
		}
		if r.length == 0 {
			return errnoInval, "block status of zero bytes"
		}
		return c.checkRange(r, errnoInval)
	}
	return errnoInval, "unknown command"
}

// allowedFlags returns the command flags valid on a command type given what was
// negotiated.
func (c *conn) allowedFlags(typ uint16) uint16 {
	var f uint16
	if c.tflags&tflagSendFUA != 0 {
		f |= cmdFlagFUA // valid on every command once advertised
	}
	switch typ {
	case cmdRead:
		if c.structured {
			f |= cmdFlagDF
		}
	case cmdWriteZeroes:
		f |= cmdFlagNoHole
		if c.tflags&tflagSendFastZero != 0 {
			f |= cmdFlagFastZero
		}
	case cmdBlockStatus:
		f |= cmdFlagReqOne
	}
	return f
}

// checkRange checks that a request lies within the export and is aligned to its minimum
// block size; past is the error for a range past the end.
func (c *conn) checkRange(r request, past errno) (errno, string) {
	end := r.offset + uint64(r.length)
	if end < r.offset || end > c.size {
		return past, "request extends past the end of the export"
	}
	if c.minBlock > 1 && (r.offset%c.minBlock != 0 || uint64(r.length)%c.minBlock != 0) {
		return errnoInval, "request not aligned to the minimum block size"
	}
	return errnoOK, ""
}

// queue hands a finished request to the writer.
func (c *conn) queue(j *job) {
	var n uint64
	switch j.typ {
	case cmdRead, cmdWrite, cmdTrim, cmdWriteZeroes, cmdCache:
		n = uint64(j.length)
	}
	c.s.m.observe(j.typ, j.errno, time.Since(j.start).Seconds(), n)
	c.replies <- j
}

// release frees what a request held once its reply is sent (or dropped).
func (c *conn) release(j *job) {
	putBuffer(j.buf)
	j.buf = nil
	if j.piece != nil {
		// A piece of a streamed read: its request holds the slot and the budget.
		<-j.piece
		putJob(j)
		return
	}
	if j.cost > 0 {
		c.budget.Release(j.cost)
	}
	<-c.slots
	putJob(j)
}

// noteIOError logs an EIO answer: the first few of a connection, then every power of two,
// so a failing backend is visible without a line per request.
func (c *conn) noteIOError(j *job, err error) {
	c.mu.Lock()
	c.ioErrors++
	n := c.ioErrors
	c.mu.Unlock()
	if n&(n-1) == 0 {
		c.log.Warn("nbd request failed", "op", cmdName(j.typ), "offset", j.offset, "length", j.length,
			"io_errors", n, "err", err)
	}
}

// deadlineCtx is a context shared by the requests that start before renew.
type deadlineCtx struct {
	ctx    context.Context
	cancel context.CancelFunc // not called: see requestCtx
	renew  time.Time
}

// requestCtx returns the context for a request's Export calls: cancelled when the
// connection's requests are, and past a deadline at least RequestTimeout away. Requests
// starting within one tick (RequestTimeout/32, at most a second) share a context whose
// deadline is RequestTimeout plus a tick after the first of them started, so a connection
// creates a context and timer per tick instead of per request (the timer's allocations
// were most of a small read's). The deadline thus has the resolution of a tick.
func (c *conn) requestCtx() context.Context {
	now := time.Now()
	if d := c.deadline.Load(); d != nil && now.Before(d.renew) {
		return d.ctx
	}
	tick := min(max(c.s.cfg.RequestTimeout/32, time.Millisecond), time.Second)
	// The context is never cancelled early, since later requests share it: it ends at
	// its deadline, or with reqCtx when the connection ends, and either releases its timer.
	ctx, cancel := context.WithDeadline(c.reqCtx, now.Add(c.s.cfg.RequestTimeout+tick))
	d := &deadlineCtx{ctx: ctx, cancel: cancel, renew: now.Add(tick)}
	c.deadline.Store(d)
	return ctx
}
