package client

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
)

// Chunk healing: storage nodes compare the chunks of a partition with the other primaries
// and copy the blocks a replica lacks (docs/objectd.md, "Healing chunks"). Only storage nodes
// call these.

const (
	// PatternChunkMissing serves POST of a ChunkMissingRequest; answers a
	// ChunkMissingResponse.
	PatternChunkMissing = "/v1/chunk-missing/{device}/{partition}"
	// MaxChunkOffers bounds the offers of one ChunkMissing call.
	MaxChunkOffers = 4096
	// HeaderChunkTombstone ("1") on a chunk DELETE asks the node to record the tombstone
	// even if it holds nothing of the chunk: how a replicator hands a deletion on to a
	// replica that never held the chunk, so no other replica can bring it back there.
	HeaderChunkTombstone = "X-Stratus-Chunk-Tombstone"
)

// ChunkOffer is what a node holds of one chunk of a partition.
type ChunkOffer struct {
	// Hash is the MD5 of the chunk's name (the file name).
	Hash string `json:"hash"`
	// Fence is the chunk's fence; for a tombstone, the generation of the delete. Zero with
	// Deleted false: the node holds nothing of the chunk.
	Fence uint64 `json:"fence"`
	// Version is the chunk's version (the highest sequence of its block table).
	Version uint64 `json:"version,omitempty"`
	// Digest is a hash of the whole block table: two replicas hold the same blocks at the
	// same sequences exactly when their digests are equal.
	Digest string `json:"digest,omitempty"`
	// Deleted says the node holds a tombstone at Fence: the chunk was deleted by that
	// generation, and any copy whose fence is not newer is dead.
	Deleted bool `json:"deleted,omitempty"`
}

// ChunkMissingRequest is the body of a chunk missing check.
type ChunkMissingRequest struct {
	Chunks []ChunkOffer `json:"chunks"`
}

// ChunkMissingResponse is the receiver's own state of every offered chunk it does not hold
// exactly as offered (same fence, digest and deletion); offers it holds alike are left out.
type ChunkMissingResponse struct {
	Differ []ChunkOffer `json:"differ"`
	// Pending lists the hashes of offers the node holds differently but has just asked
	// another pusher with the same state for: not to be pushed now, and not yet held.
	Pending []string `json:"pending,omitempty"`
}

// ChunkMissing offers t the state of chunks of its partition and returns t's state of
// those it holds differently.
func (c *Client) ChunkMissing(ctx context.Context, t Target, offers []ChunkOffer) (ChunkMissingResponse, error) {
	var out ChunkMissingResponse
	if len(offers) > MaxChunkOffers {
		return out, fmt.Errorf("%w: %d chunk offers in one call (at most %d)", ErrInvalid, len(offers), MaxChunkOffers)
	}
	err := c.postJSON(ctx, "chunk-missing", t, ChunkMissingRequest{Chunks: offers}, &out)
	return out, err
}

// PutChunkTombstone deletes chunk name on t at generation, like DeleteChunk, and records the
// tombstone even if t holds nothing of the chunk. ErrFenced means t holds the chunk with a
// newer fence (or a tombstone with a newer generation is kept).
func (c *Client) PutChunkTombstone(ctx context.Context, t Target, name string, generation uint64) error {
	if err := checkChunkChange(name, generation, 1, DefaultChunkSize); err != nil {
		return err
	}
	h := http.Header{}
	h.Set(HeaderChunkGeneration, strconv.FormatUint(generation, 10))
	h.Set(HeaderChunkTombstone, "1")
	_, err := c.chunkChange(ctx, "chunk_delete", http.MethodDelete, t, chunkPath(PatternChunk, t, name), h, nil)
	return err
}
