package objectd

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"stratus/objectd/client"
	"stratus/ring"
)

// Chunk replication: the replicator's pass over a device's chunks/<partition>/ directories
// (docs/objectd.md, "Healing chunks"). Per partition it offers the state of each chunk
// (fence, version, block table digest, or tombstone) to the other primaries with one
// chunk-missing call per MaxChunkOffers chunks; for each chunk a peer holds differently it
// fetches the peer's block table and pushes exactly the blocks held here at a higher
// sequence, with chunk-repair. Peers do the same toward this node, so every pair converges
// on the highest sequence of every block. A repair never lowers a block, so a pass is safe
// while volumed writes; at worst it copies a block a newer write then replaces.
//
// Deletion is state too (chunktomb.go): a tombstone is offered like a chunk and handed on
// with a delete at its generation, and a chunk a peer holds a tombstone for at a generation
// at least its fence is deleted here, so a replica that missed the delete never brings the
// chunk back.
//
// A handoff (a device that is not a primary for the partition) offers everything to every
// primary the same way, and removes a chunk (or tombstone) once every primary holds at
// least its blocks, checked again under the chunk's lock, so a write that landed meanwhile
// keeps it for the next pass.

var timeZero time.Time

// localChunkError is a failure of this node's side of a chunk's comparison: the peer is
// not to blame, and its other chunks go on.
type localChunkError struct{ err error }

func (e *localChunkError) Error() string { return "local chunk: " + e.err.Error() }
func (e *localChunkError) Unwrap() error { return e.err }

// errChangedHere says the local chunk changed under the comparison (deleted, here or by a
// request): it is compared again next pass, not with the other peers now.
var errChangedHere = errors.New("local chunk changed during the pass")

// chunkRepairBatch bounds the blocks of one repair request (1 MiB of data).
const chunkRepairBatch = 256

