package objectd

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"stratus/objectd/client"
)

// maxChunkMissingBody bounds a chunk missing request: MaxChunkOffers offers of a few
// hundred bytes each at most.
const maxChunkMissingBody = client.MaxChunkOffers * 256

// handleChunkMissing answers a replicator's offers with this node's state of every offered
// chunk it holds differently (chunk-missing in docs/objectd.md).
func (s *Server) handleChunkMissing(w http.ResponseWriter, r *http.Request) {
	dev, part, err := partParams(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	devDir, err := s.store.devicePath(dev)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := io.ReadAll(io.LimitReader(s.bodyReader(w, r), maxChunkMissingBody+1))
	if err != nil {
		s.writeError(w, r, fmt.Errorf("%w: body: %v", client.ErrLength, err))
		return
	}
	clearReadDeadline(w)
	if len(body) > maxChunkMissingBody {
		s.writeError(w, r, fmt.Errorf("%w: chunk missing body longer than %d bytes", client.ErrInvalid, maxChunkMissingBody))
		return
	}
	var req client.ChunkMissingRequest
	if err := json.Unmarshal(body, &req); err != nil {
		s.writeError(w, r, fmt.Errorf("%w: %v", client.ErrInvalid, err))
		return
	}
	if len(req.Chunks) > client.MaxChunkOffers {
		s.writeError(w, r, fmt.Errorf("%w: %d chunk offers (at most %d)", client.ErrInvalid, len(req.Chunks), client.MaxChunkOffers))
		return
	}
	out := client.ChunkMissingResponse{Differ: []client.ChunkOffer{}}
	for _, o := range req.Chunks {
		if !validHash(o.Hash) {
			s.writeError(w, r, fmt.Errorf("%w: chunk hash %q", client.ErrInvalid, o.Hash))
			return
		}
		st, err := s.chunks.state(dev, devDir, part, o.Hash)
		if err != nil {
			// One unreadable chunk must not stop the others from healing: it is reported
			// as held with no fence, and the pusher's repair meets the error itself.
			if n, ok := s.replWarnings.allow("chunk state\x00"+dev, 1); ok {
				s.log.Warn("chunk state unreadable for a peer's comparison", "device", dev, "partition", part,
					"hash", o.Hash, "unlogged_since_last_line", n, "err", err)
			}
			st = chunkState{}
		}
		held := st.offer(o.Hash)
		switch {
		case sameChunkState(held, o):
		case !s.chunkPromises.claim(dev, part, o):
			out.Pending = append(out.Pending, o.Hash)
		default:
			out.Differ = append(out.Differ, held)
		}
	}
	writeJSON(w, out)
}

// sameChunkState reports whether two replicas hold a chunk alike: both deleted by the same
// generation, or both holding the same block table under the same fence.
func sameChunkState(a, b client.ChunkOffer) bool {
	return a.Deleted == b.Deleted && a.Fence == b.Fence && a.Digest == b.Digest
}

// chunkPromises remembers, per chunk, the state this node last told a pusher it lacks: a
// second pusher offering the very same state (the other primaries of a replica that was
// down all find it behind in their next pass) is told the chunk is pending instead of
// pushing the same blocks again. A promise lapses after promiseTTL, so a pusher that dies
// only delays the chunk; a pusher with another state (a newer write) is never held back.
// Tombstones are not promised: handing one on costs one small request.
type chunkPromises struct {
	now func() time.Time

	mu        sync.Mutex
	m         map[promiseKey]chunkPromise
	lastSweep time.Time
}

type chunkPromise struct {
	state client.ChunkOffer
	due   time.Time
}

func newChunkPromises(now func() time.Time) *chunkPromises {
	return &chunkPromises{now: now, m: map[promiseKey]chunkPromise{}}
}

// claim reports whether the caller offering o should push it: false if another caller
// offered the same state moments ago.
func (p *chunkPromises) claim(dev string, part uint32, o client.ChunkOffer) bool {
	if o.Deleted {
		return true
	}
	now := p.now()
	k := promiseKey{dev, part, o.Hash}
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.Sub(p.lastSweep) >= promiseTTL {
		p.lastSweep = now
		for k, pr := range p.m {
			if !now.Before(pr.due) {
				delete(p.m, k)
			}
		}
	}
	if pr, ok := p.m[k]; ok && now.Before(pr.due) && sameChunkState(pr.state, o) && pr.state.Version == o.Version {
		return false
	}
	p.m[k] = chunkPromise{state: o, due: now.Add(promiseTTL)}
	return true
}
