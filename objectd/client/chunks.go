package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
)

// Chunks are the mutable backing store of block volumes (docs/volumes.md): fixed-size byte
// arrays, written in place in ChunkBlockSize blocks by the volume's single writer, and
// served to volumed and storage nodes only. A chunk is addressed like an object (Target and
// name), but it is not an object: it has no timestamp and no suffix hash, and the object
// calls do not see it.
//
// Every block carries the sequence of the write that last set it. A node applies a block
// only if its sequence is at least the one it holds, so a late or repeated write never
// undoes a newer one, and repair can copy blocks with their sequences. Every change carries
// the writer's generation, and a node refuses one older than the chunk's fence (ErrFenced).
// A write is acknowledged once in the node's page cache; FlushChunks (or FUA) makes it
// durable. A block torn by a crash is never served (ErrTorn).

// Chunk geometry.
const (
	// ChunkBlockSize is the unit of chunk writes, reads and checksums. Offsets and lengths
	// must be multiples of it.
	ChunkBlockSize = 4 << 10
	// DefaultChunkSize is the size of a chunk created by a call that names none.
	DefaultChunkSize = 4 << 20
	// MaxChunkSize bounds the chunk size a node accepts; it is also the largest body of a
	// chunk call.
	MaxChunkSize = 64 << 20
	// MaxFlushChunks bounds how many chunks one FlushChunks call names.
	MaxFlushChunks = 4096
)

// Chunk paths. Names travel base64url-encoded like object names.
const (
	// PatternChunk serves PUT (write blocks), GET (read a range) and DELETE of one chunk.
	PatternChunk = "/v1/chunk/{device}/{partition}/{name}"
	// PatternChunkMeta serves GET of a chunk's header and block table (ChunkMeta, JSON).
	PatternChunkMeta = "/v1/chunk-meta/{device}/{partition}/{name}"
	// PatternChunkBlocks serves GET of a range's blocks with their sequences, as block
	// frames (ChunkBlock): what a repair copies.
	PatternChunkBlocks = "/v1/chunk-blocks/{device}/{partition}/{name}"
	// PatternChunkZero serves POST: mark a range zero (trim, write zeroes).
	PatternChunkZero = "/v1/chunk-zero/{device}/{partition}/{name}"
	// PatternChunkRepair serves POST of block frames, applied with their own sequences.
	PatternChunkRepair = "/v1/chunk-repair/{device}/{partition}/{name}"
	// PatternChunkFlush serves POST of a ChunkFlushRequest: make the named chunks durable.
	PatternChunkFlush = "/v1/chunk-flush/{device}"
)

// Chunk headers. Part of the protocol; never rename them. Numbers are decimal.
const (
	// HeaderChunkOffset is the byte offset in the chunk of a write, read or zero.
	HeaderChunkOffset = "X-Stratus-Chunk-Offset"
	// HeaderChunkLength is the byte length of a read, zero or blocks request.
	HeaderChunkLength = "X-Stratus-Chunk-Length"
	// HeaderChunkSize is the chunk's size: on a request that may create the chunk, the size
	// to create it with (the node refuses a different size for an existing chunk); on a
	// response, the chunk's size.
	HeaderChunkSize = "X-Stratus-Chunk-Size"
	// HeaderChunkGeneration is the writer's generation on a change, and the chunk's fence
	// on a response (and on ErrFenced).
	HeaderChunkGeneration = "X-Stratus-Chunk-Generation"
	// HeaderChunkSequence is the sequence a write or zero gives the blocks it sets (> 0).
	HeaderChunkSequence = "X-Stratus-Chunk-Sequence"
	// HeaderChunkSince asks a meta or blocks request for the blocks whose sequence is
	// greater than this only.
	HeaderChunkSince = "X-Stratus-Chunk-Since"
	// HeaderChunkVersion is the chunk's version on a response: the highest sequence of
	// its block table (0 for a chunk the node does not hold).
	HeaderChunkVersion = "X-Stratus-Chunk-Version"
	// HeaderChunkSkipped is the number of blocks of a write, zero or repair that were not
	// applied because the node holds them at a newer sequence.
	HeaderChunkSkipped = "X-Stratus-Chunk-Skipped"
	// HeaderChunkTornOffset is the offset of the first torn block, with ErrTorn.
	HeaderChunkTornOffset = "X-Stratus-Chunk-Torn-Offset"
	// HeaderFUA asks the node to make a write, zero or repair durable before answering
	// ("1").
	HeaderFUA = "X-Stratus-FUA"
	// HeaderNodeEpoch identifies this run of the node: 16 hex digits, new at every start.
	// Writes acknowledged under one epoch and not flushed may be lost or torn if the epoch
	// changes (the node restarted, perhaps after a crash).
	HeaderNodeEpoch = "X-Stratus-Node-Epoch"
)