// replicateChunkPartition syncs one local chunk partition to the primaries.
func (s *Server) replicateChunkPartition(ctx context.Context, r *ring.Ring, j replJob, c *passCounters) {
	c.chunkParts.Add(1)
	primary := r.IsPrimary(ring.Partition(j.part), j.dev.ID)
	hashes, err := s.chunks.chunkHashes(j.devDir, j.part)
	if err != nil {
		c.warn.localFailed(j.dev.Name, j.String(), err)
		c.errors.Add(1)
		return
	}
	reapBefore := s.store.now().Add(-s.cfg.ReclaimAge)
	type local struct {
		hash string
		st   chunkState
	}
	var locals []local
	kept := 0 // chunks left out of the comparison (unreadable): a handoff keeps its directory
	for _, h := range hashes {
		st, err := s.chunks.state(j.dev.Name, j.devDir, j.part, h)
		if err != nil {
			c.warn.localFailed(j.dev.Name, j.String()+"/"+h, fmt.Errorf("chunk state: %w", err))
			c.errors.Add(1)
			kept++
			continue
		}
		if st.deleted && st.at.Before(reapBefore) {
			if ok, err := s.chunks.removeTomb(j.dev.Name, j.devDir, j.part, h, st.fence, reapBefore); err != nil {
				c.warn.localFailed(j.dev.Name, j.String()+"/"+h, fmt.Errorf("reap chunk tombstone: %w", err))
				kept++
			} else if ok {
				c.chunkReaped.Add(1)
			}
			continue
		}
		if st.exists || st.deleted {
			locals = append(locals, local{h, st})
		}
	}
	if len(locals) == 0 {
		if !primary && kept == 0 {
			s.chunks.removeEmptyChunkPartition(j.devDir, j.part)
		}
		return
	}
	c.chunks.Add(int64(len(locals)))
	s.m.replChunks.Add(float64(len(locals)))

	// confirmed counts, per chunk, the peers found to hold at least what this node holds,
	// and the local state they were compared with (a digest, or the tombstone's generation):
	// a handoff removes a chunk only if every primary confirmed the same state.
	type confirmation struct {
		n     int
		token string
		mixed bool
	}
	confirmed := map[string]*confirmation{}
	confirm := func(hash, token string) {
		cf := confirmed[hash]
		if cf == nil {
			cf = &confirmation{token: token}
			confirmed[hash] = cf
		}
		cf.n++
		cf.mixed = cf.mixed || cf.token != token
	}
	changed := map[string]bool{}
	peers := 0
	for _, peer := range r.Primaries(ring.Partition(j.part), nil) {
		if peer.ID == j.dev.ID {
			continue
		}
		peers++
		t := client.Target{Host: peer.Host, Device: peer.Name, Partition: j.part}
	batches:
		for start := 0; start < len(locals); start += client.MaxChunkOffers {
			batch := locals[start:min(len(locals), start+client.MaxChunkOffers)]
			offers := make([]client.ChunkOffer, len(batch))
			for i, l := range batch {
				offers[i] = l.st.offer(l.hash)
			}
			pctx, cancel := s.peerCtx(ctx)
			resp, err := s.peers.ChunkMissing(pctx, t, offers)
			cancel()
			if err != nil {
				c.warn.peerFailed(t.String(), t.Host, err)
				c.errors.Add(1)
				break
			}
			differ := make(map[string]client.ChunkOffer, len(resp.Differ))
			for _, d := range resp.Differ {
				differ[d.Hash] = d
			}
			// Pending chunks are being pushed by another primary with the same state: not
			// pushed now, and not confirmed (a handoff keeps them for a later pass).
			pending := make(map[string]bool, len(resp.Pending))
			for _, h := range resp.Pending {
				pending[h] = true
			}
			for _, l := range batch {
				if ctx.Err() != nil {
					break batches
				}
				if changed[l.hash] {
					continue
				}
				if pending[l.hash] {
					continue
				}
				held, ok := differ[l.hash]
				if !ok {
					confirm(l.hash, stateToken(l.st))
					continue
				}
				token, done, err := s.syncChunk(ctx, j, t, l.hash, l.st, held, c)
				if errors.Is(err, errChangedHere) {
					changed[l.hash] = true
					continue
				}
				var local *localChunkError
				var se *client.StatusError
				switch {
				case err == nil:
				case errors.As(err, &local):
					c.warn.localFailed(j.dev.Name, j.String()+"/"+l.hash, err)
					c.errors.Add(1)
					continue
				case errors.As(err, &se):
					c.warn.peerFailed(t.String(), t.Host, fmt.Errorf("chunk %s: %w", l.hash, err))
					c.errors.Add(1)
					continue
				default:
					c.warn.peerFailed(t.String(), t.Host, fmt.Errorf("chunk %s: %w", l.hash, err))
					c.errors.Add(1)
					break batches // the peer did not answer: spare it the other chunks
				}
				if done {
					confirm(l.hash, token)
				}
			}
		}
	}
	if primary || ctx.Err() != nil {
		return
	}
	left := kept
	var movable []local
	var refs []client.ChunkRef
	for _, l := range locals {
		cf := confirmed[l.hash]
		if cf == nil || cf.n < peers || cf.mixed || peers == 0 {
			left++
			continue
		}
		movable = append(movable, l)
		if !l.st.deleted {
			refs = append(refs, client.ChunkRef{Partition: j.part, Name: l.st.name})
		}
	}
	// The primaries hold the blocks, but perhaps in their page cache only (repairs and
	// volumed's writes are acknowledged there): they are made durable before the last copy
	// elsewhere goes. Tombstones are durable when acknowledged.
	for _, peer := range r.Primaries(ring.Partition(j.part), nil) {
		for start := 0; start < len(refs); start += client.MaxFlushChunks {
			t := client.Target{Host: peer.Host, Device: peer.Name, Partition: j.part}
			pctx, cancel := s.peerCtx(ctx)
			_, err := s.peers.FlushChunks(pctx, t, refs[start:min(len(refs), start+client.MaxFlushChunks)])
			cancel()
			if err != nil {
				c.warn.peerFailed(t.String(), t.Host, fmt.Errorf("flush chunks before removing handoff copies: %w", err))
				c.errors.Add(1)
				return
			}
		}
	}
	for _, l := range movable {
		cf := confirmed[l.hash]
		var removed bool
		var err error
		if l.st.deleted {
			removed, err = s.chunks.removeTomb(j.dev.Name, j.devDir, j.part, l.hash, l.st.fence, timeZero)
		} else {
			removed, err = s.chunks.removeMoved(j.dev.Name, j.devDir, j.part, l.hash, cf.token)
		}
		if err != nil {
			c.warn.localFailed(j.dev.Name, j.String()+"/"+l.hash, fmt.Errorf("remove handoff chunk: %w", err))
		}
		if !removed {
			left++
			continue
		}
		c.chunkHandoffs.Add(1)
		s.m.replChunkHandoffs.Inc()
	}
	if left == 0 {
		s.chunks.removeEmptyChunkPartition(j.devDir, j.part)
	}
}

// stateToken names the local state a peer was compared with.
func stateToken(st chunkState) string {
	if st.deleted {
		return "deleted:" + strconv.FormatUint(st.fence, 10)
	}
	return st.digest
}

