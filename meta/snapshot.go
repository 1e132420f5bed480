package meta

import (
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
)

// fsmSnapshot streams a consistent copy of the state machine's database from a read
// transaction. Writes continue while it streams: bbolt readers do not block the writer, except
// when the database must grow past its memory map (see Config.FSMMmapBytes).
type fsmSnapshot struct {
	tx   *bolt.Tx
	done func()
	m    *metrics
}

// Persist implements raft.FSMSnapshot.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	start := time.Now()
	n, err := s.tx.WriteTo(sink)
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("write snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("close snapshot: %w", err)
	}
	s.m.snapshotSeconds.Observe(time.Since(start).Seconds())
	s.m.snapshotBytes.Set(float64(n))
	return nil
}

// Release implements raft.FSMSnapshot.
func (s *fsmSnapshot) Release() {
	if s.tx != nil {
		_ = s.tx.Rollback()
		s.tx = nil
		s.done()
	}
}