// CheckChunkSize reports why size cannot be a chunk's size, or nil: a multiple of
// ChunkBlockSize, at most MaxChunkSize.
func CheckChunkSize(size int64) error {
	if size <= 0 || size > MaxChunkSize || size%ChunkBlockSize != 0 {
		return fmt.Errorf("%w: chunk size %d (want a multiple of %d up to %d)", ErrMisaligned, size, ChunkBlockSize, MaxChunkSize)
	}
	return nil
}

// CheckChunkRange reports why [off, off+length) is not a block range of a chunk of size
// bytes, or nil. length must be positive.
func CheckChunkRange(off, length, size int64) error {
	switch {
	case off < 0 || length <= 0 || off%ChunkBlockSize != 0 || length%ChunkBlockSize != 0:
		return fmt.Errorf("%w: offset %d, length %d (want multiples of %d)", ErrMisaligned, off, length, ChunkBlockSize)
	case off >= size || length > size-off:
		return fmt.Errorf("%w: offset %d, length %d in a chunk of %d bytes", ErrRange, off, length, size)
	}
	return nil
}

func chunkPath(pattern string, t Target, name string) string {
	switch pattern {
	case PatternChunkMeta:
		return fmt.Sprintf("/v1/chunk-meta/%s/%d/%s", t.Device, t.Partition, EncodeName(name))
	case PatternChunkBlocks:
		return fmt.Sprintf("/v1/chunk-blocks/%s/%d/%s", t.Device, t.Partition, EncodeName(name))
	case PatternChunkZero:
		return fmt.Sprintf("/v1/chunk-zero/%s/%d/%s", t.Device, t.Partition, EncodeName(name))
	case PatternChunkRepair:
		return fmt.Sprintf("/v1/chunk-repair/%s/%d/%s", t.Device, t.Partition, EncodeName(name))
	}
	return fmt.Sprintf("/v1/chunk/%s/%d/%s", t.Device, t.Partition, EncodeName(name))
}

// chunkErrorFields fills the chunk fields of a StatusError from the error response.
func chunkErrorFields(se *StatusError, h http.Header) {
	if v, err := strconv.ParseUint(h.Get(HeaderChunkGeneration), 10, 64); err == nil {
		se.Generation = v
	}
	if v, err := strconv.ParseInt(h.Get(HeaderChunkTornOffset), 10, 64); err == nil {
		se.TornOffset = v
	}
}

// ChunkWrite describes a write of whole blocks to a chunk.
type ChunkWrite struct {
	Name string
	// Offset is where the data goes in the chunk; a multiple of ChunkBlockSize.
	Offset int64
	// Generation is the writer's lease generation (> 0). The node refuses it if older than
	// the chunk's fence, and raises the fence (durably) if newer.
	Generation uint64
	// Sequence is the write's sequence (> 0), given to every block it sets. Sequences of a
	// chunk must grow with every write, across generations too.
	Sequence uint64
	// ChunkSize is the size to create the chunk with if the node does not hold it; zero
	// means DefaultChunkSize. The node refuses a size that differs from an existing chunk's.
	ChunkSize int64
	// FUA makes the node fsync the chunk before answering.
	FUA bool
}

