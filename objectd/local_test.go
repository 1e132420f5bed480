package objectd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"stratus/objectd/client"
)

// TestLocalChunksMatchHTTP runs one script of chunk calls against two nodes, one through
// HTTP and one through direct calls (client.Config.Local), and requires the same results:
// versions, skipped blocks, data, and for refusals the same status, code, sentinel, fence
// and torn offset.
func TestLocalChunksMatchHTTP(t *testing.T) {
	remote := startNode(t, nil, []string{"d1"}, nil)
	local := startNode(t, nil, []string{"d1"}, nil)
	lcl := client.New(client.Config{Timeout: 30 * time.Second, Local: map[string]client.LocalChunks{local.addr: local.srv.LocalChunks()}})

	type outcome struct {
		res  client.ChunkResult
		data []byte
		err  error
	}
	type step struct {
		name string
		run  func(cl *client.Client, n *testNode) outcome
	}
	write := func(off int64, gen, seq uint64, nblocks int, fua bool) func(*client.Client, *testNode) outcome {
		return func(cl *client.Client, n *testNode) outcome {
			res, err := cl.WriteChunk(ctxT(t), n.target("d1", 5), client.ChunkWrite{Name: testChunk, Offset: off, Generation: gen, Sequence: seq, FUA: fua},
				blocksData(testChunk, int(off/bs), nblocks, seq))
			return outcome{res: res, err: err}
		}
	}
	read := func(dev string, off, n int64) func(*client.Client, *testNode) outcome {
		return func(cl *client.Client, nd *testNode) outcome {
			buf := make([]byte, n)
			r, err := cl.ReadChunk(ctxT(t), nd.target(dev, 5), testChunk, off, buf)
			return outcome{res: client.ChunkResult{Version: r.Version, Epoch: r.Epoch}, data: buf, err: err}
		}
	}
	zero := func(off, length int64, gen, seq uint64) func(*client.Client, *testNode) outcome {
		return func(cl *client.Client, n *testNode) outcome {
			res, err := cl.ZeroChunk(ctxT(t), n.target("d1", 5), client.ChunkZero{Name: testChunk, Offset: off, Length: length, Generation: gen, Sequence: seq})
			return outcome{res: res, err: err}
		}
	}
	flush := func(cl *client.Client, n *testNode) outcome {
		r, err := cl.FlushChunks(ctxT(t), n.target("d1", 5), []client.ChunkRef{{Partition: 5, Name: testChunk}, {Partition: 5, Name: testChunk + "x"}})
		return outcome{res: client.ChunkResult{Skipped: r.Synced, Epoch: r.Epoch}, err: err}
	}
	steps := []step{
		{"read before any write", read("d1", 0, bs)},
		{"zero a chunk not held", zero(0, 4*bs, 1, 1)},
		{"create with a write", write(0, 1, 2, 4, false)},
		{"sub-chunk write", write(8*bs, 1, 3, 2, true)},
		{"older sequence skipped", write(0, 1, 1, 2, false)},
		{"zero blocks", zero(bs, 2*bs, 1, 4)},
		{"read across data, zeros and holes", read("d1", 0, 12*bs)},
		{"flush", flush},
		{"flush with nothing to sync", flush},
		{"newer generation raises the fence", write(12*bs, 3, 3<<32|1, 1, false)},
		{"older generation fenced", write(0, 2, 2<<32|1, 1, false)},
		{"zero fenced", zero(0, bs, 2, 2<<32|2)},
		{"missing device", read("d9", 0, bs)},
		{"device name refused", read("..", 0, bs)},
		{"chunk size mismatch", func(cl *client.Client, n *testNode) outcome {
			res, err := cl.WriteChunk(ctxT(t), n.target("d1", 5), client.ChunkWrite{Name: testChunk, Generation: 3, Sequence: 3<<32 | 2, ChunkSize: 1 << 20}, blockData(testChunk, 0, 1))
			return outcome{res: res, err: err}
		}},
		{"torn block", func(cl *client.Client, n *testNode) outcome {
			corruptAt(t, chunkFile(n, "d1", 5, testChunk), chunkDataOffset(client.DefaultChunkSize)+9*bs+7, 3)
			return read("d1", 0, 12*bs)(cl, n)
		}},
	}
	for _, s := range steps {
		want := s.run(remote.cl, remote)
		got := s.run(lcl, local)
		if err := sameOutcome(want.res, got.res, want.data, got.data, want.err, got.err); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}

	// A caller that gives up is answered at once, and its buffer is not written after.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := lcl.ReadChunk(ctx, local.target("d1", 5), testChunk, 0, make([]byte, bs)); !errors.Is(err, context.Canceled) {
		t.Fatalf("read with an ended context: %v, want context.Canceled", err)
	}

	// A stopped node refuses direct calls as a closed port refuses requests.
	local.stop()
	if _, err := lcl.WriteChunk(ctxT(t), local.target("d1", 5), client.ChunkWrite{Name: testChunk, Generation: 3, Sequence: 3<<32 | 9}, blockData(testChunk, 0, 9)); !errors.Is(err, errStopped) {
		t.Fatalf("write to a stopped node: %v, want errStopped", err)
	}
}

// sameOutcome compares an HTTP call's outcome (a) with a direct call's (b).
func sameOutcome(ra, rb client.ChunkResult, da, db []byte, ea, eb error) error {
	if (ea == nil) != (eb == nil) {
		return fmt.Errorf("HTTP: %v; direct: %v", ea, eb)
	}
	if ea != nil {
		var sa, sb *client.StatusError
		if errors.As(ea, &sa) != errors.As(eb, &sb) {
			return fmt.Errorf("HTTP: %v; direct: %v (only one a node's refusal)", ea, eb)
		}
		if sa != nil && (sa.Status != sb.Status || sa.Code != sb.Code || sa.Generation != sb.Generation || sa.TornOffset != sb.TornOffset ||
			!errors.Is(eb, errors.Unwrap(sa))) {
			return fmt.Errorf("HTTP: %+v; direct: %+v", *sa, *sb)
		}
		if sa == nil && ea.Error() != eb.Error() {
			return fmt.Errorf("HTTP: %v; direct: %v", ea, eb)
		}
		return nil
	}
	if ra.Version != rb.Version || ra.Skipped != rb.Skipped || (ra.Epoch == "") != (rb.Epoch == "") {
		return fmt.Errorf("HTTP: %+v; direct: %+v", ra, rb)
	}
	if !bytes.Equal(da, db) {
		return errors.New("read different data")
	}
	return nil
}
