package objectd

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"stratus/objectd/client"
	"stratus/ring"
)

// ReplicationReport says what one replication pass did.
type ReplicationReport struct {
	Partitions      int           // partitions compared with their peers
	Objects         int           // versions pushed
	Bytes           int64         // bytes of object files pushed
	HandoffsRemoved int           // handoff partitions emptied after reaching every primary
	Errors          int           // failed exchanges with peers (retried next pass)
	Duration        time.Duration // wall time of the pass

	// Chunks (chunkrepl.go).
	ChunkPartitions    int   // chunk partitions compared with their peers
	Chunks             int   // chunks and chunk tombstones compared
	ChunksRepaired     int   // (chunk, peer) pairs that took at least one block
	ChunkBlocks        int   // blocks applied by peers (not skipped as held newer)
	ChunkBytes         int64 // block data bytes pushed
	ChunkTombstones    int   // chunk tombstones handed on to peers
	ChunksDeleted      int   // local chunks deleted because a peer held a newer delete
	ChunkHandoffsMoved int   // handoff chunks and tombstones removed once every primary held them
	ChunkTombsReaped   int   // chunk tombstones removed after the reclaim age
}

// fullRehashOneIn is the odds that a pass lists a partition in full instead of trusting its
// cached suffix hashes.
const fullRehashOneIn = 10

// replJob is one partition of one local device.
type replJob struct {
	dev    *ring.Device
	devDir string
	part   uint32
	chunks bool // the partition's chunks (chunkrepl.go), not its objects
}

// passCounters accumulates a pass's report, and its warnings, across workers.
type passCounters struct {
	parts, objects, handoffs, errors atomic.Int64
	bytes                            atomic.Int64
	chunkParts, chunks, chunkRepaired, chunkBlocks, chunkBytes,
	chunkTombs, chunkDeleted, chunkHandoffs, chunkReaped atomic.Int64
	warn passWarnings
}