// ChunkResult is what a node reports after changing a chunk.
type ChunkResult struct {
	// Version is the chunk's version after the change.
	Version uint64
	// Skipped counts blocks not applied because the node held them at a newer sequence.
	Skipped int
	// Epoch is the node's run (HeaderNodeEpoch).
	Epoch string
}

func (w *ChunkWrite) size() int64 {
	if w.ChunkSize == 0 {
		return DefaultChunkSize
	}
	return w.ChunkSize
}

// WriteChunk writes data (whole blocks) at w.Offset of chunk w.Name on t, creating the chunk
// if t does not hold it. Blocks the node holds at a newer sequence are left alone and
// counted in Skipped. It returns ErrFenced if w.Generation is older than the chunk's fence,
// ErrMisaligned or ErrRange for a bad range, ErrNoSpace or ErrDeviceUnavailable (507).
func (c *Client) WriteChunk(ctx context.Context, t Target, w ChunkWrite, data []byte) (ChunkResult, error) {
	if err := checkChunkChange(w.Name, w.Generation, w.Sequence, w.size()); err != nil {
		return ChunkResult{}, err
	}
	if err := CheckChunkRange(w.Offset, int64(len(data)), w.size()); err != nil {
		return ChunkResult{}, err
	}
	if l := c.local(t.Host); l != nil {
		return c.writeLocal(ctx, l, t, w, data)
	}
	h := chunkChangeHeaders(w.Generation, w.size(), w.FUA)
	h.Set(HeaderChunkOffset, strconv.FormatInt(w.Offset, 10))
	h.Set(HeaderChunkSequence, strconv.FormatUint(w.Sequence, 10))
	h.Set(HeaderChecksum, ChecksumOf(data).String())
	return c.chunkChange(ctx, "chunk_write", http.MethodPut, t, chunkPath(PatternChunk, t, w.Name), h, data)
}

// ChunkZero describes a range to mark zero (an NBD trim or write-zeroes).
type ChunkZero struct {
	Name       string
	Offset     int64
	Length     int64
	Generation uint64
	Sequence   uint64
	ChunkSize  int64 // zero: DefaultChunkSize; only checked against an existing chunk
	FUA        bool
}

// ZeroChunk marks [z.Offset, z.Offset+z.Length) of chunk z.Name zero at z.Sequence: the
// blocks read as zeros and the node releases their space. A chunk t does not hold already
// reads as zeros and is not created (Version 0). Errors are those of WriteChunk.
func (c *Client) ZeroChunk(ctx context.Context, t Target, z ChunkZero) (ChunkResult, error) {
	size := z.ChunkSize
	if size == 0 {
		size = DefaultChunkSize
	}
	if err := checkChunkChange(z.Name, z.Generation, z.Sequence, size); err != nil {
		return ChunkResult{}, err
	}
	if err := CheckChunkRange(z.Offset, z.Length, size); err != nil {
		return ChunkResult{}, err
	}
	if l := c.local(t.Host); l != nil {
		return callLocal(c, ctx, "chunk_zero", t, func() (ChunkResult, error) { return l.ZeroChunk(t, z) })
	}
	h := chunkChangeHeaders(z.Generation, size, z.FUA)
	h.Set(HeaderChunkOffset, strconv.FormatInt(z.Offset, 10))
	h.Set(HeaderChunkLength, strconv.FormatInt(z.Length, 10))
	h.Set(HeaderChunkSequence, strconv.FormatUint(z.Sequence, 10))
	return c.chunkChange(ctx, "chunk_zero", http.MethodPost, t, chunkPath(PatternChunkZero, t, z.Name), h, nil)
}

// TrimChunk is ZeroChunk: a trimmed block reads as zeros, as NBD allows.
func (c *Client) TrimChunk(ctx context.Context, t Target, z ChunkZero) (ChunkResult, error) {
	return c.ZeroChunk(ctx, t, z)
}

// ChunkRepair describes blocks copied from another replica.
type ChunkRepair struct {
	Name       string
	Generation uint64
	ChunkSize  int64 // zero: DefaultChunkSize
	FUA        bool
}

