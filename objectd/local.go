package objectd

import (
	"errors"
	"fmt"

	"stratus/objectd/client"
)

// LocalChunks returns the node's chunk writes, zeroes, reads and flushes as direct calls, for
// a block-volume daemon in this process (client.Config.Local). They check what the chunk
// handlers check that the client has not, do the same work and answer with the errors the
// client would have made of the HTTP answers. The node's request metrics do not see them;
// its chunk metrics do.
func (s *Server) LocalChunks() client.LocalChunks { return localChunks{s} }

type localChunks struct{ s *Server }

// errStopped answers direct calls once the node has begun to stop, as a refused connection
// would: the caller counts the replica as unreachable.
var errStopped = errors.New("the storage node has stopped")

// enter counts a direct call among the node's requests, or reports that the node stopped;
// the caller calls s.inflight.Done when it returns.
func (l localChunks) enter(op string, t client.Target) error {
	l.s.local.RLock()
	defer l.s.local.RUnlock()
	if l.s.localClosed {
		return fmt.Errorf("objectd %s %s: %w", op, t.Host, errStopped)
	}
	l.s.inflight.Add(1)
	return nil
}

func (l localChunks) WriteChunk(t client.Target, w client.ChunkWrite, data []byte) (client.ChunkResult, error) {
	ch := chunkChange{name: w.Name, generation: w.Generation, size: orDefaultSize(w.ChunkSize), fua: w.FUA}
	return l.change("chunk_write", t, func() (chunkResult, error) {
		return l.s.chunks.write(t.Device, t.Partition, ch, w.Offset, w.Sequence, data)
	})
}

func (l localChunks) ZeroChunk(t client.Target, z client.ChunkZero) (client.ChunkResult, error) {
	ch := chunkChange{name: z.Name, generation: z.Generation, size: orDefaultSize(z.ChunkSize), fua: z.FUA}
	return l.change("chunk_zero", t, func() (chunkResult, error) {
		return l.s.chunks.zero(t.Device, t.Partition, ch, z.Offset, z.Length, z.Sequence)
	})
}

// orDefaultSize is the chunk size a client sends for size: the default for zero.
func orDefaultSize(size int64) int64 {
	if size == 0 {
		return client.DefaultChunkSize
	}
	return size
}

func (l localChunks) change(op string, t client.Target, f func() (chunkResult, error)) (client.ChunkResult, error) {
	if err := l.enter(op, t); err != nil {
		return client.ChunkResult{}, err
	}
	defer l.s.inflight.Done()
	if err := client.CheckDevice(t.Device); err != nil {
		return client.ChunkResult{}, l.refused(op, t, fmt.Errorf("%w: %v", client.ErrDeviceUnavailable, err))
	}
	res, err := f()
	if err != nil {
		return client.ChunkResult{}, l.refused(op, t, err)
	}
	return client.ChunkResult{Version: res.version, Skipped: res.skipped, Epoch: l.s.chunks.epoch}, nil
}

func (l localChunks) ReadChunk(t client.Target, name string, off int64, buf []byte) (client.ChunkRead, error) {
	const op = "chunk_read"
	if err := l.enter(op, t); err != nil {
		return client.ChunkRead{}, err
	}
	defer l.s.inflight.Done()
	if err := client.CheckDevice(t.Device); err != nil {
		return client.ChunkRead{}, l.refused(op, t, fmt.Errorf("%w: %v", client.ErrDeviceUnavailable, err))
	}
	version, err := l.s.chunks.read(t.Device, t.Partition, name, off, buf)
	if err != nil {
		return client.ChunkRead{}, l.refused(op, t, err)
	}
	return client.ChunkRead{Version: version, Epoch: l.s.chunks.epoch}, nil
}

func (l localChunks) FlushChunks(t client.Target, chunks []client.ChunkRef) (client.ChunkFlushResult, error) {
	const op = "chunk_flush"
	if err := l.enter(op, t); err != nil {
		return client.ChunkFlushResult{}, err
	}
	defer l.s.inflight.Done()
	if err := client.CheckDevice(t.Device); err != nil {
		return client.ChunkFlushResult{}, l.refused(op, t, fmt.Errorf("%w: %v", client.ErrDeviceUnavailable, err))
	}
	n, err := l.s.chunks.flush(t.Device, chunks)
	if err != nil {
		return client.ChunkFlushResult{}, l.refused(op, t, err)
	}
	return client.ChunkFlushResult{Synced: n, Epoch: l.s.chunks.epoch}, nil
}

// refused logs err as writeError would and returns what the client makes of that answer.
func (l localChunks) refused(op string, t client.Target, err error) error {
	se := client.NodeError(op, t.Host, err)
	l.s.logRefusal(t.Device, se.Status, err, "op", op, "target", t.String())
	var fe *FencedError
	if errors.As(err, &fe) {
		se.Generation = fe.Fence
	}
	var te *TornError
	if errors.As(err, &te) {
		se.TornOffset = te.Offset
	}
	return se
}
