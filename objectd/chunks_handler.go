package objectd

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"stratus/objectd/client"
)

// The chunk endpoints (client/chunks.go defines them). Every answer carries the node's
// epoch, so volumed sees a restart in any reply.

// chunkHeaders reads decimal headers of a chunk request, keeping the first error, so a
// handler reads them all and checks once.
type chunkHeaders struct {
	h   http.Header
	err error
}

// u64 reads a header; required says whether it must be present (absent reads as 0).
func (c *chunkHeaders) u64(name string, required bool) uint64 {
	v := c.h.Get(name)
	if c.err != nil || v == "" && !required {
		return 0
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		c.err = fmt.Errorf("%w: %s %q", client.ErrInvalid, name, v)
	}
	return n
}

// i64 reads a header that must also fit an int64 offset or length.
func (c *chunkHeaders) i64(name string, required bool) int64 {
	n := c.u64(name, required)
	if c.err == nil && n > 1<<62 {
		c.err = fmt.Errorf("%w: %s %d", client.ErrInvalid, name, n)
	}
	return int64(n)
}

// chunkChangeParams reads what every change carries: the chunk, the writer's generation,
// the chunk size and FUA.
func (s *Server) chunkChangeParams(r *http.Request) (dev string, part uint32, ch chunkChange, err error) {
	dev, part, ch.name, err = chunkParams(r)
	if err != nil {
		return
	}
	hd := chunkHeaders{h: r.Header}
	ch.generation = hd.u64(client.HeaderChunkGeneration, true)
	ch.size = hd.i64(client.HeaderChunkSize, false)
	if err = hd.err; err != nil {
		return
	}
	if ch.size != 0 {
		if err = client.CheckChunkSize(ch.size); err != nil {
			return
		}
	}
	ch.fua = r.Header.Get(client.HeaderFUA) == "1"
	return
}

// chunkParams parses a chunk request's device, partition and name. Unlike objectParams it
// does not stat the device's marker: the chunk store checks the device whenever it opens a
// chunk file (and for deletes and flushes), while a chunk already open was checked when it
// was opened and its descriptor keeps writing to that device, so a stat per request (a
// syscall on the hottest path of a block volume) would only repeat the check.
func chunkParams(r *http.Request) (dev string, part uint32, name string, err error) {
	dev = r.PathValue("device")
	if err = client.CheckDevice(dev); err != nil {
		return "", 0, "", fmt.Errorf("%w: %v", client.ErrDeviceUnavailable, err)
	}
	if part, err = client.ParsePartition(r.PathValue("partition")); err != nil {
		return
	}
	name, err = client.DecodeName(r.PathValue("name"))
	return
}

// chunkAnswer sends a change's result.
func chunkAnswer(w http.ResponseWriter, res chunkResult, status int) {
	w.Header().Set(client.HeaderChunkVersion, strconv.FormatUint(res.version, 10))
	w.Header().Set(client.HeaderChunkSkipped, strconv.Itoa(res.skipped))
	w.WriteHeader(status)
}

func (s *Server) withEpoch(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(client.HeaderNodeEpoch, s.chunks.epoch)
		h(w, r)
	}
}

func (s *Server) handleChunkWrite(w http.ResponseWriter, r *http.Request) {
	dev, part, ch, err := s.chunkChangeParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	hd := chunkHeaders{h: r.Header}
	off := hd.i64(client.HeaderChunkOffset, true)
	seq := hd.u64(client.HeaderChunkSequence, true)
	if hd.err != nil {
		s.writeError(w, r, hd.err)
		return
	}
	if seq == 0 {
		s.writeError(w, r, fmt.Errorf("%w: %s 0", client.ErrInvalid, client.HeaderChunkSequence))
		return
	}
	// Check what can be checked before the body is read.
	n := r.ContentLength
	if n < 0 {
		s.writeError(w, r, fmt.Errorf("%w: a chunk write needs a Content-Length", client.ErrLength))
		return
	}
	limit := int64(client.MaxChunkSize)
	if ch.size != 0 {
		limit = ch.size
	}
	if err := client.CheckChunkRange(off, n, limit); err != nil {
		s.writeError(w, r, err)
		return
	}
	var want *client.Checksum
	if v := r.Header.Get(client.HeaderChecksum); v != "" {
		sum, err := client.ParseChecksum(v)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		want = &sum
	}
	var data []byte
	if n <= bufSize {
		bp := getBuf()
		defer putBuf(bp)
		data = (*bp)[:n]
	} else {
		data = make([]byte, n)
	}
	if k, err := io.ReadFull(s.bodyReader(w, r), data); err != nil {
		s.writeError(w, r, fmt.Errorf("%w: body ended after %d of %d bytes: %v", client.ErrLength, k, n, err))
		return
	}
	clearReadDeadline(w)
	if want != nil {
		if got := client.ChecksumOf(data); got != *want {
			s.writeError(w, r, fmt.Errorf("%w: data %v, sender said %v", client.ErrChecksum, got, *want))
			return
		}
	}
	res, err := s.chunks.write(dev, part, ch, off, seq, data)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	chunkAnswer(w, res, http.StatusNoContent)
}

func (s *Server) handleChunkZero(w http.ResponseWriter, r *http.Request) {
	dev, part, ch, err := s.chunkChangeParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	hd := chunkHeaders{h: r.Header}
	off := hd.i64(client.HeaderChunkOffset, true)
	length := hd.i64(client.HeaderChunkLength, true)
	seq := hd.u64(client.HeaderChunkSequence, true)
	if hd.err != nil {
		s.writeError(w, r, hd.err)
		return
	}
	res, err := s.chunks.zero(dev, part, ch, off, length, seq)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	chunkAnswer(w, res, http.StatusNoContent)
}