// syncChunk brings peer t level with the local chunk (state st, name hash hash), which it
// holds as held. It returns the local state it compared (stateToken) and whether t now
// holds at least that: every block at a sequence at least the local one, or a deletion or
// chunk newer than the local tombstone.
func (s *Server) syncChunk(ctx context.Context, j replJob, t client.Target, hash string, st chunkState, held client.ChunkOffer, c *passCounters) (string, bool, error) {
	pctx, cancel := s.peerCtx(ctx)
	defer cancel()
	token := stateToken(st)
	if st.deleted {
		if held.Fence > st.fence {
			return token, true, nil // deleted by a newer generation there, or written anew since
		}
		err := s.peers.PutChunkTombstone(pctx, t, st.name, st.fence)
		if errors.Is(err, client.ErrFenced) {
			return token, true, nil // written anew by a newer generation
		}
		if err != nil {
			return "", false, err
		}
		c.chunkTombs.Add(1)
		s.m.replChunkTombs.Inc()
		return token, true, nil
	}
	if held.Deleted && held.Fence >= st.fence {
		// Deleted there by a generation at least as new as every write here: this copy
		// missed the delete, and must not come back.
		err := s.chunks.remove(j.dev.Name, j.part, st.name, held.Fence, false)
		if err != nil && !errors.Is(err, client.ErrFenced) {
			return "", false, &localChunkError{fmt.Errorf("apply a peer's delete: %w", err)}
		}
		if err == nil {
			c.chunkDeleted.Add(1)
		}
		return "", false, errChangedHere
	}
	var peerSeq []uint64 // nil: the peer holds no blocks of the chunk
	var peerFence uint64
	if !held.Deleted && held.Fence != 0 {
		m, err := s.peers.ChunkMeta(pctx, t, st.name, 0)
		switch {
		case errors.Is(err, client.ErrNotFound):
		case err != nil:
			return "", false, err
		default:
			peerFence = m.Generation
			peerSeq = make([]uint64, m.ChunkSizeBytes/chunkBlockSize)
			for _, b := range m.Blocks {
				if i := b.OffsetBytes / chunkBlockSize; !b.Damaged && b.OffsetBytes >= 0 && i < int64(len(peerSeq)) {
					peerSeq[i] = b.Sequence
				}
			}
		}
	}
	idx, snap, err := s.chunks.newerBlocks(j.dev.Name, j.devDir, j.part, hash, peerSeq)
	if err != nil {
		return "", false, &localChunkError{err}
	}
	if !snap.exists || snap.name != st.name {
		return "", false, errChangedHere // deleted meanwhile; the next pass offers the tombstone
	}
	// The repair carries the chunk's fence, raising the peer's to it; a peer fenced higher
	// gets its own fence back, which is safe because sequences carry the writer's
	// generation in their high bits: no block written under an older fence beats one
	// written under a newer one, whatever generation the repair names.
	gen := max(snap.fence, peerFence)
	rep := client.ChunkRepair{Name: st.name, Generation: gen, ChunkSize: snap.size}
	if len(idx) == 0 {
		if peerSeq == nil || snap.fence > peerFence {
			// Nothing to copy but the chunk itself or its fence.
			if _, err := s.repairPeer(pctx, t, &rep, nil); err != nil {
				return "", false, err
			}
		}
		return snap.digest, true, nil
	}
	tornHere, pushed := 0, 0
	for start := 0; start < len(idx); start += chunkRepairBatch {
		batch := idx[start:min(len(idx), start+chunkRepairBatch)]
		blocks, torn, err := s.chunks.readBlocksAt(j.dev.Name, j.part, st.name, batch)
		tornHere += torn
		if err != nil {
			return "", false, &localChunkError{err}
		}
		if len(blocks) == 0 {
			continue
		}
		n := 0
		for _, b := range blocks {
			n += len(b.Data)
		}
		if err := s.replThrottle.wait(ctx, n); err != nil {
			return "", false, err
		}
		bctx, bcancel := s.peerCtx(ctx)
		res, err := s.repairPeer(bctx, t, &rep, blocks)
		bcancel()
		if err != nil {
			return "", false, err
		}
		applied := len(blocks) - res.Skipped
		pushed += applied
		c.chunkBlocks.Add(int64(applied))
		c.chunkBytes.Add(int64(n))
		s.m.replChunkBlocks.Add(float64(applied))
	}
	if pushed > 0 {
		c.chunkRepaired.Add(1)
		s.m.replChunksRepaired.Inc()
	}
	// A block torn here was not copied: the peer may lack it, so a handoff keeps the chunk
	// until the auditor repairs it.
	return snap.digest, tornHere == 0, nil
}

// repairPeer sends blocks to t. A peer whose fence rose since its table was read (a newer
// holder wrote it meanwhile) refuses the repair; it is sent once more at that fence, which is
// as safe as the first (see syncChunk), and the fence is kept for the chunk's later batches.
func (s *Server) repairPeer(ctx context.Context, t client.Target, rep *client.ChunkRepair, blocks []client.ChunkBlock) (client.ChunkResult, error) {
	res, err := s.peers.RepairChunk(ctx, t, *rep, blocks)
	var se *client.StatusError
	if errors.Is(err, client.ErrFenced) && errors.As(err, &se) && se.Generation > rep.Generation {
		rep.Generation = se.Generation
		res, err = s.peers.RepairChunk(ctx, t, *rep, blocks)
	}
	return res, err
}
