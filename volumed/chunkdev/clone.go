package chunkdev

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	objclient "stratus/objectd/client"
)

// Base is what a clone reads the chunks it has not written from: the snapshot it was
// created from. The snapshot store satisfies it through a small adapter.
type Base interface {
	// Holds reports whether chunk idx has data in the base; a chunk it does not hold (or
	// holds as zeros) reads as zeros.
	Holds(idx int64) bool
	// ReadChunk fills buf, one whole chunk, with chunk idx of the base.
	ReadChunk(ctx context.Context, idx int64, buf []byte) error
}

// baseCacheChunks is how many base chunks a clone keeps in memory: a guest reading a
// chunk block by block costs one fetch of the chunk, not one per block.
const baseCacheChunks = 8

// baseReader reads base chunks through a small cache that also merges concurrent fetches
// of one chunk.
type baseReader struct {
	b         Base
	chunkSize int64

	mu    sync.Mutex
	cache map[int64]*baseChunk
	order []int64 // cache keys, oldest first

	materialized atomic.Int64
}

type baseChunk struct {
	ready chan struct{}
	data  []byte
	err   error
}

func newBaseReader(b Base, chunkSize int64) *baseReader {
	if b == nil {
		return nil
	}
	return &baseReader{b: b, chunkSize: chunkSize, cache: map[int64]*baseChunk{}}
}

func (br *baseReader) holds(idx int64) bool { return br.b.Holds(idx) }

// chunk returns the whole of base chunk idx; the caller must not modify it.
func (br *baseReader) chunk(ctx context.Context, idx int64) ([]byte, error) {
	br.mu.Lock()
	e := br.cache[idx]
	if e == nil {
		e = &baseChunk{ready: make(chan struct{})}
		br.cache[idx] = e
		br.order = append(br.order, idx)
		if len(br.order) > baseCacheChunks {
			delete(br.cache, br.order[0])
			br.order = br.order[1:]
		}
		br.mu.Unlock()
		data := make([]byte, br.chunkSize)
		err := br.b.ReadChunk(ctx, idx, data)
		e.data, e.err = data, err
		close(e.ready)
		if err != nil {
			br.forget(idx, e) // a failed fetch is not cached
		}
		return data, err
	}
	br.mu.Unlock()
	select {
	case <-e.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return e.data, e.err
}

// forget drops idx from the cache if it still holds e.
func (br *baseReader) forget(idx int64, e *baseChunk) {
	br.mu.Lock()
	defer br.mu.Unlock()
	if br.cache[idx] != e {
		return
	}
	delete(br.cache, idx)
	for k, o := range br.order {
		if o == idx {
			br.order = append(br.order[:k], br.order[k+1:]...)
			break
		}
	}
}

// readAt fills buf from base chunk idx at off.
func (br *baseReader) readAt(ctx context.Context, idx, off int64, buf []byte) error {
	data, err := br.chunk(ctx, idx)
	if err != nil {
		return fmt.Errorf("read base chunk %d: %w", idx, err)
	}
	copy(buf, data[off:])
	return nil
}

// materialize writes base chunk c to its replicas, whole, as one change, if no replica
// holds c and the base has data for it: the change about to follow must land on the base
// data (a write of part of the chunk, or a zero that later reads must not see through to
// the base). The caller holds c.gate, so that two changes never both materialize a chunk.
func (d *Device) materialize(ctx context.Context, c *chunk) error {
	if d.base == nil {
		return nil
	}
	c.mu.Lock()
	exists := c.exists
	c.mu.Unlock()
	if exists || !d.base.holds(c.idx) {
		return nil
	}
	data, err := d.base.chunk(ctx, c.idx)
	if err != nil {
		return fmt.Errorf("materialize %s: read base chunk: %w", c.name, err)
	}
	// FUA: the change that follows may be flushed without this one being named, and a
	// crash must not leave it on the replicas over blocks that read as zeros instead of
	// the base data.
	_, err = d.change(ctx, c, true, true, func(ctx context.Context, t objclient.Target, seq uint64) (objclient.ChunkResult, error) {
		return d.cl.WriteChunk(ctx, t, objclient.ChunkWrite{Name: c.name, Generation: d.cfg.Generation,
			Sequence: seq, ChunkSize: d.cfg.ChunkSizeBytes, FUA: true}, data)
	})
	if err != nil {
		return fmt.Errorf("materialize %s: %w", c.name, err)
	}
	d.base.materialized.Add(1)
	return nil
}

// prepareChange runs before every change of chunk c, with the snapshot barrier's read
// side held: it copies c for a snapshot still waiting for it, then materializes it from
// the base if needed.
func (d *Device) prepareChange(ctx context.Context, c *chunk) error {
	d.noteChange(c.idx)
	if d.base == nil {
		return nil
	}
	c.gate.Lock()
	defer c.gate.Unlock()
	return d.materialize(ctx, c)
}

// Materialized returns how many chunks the device copied from its base to its replicas.
func (d *Device) Materialized() int {
	if d.base == nil {
		return 0
	}
	return int(d.base.materialized.Load())
}