func (s *Server) handleChunkRepair(w http.ResponseWriter, r *http.Request) {
	dev, part, ch, err := s.chunkChangeParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// A repair carries at most every block of the largest chunk.
	const maxBody = client.MaxChunkSize / client.ChunkBlockSize * (32 + client.ChunkBlockSize)
	body, err := io.ReadAll(io.LimitReader(s.bodyReader(w, r), maxBody+1))
	if err != nil {
		s.writeError(w, r, fmt.Errorf("%w: body: %v", client.ErrLength, err))
		return
	}
	if len(body) > maxBody {
		s.writeError(w, r, fmt.Errorf("%w: repair body longer than %d bytes", client.ErrInvalid, maxBody))
		return
	}
	clearReadDeadline(w)
	var blocks []client.ChunkBlock
	for p := body; len(p) > 0; {
		b, n, err := client.DecodeChunkBlock(p)
		if err != nil {
			s.writeError(w, r, fmt.Errorf("%w: frame %d: %v", client.ErrInvalid, len(blocks), err))
			return
		}
		blocks = append(blocks, b)
		p = p[n:]
	}
	res, err := s.chunks.repair(dev, part, ch, blocks)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	chunkAnswer(w, res, http.StatusNoContent)
}

func (s *Server) handleChunkDelete(w http.ResponseWriter, r *http.Request) {
	dev, part, name, err := chunkParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	hd := chunkHeaders{h: r.Header}
	gen := hd.u64(client.HeaderChunkGeneration, true)
	if hd.err != nil {
		s.writeError(w, r, hd.err)
		return
	}
	if err := s.chunks.remove(dev, part, name, gen, r.Header.Get(client.HeaderChunkTombstone) == "1"); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleChunkRead(w http.ResponseWriter, r *http.Request) {
	dev, part, name, err := chunkParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	hd := chunkHeaders{h: r.Header}
	off := hd.i64(client.HeaderChunkOffset, true)
	n := hd.i64(client.HeaderChunkLength, true)
	if hd.err != nil {
		s.writeError(w, r, hd.err)
		return
	}
	if err := client.CheckChunkRange(off, n, client.MaxChunkSize); err != nil {
		s.writeError(w, r, err)
		return
	}
	var buf []byte
	if n <= bufSize {
		bp := getBuf()
		defer putBuf(bp)
		buf = (*bp)[:n]
	} else {
		buf = make([]byte, n)
	}
	version, err := s.chunks.read(dev, part, name, off, buf)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set(client.HeaderChunkVersion, strconv.FormatUint(version, 10))
	h.Set(client.HeaderChecksum, client.ChecksumOf(buf).String())
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	w.WriteHeader(http.StatusOK)
	w.Write(buf)
}

func (s *Server) handleChunkMeta(w http.ResponseWriter, r *http.Request) {
	dev, part, name, err := chunkParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	hd := chunkHeaders{h: r.Header}
	since := hd.u64(client.HeaderChunkSince, false)
	if hd.err != nil {
		s.writeError(w, r, hd.err)
		return
	}
	m, err := s.chunks.meta(dev, part, name, since)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set(client.HeaderChunkVersion, strconv.FormatUint(m.Version, 10))
	writeJSON(w, m)
}

func (s *Server) handleChunkBlocks(w http.ResponseWriter, r *http.Request) {
	dev, part, name, err := chunkParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	hd := chunkHeaders{h: r.Header}
	off := hd.i64(client.HeaderChunkOffset, false)
	n := hd.i64(client.HeaderChunkLength, false)
	since := hd.u64(client.HeaderChunkSince, false)
	if hd.err != nil {
		s.writeError(w, r, hd.err)
		return
	}
	out, err := s.chunks.blocks(dev, part, name, off, n, since)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set(client.HeaderChunkVersion, strconv.FormatUint(out.version, 10))
	h.Set(client.HeaderChunkGeneration, strconv.FormatUint(out.fence, 10))
	h.Set(client.HeaderChunkSize, strconv.FormatInt(out.size, 10))
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(out.frames)))
	w.WriteHeader(http.StatusOK)
	w.Write(out.frames)
}

func (s *Server) handleChunkFlush(w http.ResponseWriter, r *http.Request) {
	dev := r.PathValue("device")
	if err := client.CheckDevice(dev); err != nil {
		s.writeError(w, r, fmt.Errorf("%w: %v", client.ErrDeviceUnavailable, err))
		return
	}
	var req client.ChunkFlushRequest
	if err := json.NewDecoder(io.LimitReader(s.bodyReader(w, r), 8<<20)).Decode(&req); err != nil {
		s.writeError(w, r, fmt.Errorf("%w: %v", client.ErrInvalid, err))
		return
	}
	clearReadDeadline(w)
	if len(req.Chunks) > client.MaxFlushChunks {
		s.writeError(w, r, fmt.Errorf("%w: %d chunks in one flush (at most %d)", client.ErrInvalid, len(req.Chunks), client.MaxFlushChunks))
		return
	}
	n, err := s.chunks.flush(dev, req.Chunks)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, client.ChunkFlushResult{Synced: n, Epoch: s.chunks.epoch})
}
