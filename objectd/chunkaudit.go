package objectd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"stratus/objectd/client"
	"stratus/ring"
)

// The chunk auditor: re-reads every chunk at the audit rate and checks every block's data
// against the CRC-32C in its table. A block that fails (torn by a crash, or rotted) is
// repaired from a primary that holds the same sequence or a newer one. The chunk file is not
// quarantined, as an object file is: its other blocks are good, and they may be the only
// current copy of writes a peer missed.

// auditRun bounds the data blocks read at once (256 KiB).
const auditRun = 64

// tornBlock is a block found torn under the chunk's lock.
type tornBlock struct {
	block int
	seq   uint64 // 0 if the table entry itself is damaged
}

// auditChunks verifies the chunks of one device and repairs what fails.
func (s *Server) auditChunks(ctx context.Context, dev, devDir string, rep *AuditReport, limit func(int) error) error {
	parts, err := s.chunks.chunkPartitions(devDir)
	if err != nil {
		return err
	}
	for _, part := range parts {
		hashes, err := s.chunks.chunkHashes(devDir, part)
		if err != nil {
			return err
		}
		for _, h := range hashes {
			if err := ctx.Err(); err != nil {
				return err
			}
			name, fence, suspects, n, err := s.chunks.scanChunk(devDir, part, h, limit)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				// One unreadable chunk (a header that fails its check, a disk error) must
				// not keep the others from being audited.
				msg := "chunk unreadable by the auditor"
				if errors.Is(err, client.ErrCorrupt) {
					msg = "chunk header fails its check; the chunk answers 500 until deleted"
				}
				s.log.Warn(msg, "device", dev, "partition", part, "hash", h, "err", err)
				continue
			}
			if name == "" {
				continue // a tombstone, or removed since the listing
			}
			rep.Chunks++
			rep.ChunkBytes += n
			s.m.auditChunks.Inc()
			s.m.auditBytes.Add(float64(n))
			if len(suspects) == 0 {
				continue
			}
			torn, err := s.chunks.confirmTorn(dev, part, name, suspects)
			if err != nil {
				s.log.Warn("recheck of chunk blocks failed", "device", dev, "chunk", name, "err", err)
				continue
			}
			rep.ChunkTorn += len(torn)
			s.m.auditChunkTorn.Add(float64(len(torn)))
			fixed := s.repairTorn(ctx, dev, part, name, fence, torn)
			rep.ChunkRepaired += fixed
			s.m.auditChunkRepaired.Add(float64(fixed))
			if fixed < len(torn) {
				s.log.Warn("torn chunk blocks left unrepaired: no primary holds their sequence or a newer one", "device", dev,
					"chunk", name, "torn", len(torn), "repaired", fixed)
			}
		}
	}
	return nil
}

