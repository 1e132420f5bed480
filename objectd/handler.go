package objectd

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"stratus/internal/hlc"
	"stratus/internal/pki"
	"stratus/objectd/client"
)

// routes builds the HTTP API. Paths, headers and codes come from package client. Every
// route but the health check is guarded (auth.go): the caller is checked before the handler
// reads anything.
func (s *Server) routes(g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	route := func(pattern, op, what string, roles []pki.Role, h http.HandlerFunc) {
		mux.HandleFunc(pattern, s.instrument(op, s.guard(what, roles, h)))
	}
	object := func(pattern, op, what string, h http.HandlerFunc) {
		mux.HandleFunc(pattern, s.instrument(op, s.guardObject(what, h)))
	}
	object("PUT "+client.PatternObject, "put", "write objects", s.handlePut)
	object("GET "+client.PatternObject, "get", "read objects", s.handleGet) // and HEAD
	object("DELETE "+client.PatternObject, "delete", "delete objects", s.handleDelete)
	route("GET "+client.PatternHashes, "hashes", "read partition hashes", replicationRoles, s.handleHashes)
	route("POST "+client.PatternMissing, "missing", "offer versions for replication", replicationRoles, s.handleMissing)
	route("POST "+client.PatternPush, "push", "push replicated versions", replicationRoles, s.handlePush)
	route("POST "+client.PatternChunkMissing, "chunk_missing", "compare chunks for replication", replicationRoles, s.withEpoch(s.handleChunkMissing))
	chunk := func(pattern, op, what string, h http.HandlerFunc) {
		route(pattern, op, what, chunkRoles, s.withEpoch(h))
	}
	chunk("PUT "+client.PatternChunk, "chunk_write", "write chunks", s.handleChunkWrite)
	chunk("GET "+client.PatternChunk, "chunk_read", "read chunks", s.handleChunkRead)
	chunk("DELETE "+client.PatternChunk, "chunk_delete", "delete chunks", s.handleChunkDelete)
	chunk("GET "+client.PatternChunkMeta, "chunk_meta", "read chunk block tables", s.handleChunkMeta)
	chunk("GET "+client.PatternChunkBlocks, "chunk_blocks", "read chunk blocks", s.handleChunkBlocks)
	chunk("POST "+client.PatternChunkZero, "chunk_zero", "zero chunk blocks", s.handleChunkZero)
	chunk("POST "+client.PatternChunkRepair, "chunk_repair", "repair chunks", s.handleChunkRepair)
	chunk("POST "+client.PatternChunkFlush, "chunk_flush", "flush chunks", s.handleChunkFlush)
	// The health check needs no certificate, for load balancers and probes, so it says
	// little: "ok", or why not.
	mux.HandleFunc("GET "+client.PathHealth, s.handleHealth)
	if g != nil {
		// Any cluster certificate may read metrics (the admin's tools, a scraper's).
		mux.HandleFunc("GET "+client.PathMetrics, s.guard("read metrics", nil, promhttp.HandlerFor(g, promhttp.HandlerOpts{}).ServeHTTP))
	}
	// Anything else (an unknown path, or a known one with another method) is a 404, and only
	// to a caller with a certificate: the node tells strangers nothing, not even which paths
	// exist.
	mux.HandleFunc("/", s.guard("call this node", nil, http.NotFound))
	return mux
}

// statusWriter records the status for metrics. It forwards ReadFrom so io.Copy from a file
// can still use sendfile.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return io.Copy(w.ResponseWriter, r)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) instrument(op string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.inflight.Add(1)
		defer s.inflight.Done()
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		name := op
		if r.Method == http.MethodHead {
			name = "head"
		}
		defer func() {
			code := sw.status
			if code == 0 {
				code = http.StatusOK
			}
			s.m.requests.WithLabelValues(name, strconv.Itoa(code)).Inc()
			s.m.requestSeconds.WithLabelValues(name).Observe(time.Since(start).Seconds())
		}()
		h(sw, r)
	}
}

