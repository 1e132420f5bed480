package objectd

import (
	"context"
	"errors"
	"time"

	"stratus/objectd/client"
)

// AuditReport says what one auditor pass did.
type AuditReport struct {
	Objects     int   // object files verified
	Bytes       int64 // content bytes re-read
	Quarantined int   // files found bad and quarantined
	Duration    time.Duration

	Chunks        int   // chunk files verified (chunkaudit.go)
	ChunkBytes    int64 // chunk block bytes re-read
	ChunkTorn     int   // chunk blocks found failing their checksum
	ChunkRepaired int   // of those, repaired from a peer
}

// AuditOnce re-reads every object file on every device at no more than AuditBytesPerSecond
// and verifies header and content checksums. Bad files are quarantined: they vanish from the
// object tree, their suffix hash changes, and the next replication pass of a peer that holds a
// good copy pushes it back.
func (s *Server) AuditOnce(ctx context.Context) (AuditReport, error) {
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	start := time.Now()
	var rep AuditReport
	devs, err := s.store.devices()
	if err != nil {
		return rep, err
	}
	limit := func(n int) error { return s.auditThrottle.wait(ctx, n) }
	for _, dev := range devs {
		devDir, err := s.store.devicePath(dev)
		if err != nil {
			continue
		}
		if err := s.auditChunks(ctx, dev, devDir, &rep, limit); err != nil {
			return rep, err
		}
		parts, err := s.store.partitions(devDir)
		if err != nil {
			return rep, err
		}
		for _, part := range parts {
			sfxs, err := s.store.suffixes(devDir, part)
			if err != nil {
				return rep, err
			}
			for _, sfx := range sfxs {
				es, err := s.store.suffixEntries(devDir, part, sfx)
				if err != nil {
					return rep, err
				}
				for _, e := range es {
					if err := ctx.Err(); err != nil {
						return rep, err
					}
					if e.v.kind != client.KindData {
						continue
					}
					o, err := s.store.openFile(dev, devDir, "", part, e.hash, e.v)
					if errors.Is(err, client.ErrCorrupt) {
						rep.Quarantined++
						continue
					}
					if err != nil {
						continue // replaced since the listing
					}
					err = s.store.verify(o, limit)
					o.f.Close()
					rep.Objects++
					s.m.auditObjects.Inc()
					switch {
					case errors.Is(err, client.ErrCorrupt):
						rep.Quarantined++
					case err != nil:
						return rep, err
					default:
						rep.Bytes += o.rec.Info.Length
						s.m.auditBytes.Add(float64(o.rec.Info.Length))
					}
				}
			}
		}
	}
	rep.Duration = time.Since(start)
	s.m.auditPassSecs.Observe(rep.Duration.Seconds())
	s.log.Info("audit pass", "objects", rep.Objects, "bytes", rep.Bytes, "quarantined", rep.Quarantined,
		"chunks", rep.Chunks, "chunk_bytes", rep.ChunkBytes, "chunk_blocks_torn", rep.ChunkTorn,
		"chunk_blocks_repaired", rep.ChunkRepaired, "dur", rep.Duration)
	return rep, nil
}