// ReplicateOnce runs one replication pass over every partition on this node's devices in the
// ring. For a partition the device is primary for, it compares suffix hashes with the other
// primaries and pushes the versions they lack or hold older. For any other partition (a
// handoff, or one the ring moved away), it pushes everything to the primaries and, once all
// of them hold it, removes the local copy. Peers push to this node in their own passes, so
// every pair converges. Errors with single peers are counted and retried next pass; the
// error returned is for the pass as a whole.
func (s *Server) ReplicateOnce(ctx context.Context) (ReplicationReport, error) {
	r := s.ring.Load()
	if r == nil {
		return ReplicationReport{}, ErrNoRing
	}
	s.replMu.Lock()
	defer s.replMu.Unlock()
	start := time.Now()
	clockStart := s.store.now() // the node's clock, which metrics read (Config.Now)

	self := s.self()
	var c passCounters
	var jobs []replJob
	mine := 0
	for _, d := range r.Devices() {
		if d.Host != self {
			continue
		}
		mine++
		devDir, err := s.store.devicePath(d.Name)
		if err != nil {
			if n, ok := s.replWarnings.allow("skipped\x00"+d.Name, 1); ok {
				s.log.Warn("device skipped by replicator", "device", d.Name, "unlogged_since_last_line", n, "err", err)
			}
			continue
		}
		parts, err := s.store.partitions(devDir)
		if err != nil {
			return ReplicationReport{}, err
		}
		for _, p := range parts {
			if int(p) >= r.PartitionCount() {
				c.warn.add(replWarning{msg: warnOutsideRing, attr: "device", subject: d.Name}, 0,
					fmt.Sprintf("%s/%d", d.Name, p), nil)
				continue
			}
			jobs = append(jobs, replJob{dev: d, devDir: devDir, part: p})
		}
		chunkParts, err := s.chunks.chunkPartitions(devDir)
		if err != nil {
			return ReplicationReport{}, err
		}
		for _, p := range chunkParts {
			if int(p) >= r.PartitionCount() {
				c.warn.add(replWarning{msg: warnOutsideRing, attr: "device", subject: d.Name}, 0,
					fmt.Sprintf("%s/chunks/%d", d.Name, p), nil)
				continue
			}
			jobs = append(jobs, replJob{dev: d, devDir: devDir, part: p, chunks: true})
		}
	}

	if mine == 0 {
		if n, ok := s.replWarnings.allow("no device", 1); ok {
			s.log.Warn("no ring device is on this node: is advertise_addr the address the ring names?",
				"advertise", self, "ring_version", r.Version(), "unlogged_since_last_line", n)
		}
	}
	work := make(chan replJob)
	var wg sync.WaitGroup
	for range s.cfg.ReplicationConcurrency {
		wg.Go(func() {
			for j := range work {
				if j.chunks {
					s.replicateChunkPartition(ctx, r, j, &c)
				} else {
					s.replicatePartition(ctx, r, j, &c)
				}
			}
		})
	}
feed:
	for _, j := range jobs {
		select {
		case work <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if ctx.Err() == nil {
		// An interrupted pass says nothing of the partitions it did not reach.
		s.repl.passEnded(clockStart, s.store.now(), c.warn.failedExchanges())
	}
	c.warn.flush(s.log, s.replWarnings)

	rep := ReplicationReport{Partitions: int(c.parts.Load()), Objects: int(c.objects.Load()),
		Bytes: c.bytes.Load(), HandoffsRemoved: int(c.handoffs.Load()), Errors: int(c.errors.Load()),
		Duration:        time.Since(start),
		ChunkPartitions: int(c.chunkParts.Load()), Chunks: int(c.chunks.Load()),
		ChunksRepaired: int(c.chunkRepaired.Load()), ChunkBlocks: int(c.chunkBlocks.Load()),
		ChunkBytes: c.chunkBytes.Load(), ChunkTombstones: int(c.chunkTombs.Load()),
		ChunksDeleted: int(c.chunkDeleted.Load()), ChunkHandoffsMoved: int(c.chunkHandoffs.Load()),
		ChunkTombsReaped: int(c.chunkReaped.Load())}
	s.m.replPasses.Inc()
	s.m.replErrors.Add(float64(rep.Errors))
	s.m.replPassSeconds.Observe(rep.Duration.Seconds())
	s.log.Info("replication pass", "ring_version", r.Version(), "partitions", rep.Partitions,
		"objects_pushed", rep.Objects, "bytes_pushed", rep.Bytes, "handoffs_removed", rep.HandoffsRemoved,
		"errors", rep.Errors, "chunk_partitions", rep.ChunkPartitions, "chunks", rep.Chunks,
		"chunks_repaired", rep.ChunksRepaired, "chunk_blocks_pushed", rep.ChunkBlocks,
		"chunk_tombstones_pushed", rep.ChunkTombstones, "chunks_deleted", rep.ChunksDeleted,
		"chunk_handoffs_moved", rep.ChunkHandoffsMoved, "dur", rep.Duration)
	return rep, ctx.Err()
}

func (j replJob) String() string { return fmt.Sprintf("%s/%d", j.dev.Name, j.part) }

// replicatePartition syncs one local partition to the primaries.
func (s *Server) replicatePartition(ctx context.Context, r *ring.Ring, j replJob, c *passCounters) {
	c.parts.Add(1)
	s.m.replParts.Inc()
	primary := r.IsPrimary(ring.Partition(j.part), j.dev.ID)
	if rand.N(fullRehashOneIn) == 0 {
		// A safety net, as in Swift: list the partition in full now and then, in case its
		// files changed behind the cache's back (an operator, a restored backup).
		s.store.hashes.forget(j.dev.Name, j.part)
	}
	local, err := s.store.suffixHashes(j.dev.Name, j.part)
	if err != nil {
		c.warn.localFailed(j.dev.Name, j.String(), fmt.Errorf("hash partition: %w", err))
		c.errors.Add(1)
		return
	}
	if len(local) == 0 {
		if !primary {
			s.store.removeEmptyPartition(j.dev.Name, j.devDir, j.part)
		}
		return
	}
	// The versions offered, by suffix. For a handoff, everything: what is removed afterwards
	// must be exactly what every primary confirmed, so no suffix is skipped on the strength
	// of a hash that may have changed since.
	entries := map[string][]entry{}
	// future holds versions dated too far ahead of this node's clock (data from before the
	// bound was enforced, or a clock that was wrong): never offered, so never spread, and
	// a handoff holding one is not removed.
	var future []entry
	list := func(sfx string) ([]entry, error) {
		if es, ok := entries[sfx]; ok {
			return es, nil
		}
		es, err := s.store.suffixEntries(j.devDir, j.part, sfx)
		es = slices.DeleteFunc(es, func(e entry) bool {
			if s.store.checkSkew(e.v.ts) != nil {
				future = append(future, e)
				return true
			}
			return false
		})
		entries[sfx] = es
		return es, err
	}
	defer func() {
		if len(future) > 0 {
			c.warn.add(replWarning{msg: warnFuture, attr: "device", subject: j.dev.Name, unit: warnUnitVersions},
				len(future), j.String()+"/"+future[0].hash, s.store.checkSkew(future[0].v.ts))
		}
	}()
	allOK := true
	for _, peer := range r.Primaries(ring.Partition(j.part), nil) {
		if peer.ID == j.dev.ID {
			continue
		}
		t := client.Target{Host: peer.Host, Device: peer.Name, Partition: j.part}
		suffixes := slices.Sorted(maps.Keys(local))
		if primary {
			pctx, cancel := s.peerCtx(ctx)
			remote, err := s.peers.SuffixHashes(pctx, t)
			cancel()
			if err != nil {
				c.warn.peerFailed(t.String(), t.Host, err)
				c.errors.Add(1)
				allOK = false
				continue
			}
			suffixes = slices.DeleteFunc(suffixes, func(sfx string) bool { return remote[sfx] == local[sfx] })
		}
		var offers []client.Offer
		byHash := map[string]entry{}
		for _, sfx := range suffixes {
			es, err := list(sfx)
			if err != nil {
				c.warn.localFailed(j.dev.Name, j.String(), fmt.Errorf("list suffix %s: %w", sfx, err))
				c.errors.Add(1)
				return
			}
			for _, e := range es {
				offers = append(offers, client.Offer{Hash: e.hash, Timestamp: e.v.ts})
				byHash[e.hash] = e
			}
		}
		pending, err := s.syncPeer(ctx, j, t, offers, byHash, c)
		if err != nil {
			c.warn.peerFailed(t.String(), t.Host, err)
			c.errors.Add(1)
			allOK = false
		}
		if pending > 0 {
			// Another pusher is delivering these, or the peer refused them; a handoff keeps
			// its copy until a later pass finds them delivered.
			allOK = false
		}
	}
	if primary || !allOK || len(future) > 0 || ctx.Err() != nil {
		return
	}
	for _, es := range entries {
		for _, e := range es {
			if err := s.store.removeSynced(j.dev.Name, j.devDir, j.part, e.hash, e.v.ts); err != nil {
				c.warn.localFailed(j.dev.Name, j.String(), fmt.Errorf("remove handoff copy: %w", err))
				return
			}
		}
	}
	s.store.removeEmptyPartition(j.dev.Name, j.devDir, j.part)
	c.handoffs.Add(1)
	s.m.replHandoffs.Inc()
	s.log.Info("handoff partition delivered to primaries", "device", j.dev.Name, "partition", j.part,
		"objects", countEntries(entries))
}

func countEntries(m map[string][]entry) int {
	n := 0
	for _, es := range m {
		n += len(es)
	}
	return n
}

// missingBatch bounds the offers in one missing check.
const missingBatch = 4096

// syncPeer offers versions to a peer and pushes the ones it wants, in one streamed request
// per batch. It returns how many the peer still lacks: expected from another pusher, or
// refused as dated too far ahead of its clock.
func (s *Server) syncPeer(ctx context.Context, j replJob, t client.Target, offers []client.Offer, byHash map[string]entry, c *passCounters) (pending int, err error) {
	for len(offers) > 0 {
		batch := offers[:min(len(offers), missingBatch)]
		offers = offers[len(batch):]
		pctx, cancel := s.peerCtx(ctx)
		resp, err := s.peers.Missing(pctx, t, batch)
		cancel()
		if err != nil {
			return pending, err
		}
		pending += len(resp.Pending)
		for want := resp.Want; len(want) > 0; {
			var refused int
			want, refused, err = s.pushSome(ctx, j, t, want, byHash, c)
			if refused > 0 {
				c.warn.add(replWarning{msg: warnPeerRefused, attr: "peer", subject: t.Host, unit: warnUnitVersions},
					refused, t.String(), nil)
				pending += refused
			}
			if err != nil {
				return pending, err
			}
		}
	}
	return pending, nil
}

// pushStreamBytes bounds one push request, so that each fits in the replication timeout even
// when the bandwidth cap is low; a larger set goes in several requests.
const pushStreamBytes = 256 << 20

// pushSome pushes wanted versions in one request until about pushStreamBytes have gone, and
// returns the ones left and how many the peer refused.
func (s *Server) pushSome(ctx context.Context, j replJob, t client.Target, want []string, byHash map[string]entry, c *passCounters) (left []string, refused int, err error) {
	var sent int64
	done := 0
	pctx, cancel := s.peerCtx(ctx)
	defer cancel()
	res, err := s.peers.Push(pctx, t, func(w io.Writer) error {
		for _, h := range want {
			if sent >= pushStreamBytes {
				return nil
			}
			e, ok := byHash[h]
			if !ok {
				return fmt.Errorf("peer wants %s, which was not offered", h)
			}
			n, err := s.pushFile(pctx, j, e, w)
			if err != nil {
				return err
			}
			sent += n
			done++
		}
		return nil
	})
	c.objects.Add(int64(res.Stored))
	c.bytes.Add(sent)
	s.m.replObjects.Add(float64(res.Stored))
	s.m.replBytes.Add(float64(sent))
	if err != nil {
		return nil, res.Refused, err
	}
	if res.Err != "" {
		return nil, res.Refused, fmt.Errorf("peer stopped the push after %d records: %s", res.Stored+res.Skipped+res.Refused, res.Err)
	}
	return want[done:], res.Refused, nil
}

// pushFile writes one version file to w, paced by the replication throttle. The content is
// checked on the way; a bad file is quarantined and the stream aborted, so the peer drops the
// partial record.
func (s *Server) pushFile(ctx context.Context, j replJob, e entry, w io.Writer) (int64, error) {
	o, err := s.store.openFile(j.dev.Name, j.devDir, "", j.part, e.hash, e.v)
	if err != nil {
		return 0, err
	}
	defer o.f.Close()
	hdr := make([]byte, o.rec.HeaderLen)
	if _, err := o.f.ReadAt(hdr, o.base); err != nil {
		return 0, fmt.Errorf("read %s: %w", o.file, err)
	}
	if _, err := w.Write(hdr); err != nil {
		return 0, err
	}
	bp := getBuf()
	defer putBuf(bp)
	sr := o.content(0, o.rec.Info.Length)
	var sum client.Checksum
	for {
		n, err := sr.Read(*bp)
		if n > 0 {
			if err := s.replThrottle.wait(ctx, n); err != nil {
				return 0, err
			}
			sum = sum.Update((*bp)[:n])
			if _, err := w.Write((*bp)[:n]); err != nil {
				return 0, err
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", o.file, err)
		}
	}
	if sum != o.rec.Info.Checksum {
		reason := fmt.Sprintf("content checksum %v, header %v", sum, o.rec.Info.Checksum)
		s.store.quarantine(o, reason)
		return 0, fmt.Errorf("%w: %s", client.ErrCorrupt, reason)
	}
	return o.rec.HeaderLen + o.rec.Info.Length, nil
}

// peerCtx returns a context bounded by the replication timeout.
func (s *Server) peerCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.ReplicationTimeout)
}