// writeError answers with err's wire code and status. Errors a human should look at are
// logged; the rest are the client's business.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, status := client.ErrorCode(err)
	var ve *VersionError
	if errors.As(err, &ve) {
		w.Header().Set(client.HeaderTimestamp, ve.Timestamp.String())
	}
	var fe *FencedError
	if errors.As(err, &fe) {
		w.Header().Set(client.HeaderChunkGeneration, strconv.FormatUint(fe.Fence, 10))
	}
	var te *TornError
	if errors.As(err, &te) {
		w.Header().Set(client.HeaderChunkTornOffset, strconv.FormatInt(te.Offset, 10))
	}
	w.Header().Set(client.HeaderError, code)
	s.logRefusal(r.PathValue("device"), status, err, "method", r.Method, "path", r.URL.Path)
	http.Error(w, err.Error(), status)
}

// logRefusal logs a request to device answered with status for err; what names the request.
func (s *Server) logRefusal(device string, status int, err error, what ...any) {
	switch {
	case status == http.StatusInsufficientStorage:
		// A device that is not mounted or is full refuses every request to it, and proxies
		// keep trying it (with handoffs as well): one line per device per minute.
		if n, ok := s.unavailable.allow(device, 1); ok {
			s.log.Warn("request refused", append(what, "refused_since_last_line", n, "err", err)...)
		}
	case status >= 500:
		s.log.Error("request failed", append(what, "err", err)...)
	default:
		s.log.Debug("request refused", append(what, "err", err)...)
	}
}

// handleHealth answers 200 "ok" while at least one device is usable, and 503 otherwise: a
// node whose disks are all unmounted, uninitialised or gone answers every request with 507,
// and is not healthy. It names no device: the caller may be anyone.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	devs, err := s.store.devices()
	if err != nil || len(devs) == 0 {
		http.Error(w, "no usable device (none mounted and initialised); see the node's log", http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "ok\n")
}

// objectParams reads device, partition and name from the path. An unusable device is
// reported first, whatever else is wrong with the request.
func (s *Server) objectParams(r *http.Request) (dev string, sp space, part uint32, name string, err error) {
	dev = r.PathValue("device")
	if _, err = s.store.devicePath(dev); err != nil {
		return
	}
	if ring := r.Header.Get(client.HeaderRing); ring != "" && ring != client.ObjectRing {
		if err = client.CheckRing(ring); err != nil {
			return
		}
		sp = space(ring)
	}
	if part, err = client.ParsePartition(r.PathValue("partition")); err != nil {
		return
	}
	name, err = client.DecodeName(r.PathValue("name"))
	return
}

func partParams(r *http.Request) (dev string, part uint32, err error) {
	dev = r.PathValue("device")
	part, err = client.ParsePartition(r.PathValue("partition"))
	return
}

