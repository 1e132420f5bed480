package client

import (
	"context"
	"fmt"
	"sync"
)

// LocalChunks is a storage node running in the caller's own process, called directly for the
// chunk operations on a block volume's hot path: write, zero, read and flush. Through HTTP,
// even carried in-process, a 4 KiB write to three replicas pays for building, routing and
// parsing three requests and their headers, about as much CPU as the writes themselves. The
// node checks what its handlers check and answers with the errors a Client would return
// (a *StatusError for anything the node refused); other chunk operations still go through
// HTTP. Requests to it carry no certificate: the process holds every identity it could present.
type LocalChunks interface {
	WriteChunk(t Target, w ChunkWrite, data []byte) (ChunkResult, error)
	ZeroChunk(t Target, z ChunkZero) (ChunkResult, error)
	ReadChunk(t Target, name string, off int64, buf []byte) (ChunkRead, error)
	FlushChunks(t Target, chunks []ChunkRef) (ChunkFlushResult, error)
}

// NodeError is the error a Client returns when a node refuses op with err, for a node
// answering in-process (LocalChunks): the same *StatusError, code and sentinel that the
// node's HTTP answer would have produced. Callers set Generation and TornOffset.
func NodeError(op, host string, err error) *StatusError {
	code, status := ErrorCode(err)
	return &StatusError{Op: op, Host: host, Status: status, Code: code, Message: err.Error(), err: errorFor(code, status)}
}

// local returns the in-process node serving host, if any.
func (c *Client) local(host string) LocalChunks {
	if c.locals == nil {
		return nil
	}
	return c.locals[host]
}

// callLocal runs f for op on the in-process node under the client's deadline. The node's
// work does not watch ctx (an fsync cannot be interrupted), so f runs on its own goroutine
// and the caller gets ctx's error when it gives up first, as it would from an HTTP call;
// the node finishes f in the background. f must therefore own the memory it touches (see
// localBuf): the caller may reuse its buffers once callLocal returns.
func callLocal[T any](c *Client, ctx context.Context, op string, t Target, f func() (T, error)) (T, error) {
	var zero T
	if err := CheckDevice(t.Device); err != nil {
		return zero, err // as newRequest refuses it
	}
	if err := ctx.Err(); err != nil {
		return zero, fmt.Errorf("objectd %s %s: %w", op, t.Host, err)
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		return zero, fmt.Errorf("objectd %s %s: %w", op, t.Host, ctx.Err())
	}
}

// localBufs holds the copies that in-process calls work on, so that a call the caller gave
// up on never touches the caller's buffers: what a block device sends is mostly 4 KiB.
var localBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// localBuf returns a buffer of n bytes (its contents undefined) and what gives it back.
func localBuf(n int) ([]byte, func()) {
	if n > 64<<10 {
		return make([]byte, n), func() {}
	}
	bp := localBufs.Get().(*[]byte)
	return (*bp)[:n], func() { localBufs.Put(bp) }
}

func (c *Client) writeLocal(ctx context.Context, l LocalChunks, t Target, w ChunkWrite, data []byte) (ChunkResult, error) {
	own, done := localBuf(len(data))
	copy(own, data)
	return callLocal(c, ctx, "chunk_write", t, func() (ChunkResult, error) {
		defer done()
		return l.WriteChunk(t, w, own)
	})
}

func (c *Client) readLocal(ctx context.Context, l LocalChunks, t Target, name string, off int64, buf []byte) (ChunkRead, error) {
	type read struct {
		ChunkRead
		data []byte
		done func()
	}
	r, err := callLocal(c, ctx, "chunk_read", t, func() (read, error) {
		own, done := localBuf(len(buf))
		res, err := l.ReadChunk(t, name, off, own)
		if err != nil {
			done()
			return read{}, err
		}
		return read{res, own, done}, nil
	})
	if err != nil {
		return ChunkRead{}, err
	}
	copy(buf, r.data)
	r.done()
	return r.ChunkRead, nil
}