// RepairChunk applies blocks (from ReadChunkBlocks on another replica) to chunk r.Name on t,
// each with its own sequence, creating the chunk if needed. A block is applied only if its
// sequence is at least the one t holds, or t's copy is torn: a repair never lowers a block.
// Offsets must increase. Errors are those of WriteChunk, and ErrChecksum for a block that
// does not match its checksum (nothing applied).
func (c *Client) RepairChunk(ctx context.Context, t Target, r ChunkRepair, blocks []ChunkBlock) (ChunkResult, error) {
	size := r.ChunkSize
	if size == 0 {
		size = DefaultChunkSize
	}
	if err := checkChunkChange(r.Name, r.Generation, 1, size); err != nil {
		return ChunkResult{}, err
	}
	body := make([]byte, 0, len(blocks)*(blockFrameHeader+ChunkBlockSize))
	for _, b := range blocks {
		var err error
		if body, err = AppendChunkBlock(body, b); err != nil {
			return ChunkResult{}, err
		}
	}
	return c.chunkChange(ctx, "chunk_repair", http.MethodPost, t, chunkPath(PatternChunkRepair, t, r.Name),
		chunkChangeHeaders(r.Generation, size, r.FUA), body)
}

// DeleteChunk removes chunk name from t, durably. It returns ErrFenced if generation is older
// than the chunk's fence; deleting a chunk t does not hold succeeds. The fence goes with the
// file: delete a chunk only once no writer of an older generation can still write it.
func (c *Client) DeleteChunk(ctx context.Context, t Target, name string, generation uint64) error {
	if err := checkChunkChange(name, generation, 1, DefaultChunkSize); err != nil {
		return err
	}
	h := http.Header{}
	h.Set(HeaderChunkGeneration, strconv.FormatUint(generation, 10))
	_, err := c.chunkChange(ctx, "chunk_delete", http.MethodDelete, t, chunkPath(PatternChunk, t, name), h, nil)
	return err
}

func checkChunkChange(name string, generation, sequence uint64, size int64) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if generation == 0 || sequence == 0 {
		return fmt.Errorf("%w: generation %d, sequence %d (both must be positive)", ErrInvalid, generation, sequence)
	}
	return CheckChunkSize(size)
}

func chunkChangeHeaders(generation uint64, size int64, fua bool) http.Header {
	h := http.Header{}
	h.Set(HeaderChunkGeneration, strconv.FormatUint(generation, 10))
	h.Set(HeaderChunkSize, strconv.FormatInt(size, 10))
	if fua {
		h.Set(HeaderFUA, "1")
	}
	return h
}