// scanChunk reads a chunk file (not through its handle, so the audit neither fsyncs it nor
// evicts volumed's open chunks) and returns its name and fence, the blocks whose data or
// table entry fails its check, and the data bytes read. A concurrent write can make a good
// block look torn here; confirmTorn checks again under the lock. A missing file (a
// tombstone, or deleted since) has no name.
func (cs *chunkStore) scanChunk(devDir string, part uint32, hash string, limit func(int) error) (string, uint64, []int, int64, error) {
	path := chunkFilePath(devDir, part, hash)
	f, err := cs.st.fs.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return "", 0, nil, 0, nil
	}
	if err != nil {
		return "", 0, nil, 0, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	hb := make([]byte, chunkHeaderSize)
	if _, err := f.ReadAt(hb, 0); err != nil && !errors.Is(err, io.EOF) {
		return "", 0, nil, 0, fmt.Errorf("read %s: %w", path, err)
	}
	hdr, _, err := decodeChunkHeader(hb)
	if err != nil {
		return "", 0, nil, 0, fmt.Errorf("%w: %s: %v", client.ErrCorrupt, path, err)
	}
	raw := make([]byte, hdr.blocks()*chunkEntrySize)
	if _, err := f.ReadAt(raw, chunkHeaderSize); err != nil {
		return "", 0, nil, 0, fmt.Errorf("read %s: %w", path, err)
	}
	table := decodeTable(raw, hdr.blocks())
	dataOff := chunkDataOffset(hdr.chunkSize)
	var suspects []int
	var read int64
	buf := make([]byte, auditRun*chunkBlockSize)
	isData := func(e blockEntry) bool { return e.seq != 0 && e.flags == 0 }
	for i := 0; i < len(table); {
		if table[i].damaged() {
			suspects = append(suspects, i)
		}
		if !isData(table[i]) {
			i++
			continue
		}
		j := i + 1
		for j < len(table) && j-i < auditRun && isData(table[j]) {
			j++
		}
		p := buf[:(j-i)*chunkBlockSize]
		if err := limit(len(p)); err != nil {
			return "", 0, nil, 0, err
		}
		k, err := f.ReadAt(p, dataOff+int64(i)*chunkBlockSize)
		if err != nil && !errors.Is(err, io.EOF) {
			// A disk error (a bad sector): every block of the run is suspect, and
			// confirmTorn reads them one by one.
			for b := i; b < j; b++ {
				suspects = append(suspects, b)
			}
			i = j
			continue
		}
		clear(p[k:])
		read += int64(len(p))
		for b := i; b < j; b++ {
			if uint32(client.ChecksumOf(p[(b-i)*chunkBlockSize:(b-i+1)*chunkBlockSize])) != table[b].crc {
				suspects = append(suspects, b)
			}
		}
		i = j
	}
	return hdr.name, hdr.fence, suspects, read, nil
}

// confirmTorn checks the suspect blocks again under the chunk's lock and returns those still
// torn.
func (cs *chunkStore) confirmTorn(dev string, part uint32, name string, suspects []int) ([]tornBlock, error) {
	var out []tornBlock
	err := cs.withRead(dev, part, name, func(c *openChunk) error {
		buf := make([]byte, chunkBlockSize)
		for _, i := range suspects {
			if i >= len(c.table) {
				continue
			}
			e := c.table[i]
			switch {
			case e.damaged():
				out = append(out, tornBlock{block: i})
				continue
			case e.seq == 0 || e.zero():
				continue
			}
			// Torn, or unreadable (a disk error): either way it cannot be served, and a
			// repair rewrites it (a rewritten sector is usually remapped by the disk).
			if err := c.readBlocks(cs, i, buf); err != nil {
				out = append(out, tornBlock{block: i, seq: e.seq})
			}
		}
		return nil
	})
	return out, err
}

// repairTorn copies each torn block from a primary that holds its sequence or a newer one,
// and returns how many were repaired.
func (s *Server) repairTorn(ctx context.Context, dev string, part uint32, name string, fence uint64, torn []tornBlock) int {
	r := s.ring.Load()
	if r == nil {
		return 0
	}
	self := s.self()
	var peers []client.Target
	for _, d := range r.Primaries(ring.Partition(part), nil) {
		if d.Host == self && d.Name == dev {
			continue
		}
		peers = append(peers, client.Target{Host: d.Host, Device: d.Name, Partition: part})
	}
	fixed := 0
	for _, tb := range torn {
		since := uint64(0)
		if tb.seq > 0 {
			since = tb.seq - 1 // blocks above since: the same sequence or newer
		}
		for _, t := range peers {
			pctx, cancel := s.peerCtx(ctx)
			blocks, _, err := s.peers.ReadChunkBlocks(pctx, t, name, int64(tb.block)*chunkBlockSize, chunkBlockSize, since)
			cancel()
			if err != nil || len(blocks) != 1 || blocks[0].Sequence < tb.seq {
				continue // the peer lacks it, holds it torn too, or is down: try the next
			}
			// Applied, or skipped because a newer write replaced the block meanwhile: whole
			// again either way.
			if _, err := s.chunks.repair(dev, part, chunkChange{name: name, generation: fence}, blocks); err != nil {
				s.log.Warn("repair of a torn chunk block failed", "device", dev, "chunk", name,
					"offset", int64(tb.block)*chunkBlockSize, "err", err)
				break
			}
			fixed++
			break
		}
	}
	return fixed
}