func (s *Server) handlePut(w http.ResponseWriter, r *http.Request) {
	dev, sp, part, name, err := s.objectParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	info, hasSum, err := client.InfoFromHeaders(r.Header)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	info.Name = name
	if r.ContentLength >= 0 && r.ContentLength != info.Length {
		s.writeError(w, r, fmt.Errorf("%w: Content-Length %d, %s %d", client.ErrLength, r.ContentLength, client.HeaderLength, info.Length))
		return
	}
	if _, declared := r.Trailer[client.HeaderChecksum]; !hasSum && !declared {
		s.writeError(w, r, fmt.Errorf("%w: %s missing (send it as a header or a trailer)", client.ErrInvalid, client.HeaderChecksum))
		return
	}
	want := func() (client.Checksum, error) {
		if hasSum {
			return info.Checksum, nil
		}
		v := r.Trailer.Get(client.HeaderChecksum)
		if v == "" {
			return 0, fmt.Errorf("%w: %s trailer missing", client.ErrInvalid, client.HeaderChecksum)
		}
		return client.ParseChecksum(v)
	}
	err = s.store.write(dev, sp, part, client.Record{Kind: client.KindData, Info: info}, s.bodyReader(w, r), want)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	clearReadDeadline(w)
	w.WriteHeader(http.StatusCreated)
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	dev, sp, part, name, err := s.objectParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ts, err := hlc.Parse(r.Header.Get(client.HeaderTimestamp))
	if err != nil {
		s.writeError(w, r, fmt.Errorf("%w: %v", client.ErrInvalid, err))
		return
	}
	rec := client.Record{Kind: client.KindTombstone, Info: client.Info{Name: name, Timestamp: ts}}
	if err := s.store.write(dev, sp, part, rec, nil, nil); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	dev, sp, part, name, err := s.objectParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var o *object
	if v := r.Header.Get(client.HeaderTimestamp); v != "" {
		ts, perr := hlc.Parse(v)
		if perr != nil {
			s.writeError(w, r, fmt.Errorf("%w: %s: %v", client.ErrInvalid, client.HeaderTimestamp, perr))
			return
		}
		o, err = s.store.openVersion(dev, sp, part, name, ts)
	} else {
		o, err = s.store.open(dev, sp, part, name)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer o.f.Close()
	info := &o.rec.Info
	client.SetInfoHeaders(w.Header(), info)
	w.Header().Set("Accept-Ranges", "bytes")
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Length", strconv.FormatInt(info.Length, 10))
		return
	}
	if h := r.Header.Get("Range"); h != "" {
		rng, err := client.ParseRange(h, info.Length)
		switch {
		case errors.Is(err, client.ErrRange):
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", info.Length))
			s.writeError(w, r, err)
			return
		case err == nil:
			// Ranged reads are not verified: that would mean reading the whole object.
			// The auditor covers them.
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", rng.Offset, rng.Offset+rng.Length-1, info.Length))
			w.Header().Set("Content-Length", strconv.FormatInt(rng.Length, 10))
			w.WriteHeader(http.StatusPartialContent)
			n, _ := io.Copy(w, o.content(rng.Offset, rng.Length))
			s.m.readBytes.WithLabelValues(dev).Add(float64(n))
			return
		}
		// An unusable Range header (several ranges, bad syntax) is ignored, as RFC 9110 allows.
	}
	s.serveVerified(w, r, o)
}

// serveVerified sends the whole content, checking it on the way. The last buffer is held
// back until the checksum is verified: a mismatch found before any byte went out is a clean
// ErrCorrupt response; found later, the connection is aborted so the client sees a short
// body instead of bad data. Either way the file is quarantined.
func (s *Server) serveVerified(w http.ResponseWriter, r *http.Request, o *object) {
	bp := getBuf()
	defer putBuf(bp)
	buf := *bp
	info := &o.rec.Info
	sr := o.content(0, info.Length)
	var sum client.Checksum
	left, sent := info.Length, false
	for {
		n, err := io.ReadFull(sr, buf[:min(int64(len(buf)), left)])
		sum = sum.Update(buf[:n])
		left -= int64(n)
		if err != nil && left > 0 || left == 0 && sum != info.Checksum {
			reason := fmt.Sprintf("content checksum %v, header %v", sum, info.Checksum)
			if err != nil {
				reason = fmt.Sprintf("read: %v", err)
			}
			s.store.quarantine(o, reason)
			if !sent {
				s.writeError(w, r, fmt.Errorf("%w: %s", client.ErrCorrupt, reason))
				return
			}
			panic(http.ErrAbortHandler)
		}
		if !sent {
			w.Header().Set("Content-Length", strconv.FormatInt(info.Length, 10))
			w.WriteHeader(http.StatusOK)
			sent = true
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return // the client went away
		}
		s.m.readBytes.WithLabelValues(o.dev).Add(float64(n))
		if left == 0 {
			return
		}
	}
}