// chunkChange sends one request that changes a chunk and reads the result headers.
func (c *Client) chunkChange(ctx context.Context, op, method string, t Target, path string, h http.Header, body []byte) (ChunkResult, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := c.newRequest(ctx, method, t, path, rd)
	if err != nil {
		return ChunkResult{}, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := c.do(op, t.Host, req)
	if err != nil {
		return ChunkResult{}, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	res := ChunkResult{Epoch: resp.Header.Get(HeaderNodeEpoch)}
	res.Version, _ = strconv.ParseUint(resp.Header.Get(HeaderChunkVersion), 10, 64)
	res.Skipped, _ = strconv.Atoi(resp.Header.Get(HeaderChunkSkipped))
	return res, nil
}

// ChunkRead is what a read reports besides the data.
type ChunkRead struct {
	// Version is the chunk's version when the range was read.
	Version uint64
	// Epoch is the node's run (HeaderNodeEpoch).
	Epoch string
}

// ReadChunk reads len(buf) bytes at off of chunk name on t into buf. Blocks never written or
// zeroed read as zeros. It returns ErrNotFound if t holds no such chunk (it was never
// written there: read it as zeros, or from a replica that holds it), ErrTorn if a block of
// the range failed its checksum (nothing is returned; StatusError.TornOffset names the
// block), ErrChecksum if the data was damaged on the way.
func (c *Client) ReadChunk(ctx context.Context, t Target, name string, off int64, buf []byte) (ChunkRead, error) {
	if err := CheckChunkRange(off, int64(len(buf)), MaxChunkSize); err != nil {
		return ChunkRead{}, err
	}
	if l := c.local(t.Host); l != nil {
		return c.readLocal(ctx, l, t, name, off, buf)
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	req, err := c.newRequest(ctx, http.MethodGet, t, chunkPath(PatternChunk, t, name), nil)
	if err != nil {
		return ChunkRead{}, err
	}
	req.Header.Set(HeaderChunkOffset, strconv.FormatInt(off, 10))
	req.Header.Set(HeaderChunkLength, strconv.Itoa(len(buf)))
	resp, err := c.do("chunk_read", t.Host, req)
	if err != nil {
		return ChunkRead{}, err
	}
	defer resp.Body.Close()
	if resp.ContentLength != int64(len(buf)) {
		return ChunkRead{}, fmt.Errorf("objectd chunk_read %s: %d bytes for a read of %d", t.Host, resp.ContentLength, len(buf))
	}
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		return ChunkRead{}, fmt.Errorf("objectd chunk_read %s: %w", t.Host, err)
	}
	want, err := ParseChecksum(resp.Header.Get(HeaderChecksum))
	if err != nil {
		return ChunkRead{}, fmt.Errorf("objectd chunk_read %s: %w", t.Host, err)
	}
	if got := ChecksumOf(buf); got != want {
		return ChunkRead{}, fmt.Errorf("objectd chunk_read %s: %w: data %v, node sent %v", t.Host, ErrChecksum, got, want)
	}
	out := ChunkRead{Epoch: resp.Header.Get(HeaderNodeEpoch)}
	out.Version, _ = strconv.ParseUint(resp.Header.Get(HeaderChunkVersion), 10, 64)
	return out, nil
}

// ChunkMeta is a chunk's header and (part of) its block table, as a node holds them.
type ChunkMeta struct {
	Name           string `json:"name"`
	FormatVersion  int    `json:"format_version"`
	ChunkSizeBytes int64  `json:"chunk_size_bytes"`
	BlockSizeBytes int64  `json:"block_size_bytes"`
	// Generation is the chunk's fence.
	Generation uint64 `json:"generation"`
	// Version is the highest sequence in the block table.
	Version uint64 `json:"version"`
	// Epoch is the node's run (HeaderNodeEpoch).
	Epoch string `json:"epoch"`
	// Blocks lists the blocks whose sequence is greater than the request's since, in
	// offset order. Blocks never written are not listed.
	Blocks []ChunkBlockMeta `json:"blocks"`
}

// ChunkBlockMeta is one block table entry.
type ChunkBlockMeta struct {
	OffsetBytes int64  `json:"offset_bytes"`
	Sequence    uint64 `json:"sequence"`
	// CRC32C is the checksum of the block's data (0 for a zero block).
	CRC32C uint32 `json:"crc32c"`
	// Zero reports a block zeroed or trimmed: it reads as zeros.
	Zero bool `json:"zero,omitempty"`
	// Damaged reports a table entry that failed its own check: the block reads as torn.
	Damaged bool `json:"damaged,omitempty"`
}

// ChunkMeta returns chunk name's header and the block table entries whose sequence is
// greater than since (0: every block ever written). It returns ErrNotFound if t holds no
// such chunk. Comparing replicas' tables block by block says exactly which blocks each
// lacks.
func (c *Client) ChunkMeta(ctx context.Context, t Target, name string, since uint64) (ChunkMeta, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	var out ChunkMeta
	req, err := c.newRequest(ctx, http.MethodGet, t, chunkPath(PatternChunkMeta, t, name), nil)
	if err != nil {
		return out, err
	}
	req.Header.Set(HeaderChunkSince, strconv.FormatUint(since, 10))
	resp, err := c.do("chunk_meta", t.Host, req)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&out); err != nil {
		return out, fmt.Errorf("objectd chunk_meta %s: decode response: %w", t.Host, err)
	}
	return out, nil
}

// ReadChunkBlocks returns the blocks of [off, off+length) of chunk name on t whose sequence
// is greater than since, each with its sequence and data (length 0: to the chunk's end),
// read under one lock so that data and sequences agree. This is the source side of a
// repair: pass the blocks to RepairChunk on the replica that lacks them. It returns
// ErrNotFound if t holds no such chunk, ErrTorn if one of the blocks is torn on t.
func (c *Client) ReadChunkBlocks(ctx context.Context, t Target, name string, off, length int64, since uint64) ([]ChunkBlock, ChunkRead, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	req, err := c.newRequest(ctx, http.MethodGet, t, chunkPath(PatternChunkBlocks, t, name), nil)
	if err != nil {
		return nil, ChunkRead{}, err
	}
	req.Header.Set(HeaderChunkOffset, strconv.FormatInt(off, 10))
	req.Header.Set(HeaderChunkLength, strconv.FormatInt(length, 10))
	req.Header.Set(HeaderChunkSince, strconv.FormatUint(since, 10))
	resp, err := c.do("chunk_blocks", t.Host, req)
	if err != nil {
		return nil, ChunkRead{}, err
	}
	defer resp.Body.Close()
	info := ChunkRead{Epoch: resp.Header.Get(HeaderNodeEpoch)}
	info.Version, _ = strconv.ParseUint(resp.Header.Get(HeaderChunkVersion), 10, 64)
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxChunkSize/ChunkBlockSize*(blockFrameHeader+ChunkBlockSize)+1))
	if err != nil {
		return nil, info, fmt.Errorf("objectd chunk_blocks %s: %w", t.Host, err)
	}
	var blocks []ChunkBlock
	for len(body) > 0 {
		b, n, err := DecodeChunkBlock(body)
		if err != nil {
			return nil, info, fmt.Errorf("objectd chunk_blocks %s: %w", t.Host, err)
		}
		blocks = append(blocks, b)
		body = body[n:]
	}
	return blocks, info, nil
}

