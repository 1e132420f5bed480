package objectd

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"stratus/objectd/client"
)

// The chunk store's side of healing: what the replicator and the auditor ask of local
// chunk files, by name hash. They compare and copy while volumed writes; every decision
// that removes something is taken again under the chunk's lock.

// chunkState is what a node holds of one chunk: data, a tombstone, or nothing.
type chunkState struct {
	name    string
	exists  bool
	deleted bool // a tombstone at fence
	fence   uint64
	version uint64
	size    int64
	digest  string    // of the block table; empty unless exists
	at      time.Time // of the delete, for a tombstone
}

func (st chunkState) offer(hash string) client.ChunkOffer {
	return client.ChunkOffer{Hash: hash, Fence: st.fence, Version: st.version, Digest: st.digest, Deleted: st.deleted}
}

// tableDigest hashes a block table as on disk: equal tables (the same sequence, checksum and
// flags for every block) have equal digests. SHA-256, since tenants choose the data, and so
// the checksums, that a weaker hash would let them collide.
func tableDigest(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:16])
}

// chunkPartitions lists the chunk partitions of a device.
func (cs *chunkStore) chunkPartitions(devDir string) ([]uint32, error) {
	ents, err := cs.st.fs.ReadDir(filepath.Join(devDir, chunksDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list chunk partitions: %w", err)
	}
	var out []uint32
	for _, e := range ents {
		if p, err := strconv.ParseUint(e.Name(), 10, 32); err == nil && e.IsDir() {
			out = append(out, uint32(p))
		}
	}
	return out, nil
}

// chunkHashes lists the name hashes of a partition's chunk files and tombstones, sorted.
func (cs *chunkStore) chunkHashes(devDir string, part uint32) ([]string, error) {
	ents, err := cs.st.fs.ReadDir(chunkPartDir(devDir, part))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list chunks: %w", err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		h, ok := strings.CutSuffix(n, chunkExt)
		if !ok {
			h, ok = strings.CutSuffix(n, tombExt)
		}
		if ok && validHash(h) {
			out = append(out, h)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// state returns what the node holds of the chunk with the given name hash. An open handle
// answers from memory; otherwise the files are read without opening a handle, which would
// fdatasync the file and push volumed's chunks out of the handle cache. Such a read may
// race a write; it only decides what to compare, never what to remove.
func (cs *chunkStore) state(dev, devDir string, part uint32, hash string) (chunkState, error) {
	if c := cs.acquireHash(dev, devDir, part, hash, true); c != nil {
		c.mu.RLock()
		st, ok := c.stateLocked()
		c.mu.RUnlock()
		cs.release(c)
		if ok {
			return st, nil
		}
	}
	path := chunkFilePath(devDir, part, hash)
	tomb, err := readTomb(cs.st.fs, tombPathOf(path))
	if errors.Is(err, client.ErrCorrupt) {
		tomb, err = chunkTomb{}, nil // as load does (which removes it)
	}
	if err != nil {
		return chunkState{}, err
	}
	dead := chunkState{name: tomb.name, deleted: tomb.gen != 0, fence: tomb.gen, at: tomb.at}
	f, err := cs.st.fs.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return dead, nil
	}
	if err != nil {
		return chunkState{}, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	hb := make([]byte, chunkHeaderSize)
	if _, err := f.ReadAt(hb, 0); err != nil && !errors.Is(err, io.EOF) {
		return chunkState{}, fmt.Errorf("read %s: %w", path, err)
	}
	hdr, _, err := decodeChunkHeader(hb)
	if err != nil {
		return chunkState{}, fmt.Errorf("%w: %s: %v", client.ErrCorrupt, path, err)
	}
	if tomb.gen != 0 && tomb.gen >= hdr.fence {
		return dead, nil // an interrupted delete; the next load finishes it
	}
	raw := make([]byte, hdr.blocks()*chunkEntrySize)
	if _, err := f.ReadAt(raw, chunkHeaderSize); err != nil {
		return chunkState{}, fmt.Errorf("read %s: %w", path, err)
	}
	st := chunkState{name: hdr.name, exists: true, fence: hdr.fence, size: hdr.chunkSize, digest: tableDigest(raw)}
	for _, e := range decodeTable(raw, hdr.blocks()) {
		st.version = max(st.version, e.seq)
	}
	return st, nil
}

// stateLocked is state from a loaded handle; ok is false if it is not loaded. Call with
// c.mu held.
func (c *openChunk) stateLocked() (chunkState, bool) {
	switch {
	case !c.loaded:
		return chunkState{}, false
	case !c.exists:
		return chunkState{name: c.tomb.name, deleted: c.tomb.gen != 0, fence: c.tomb.gen, at: c.tomb.at}, true
	}
	return chunkState{name: c.hdr.name, exists: true, fence: c.hdr.fence, version: c.hdr.version,
		size: c.hdr.chunkSize, digest: tableDigest(c.raw)}, true
}

// withHash runs f on the loaded handle of a name hash with its lock held for writing.
func (cs *chunkStore) withHash(dev, devDir string, part uint32, hash string, f func(c *openChunk) error) error {
	c := cs.acquireHash(dev, devDir, part, hash, false)
	defer cs.release(c)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.load(cs.st.fs); err != nil {
		return err
	}
	return f(c)
}

// newerBlocks returns the blocks (indexes) whose sequence here is higher than in peer
// (sequence by block index; nil: the peer holds nothing), and the chunk's state then.
func (cs *chunkStore) newerBlocks(dev, devDir string, part uint32, hash string, peer []uint64) ([]int, chunkState, error) {
	var out []int
	var st chunkState
	err := cs.withHash(dev, devDir, part, hash, func(c *openChunk) error {
		st, _ = c.stateLocked()
		if !c.exists {
			return nil
		}
		if c.broken != nil {
			return fmt.Errorf("%w: chunk %s: an earlier fsync failed", client.ErrInternal, c.path)
		}
		for i, e := range c.table {
			var held uint64
			if i < len(peer) {
				held = peer[i]
			}
			if e.seq > held || e.damaged() {
				out = append(out, i) // a damaged entry is counted torn by readBlocksAt
			}
		}
		return nil
	})
	return out, st, err
}

// readBlocksAt reads the given blocks (increasing indexes) under one lock, each with its
// sequence and data. Blocks torn here (data or entry failing its check) are left out and
// counted. name must be the chunk's.
func (cs *chunkStore) readBlocksAt(dev string, part uint32, name string, idx []int) ([]client.ChunkBlock, int, error) {
	var out []client.ChunkBlock
	torn := 0
	err := cs.withRead(dev, part, name, func(c *openChunk) error {
		for _, i := range idx {
			if i >= len(c.table) {
				break
			}
			e := c.table[i]
			b := client.ChunkBlock{Offset: int64(i) * chunkBlockSize, Sequence: e.seq, Zero: e.zero()}
			switch {
			case e.damaged():
				torn++
				continue
			case e.seq == 0:
				continue
			case !e.zero():
				b.Data = make([]byte, chunkBlockSize)
				if err := c.readBlocks(cs, i, b.Data); err != nil {
					var te *TornError
					if errors.As(err, &te) {
						torn++
						continue
					}
					return err
				}
			}
			out = append(out, b)
		}
		return nil
	})
	return out, torn, err
}

// removeMoved removes a handoff chunk that its primaries now hold, if its block table is
// still the one they were found to hold (digest): a write that landed since keeps it for
// the next pass. No tombstone: the chunk moved, it was not deleted.
func (cs *chunkStore) removeMoved(dev, devDir string, part uint32, hash, digest string) (bool, error) {
	removed := false
	err := cs.withHash(dev, devDir, part, hash, func(c *openChunk) error {
		if !c.exists || tableDigest(c.raw) != digest {
			return nil
		}
		if err := cs.st.fs.Remove(c.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", c.path, err)
		}
		if err := cs.st.syncDir(chunkPartDir(devDir, part)); err != nil {
			return fmt.Errorf("fsync %s: %w", chunkPartDir(devDir, part), err)
		}
		c.forget()
		removed = true
		return nil
	})
	return removed, err
}

// removeTomb removes the chunk's tombstone if it is still at generation gen and older than
// before (zero time: any age): a handoff's tombstone its primaries hold, or one past the
// reclaim age.
func (cs *chunkStore) removeTomb(dev, devDir string, part uint32, hash string, gen uint64, before time.Time) (bool, error) {
	removed := false
	err := cs.withHash(dev, devDir, part, hash, func(c *openChunk) error {
		if c.exists || c.tomb.gen != gen || !before.IsZero() && !c.tomb.at.Before(before) {
			return nil
		}
		if err := cs.st.fs.Remove(tombPathOf(c.path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", tombPathOf(c.path), err)
		}
		c.tomb = chunkTomb{}
		removed = true
		return nil
	})
	return removed, err
}

// removeEmptyChunkPartition removes a chunk partition directory if nothing is left in it.
func (cs *chunkStore) removeEmptyChunkPartition(devDir string, part uint32) {
	cs.st.fs.Remove(chunkPartDir(devDir, part)) // fails unless empty
}