func (s *Server) handleHashes(w http.ResponseWriter, r *http.Request) {
	dev, part, err := partParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h, err := s.store.suffixHashes(dev, part)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, h)
}

func (s *Server) handleMissing(w http.ResponseWriter, r *http.Request) {
	dev, part, err := partParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req client.MissingRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<20)).Decode(&req); err != nil {
		s.writeError(w, r, fmt.Errorf("%w: %v", client.ErrInvalid, err))
		return
	}
	want, err := s.store.missing(dev, part, req.Offers)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	want, pending := s.promises.claim(dev, part, req.Offers, want)
	writeJSON(w, client.MissingResponse{Want: want, Pending: pending})
}

// handlePush applies a stream of records in order, each exactly as a PUT or DELETE would be.
// It skips records not newer than what it holds or dated too far ahead, and stops at the
// first record it cannot apply (a corrupt or truncated one).
func (s *Server) handlePush(w http.ResponseWriter, r *http.Request) {
	dev, part, err := partParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := s.store.devicePath(dev); err != nil {
		s.writeError(w, r, err)
		return
	}
	br := bufio.NewReaderSize(s.bodyReader(w, r), 64<<10)
	var res client.PushResult
	var refused error // the last future-dated record's
records:
	for {
		rec, err := client.ReadRecord(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			res.Err = err.Error()
			break
		}
		content := io.LimitReader(br, rec.Info.Length)
		err = s.store.write(dev, "", part, rec, content, func() (client.Checksum, error) { return rec.Info.Checksum, nil })
		switch {
		case err == nil:
			s.promises.kept(dev, part, nameHash(rec.Info.Name), rec.Info.Timestamp)
			res.Stored++
			continue
		case errors.Is(err, client.ErrConflict):
			res.Skipped++
		case errors.Is(err, client.ErrFutureTimestamp):
			// The pusher's clock, or its data, is ahead of ours. Skip the record rather
			// than stop, so the versions after it still arrive; the pusher keeps it.
			res.Refused++
			refused = err
			s.promises.broken(dev, part, nameHash(rec.Info.Name), rec.Info.Timestamp)
		default:
			res.Err = err.Error()
			s.log.Warn("push stopped", "device", dev, "partition", part, "err", err)
			break records
		}
		if _, err := io.Copy(io.Discard, content); err != nil {
			res.Err = err.Error()
			break
		}
	}
	if res.Refused > 0 {
		// A pusher whose clock runs ahead pushes such versions in every partition, every
		// pass: one line per pusher per minute.
		if n, ok := s.replWarnings.allow("refused push\x00"+remoteHost(r), res.Refused); ok {
			s.log.Warn("pushed versions refused", "device", dev, "partition", part, "remote", r.RemoteAddr,
				"refused", res.Refused, "unlogged_since_last_line", n, "err", refused)
		}
	}
	if res.Err == "" {
		clearReadDeadline(w)
	}
	writeJSON(w, res)
}

// idleReader reads a request body with a deadline that moves forward with every read, so a
// body that stops flowing fails instead of holding the request forever.
type idleReader struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
}

func (s *Server) bodyReader(w http.ResponseWriter, r *http.Request) io.Reader {
	return &idleReader{r: r.Body, rc: http.NewResponseController(w), idle: s.cfg.BodyIdleTimeout}
}

func (ir *idleReader) Read(p []byte) (int, error) {
	ir.rc.SetReadDeadline(time.Now().Add(ir.idle))
	return ir.r.Read(p)
}

// clearReadDeadline removes the body's idle deadline once the body has been read to its end,
// so it cannot fire while the response is written. After a failure the deadline stays: the
// server then gives up on the rest of a stalled body instead of waiting to drain it.
func clearReadDeadline(w http.ResponseWriter) {
	http.NewResponseController(w).SetReadDeadline(time.Time{})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