// ChunkRef names one chunk of a device in a flush.
type ChunkRef struct {
	Partition uint32 `json:"partition"`
	Name      string `json:"name"`
}

// ChunkFlushRequest is the body of a flush.
type ChunkFlushRequest struct {
	Chunks []ChunkRef `json:"chunks"`
}

// ChunkFlushResult says what a flush did.
type ChunkFlushResult struct {
	// Synced counts the chunks that had writes to make durable.
	Synced int `json:"synced"`
	// Epoch is the node's run: every write acknowledged under it to the named chunks
	// before the flush is now durable.
	Epoch string `json:"epoch"`
}

// FlushChunks makes every write acknowledged so far to the named chunks on t's device
// durable, and returns once they are. t.Partition is not used: each ChunkRef names its own.
// Chunks t does not hold are skipped.
func (c *Client) FlushChunks(ctx context.Context, t Target, chunks []ChunkRef) (ChunkFlushResult, error) {
	var out ChunkFlushResult
	if len(chunks) > MaxFlushChunks {
		return out, fmt.Errorf("%w: %d chunks in one flush (at most %d)", ErrInvalid, len(chunks), MaxFlushChunks)
	}
	for _, ch := range chunks {
		if err := CheckName(ch.Name); err != nil {
			return out, err
		}
	}
	if l := c.local(t.Host); l != nil {
		refs := slices.Clone(chunks)
		return callLocal(c, ctx, "chunk_flush", t, func() (ChunkFlushResult, error) { return l.FlushChunks(t, refs) })
	}
	b, err := json.Marshal(ChunkFlushRequest{Chunks: chunks})
	if err != nil {
		return out, fmt.Errorf("objectd chunk_flush: %w", err)
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	req, err := c.newRequest(ctx, http.MethodPost, t, "/v1/chunk-flush/"+t.Device, bytes.NewReader(b))
	if err != nil {
		return out, err
	}
	resp, err := c.do("chunk_flush", t.Host, req)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return out, fmt.Errorf("objectd chunk_flush %s: decode response: %w", t.Host, err)
	}
	return out, nil
}
