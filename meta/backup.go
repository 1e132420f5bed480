package meta

import (
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/hashicorp/raft"
)

// handleSnapshot streams a fresh snapshot of this node's state machine (a backup). It takes a
// Raft snapshot, which also compacts the log, and streams the stored copy.
func (s *Server) handleSnapshot(w http.ResponseWriter, r *http.Request) {
	if _, err := s.leaderAddr(); err != nil {
		s.reply(w, "snapshot", nil, err)
		return
	}
	fut := s.raft.Snapshot()
	if err := fut.Error(); err != nil && err != raft.ErrNothingNewToSnapshot {
		s.reply(w, "snapshot", nil, fmt.Errorf("take snapshot: %w", raftError(err)))
		return
	}
	var (
		meta *raft.SnapshotMeta
		rc   io.ReadCloser
		err  error
	)
	if fut.Error() == nil {
		meta, rc, err = fut.Open()
	} else {
		meta, rc, err = s.openLatestSnapshot()
	}
	if err != nil {
		s.reply(w, "snapshot", nil, fmt.Errorf("open snapshot: %w", err))
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(meta.Size, 10))
	w.Header().Set("Stratus-Meta-Snapshot-Index", strconv.FormatUint(meta.Index, 10))
	if _, err := io.Copy(w, rc); err != nil {
		s.log.Warn("backup stream interrupted", "err", err)
		return
	}
	s.m.requests.WithLabelValues("snapshot", "ok").Inc()
	s.log.Info("backup streamed", "index", meta.Index, "size", meta.Size)
}

// openLatestSnapshot opens the newest stored snapshot (when nothing changed since it).
func (s *Server) openLatestSnapshot() (*raft.SnapshotMeta, io.ReadCloser, error) {
	list, err := s.snaps.List()
	if err != nil {
		return nil, nil, err
	}
	if len(list) == 0 {
		return nil, nil, fmt.Errorf("no snapshot stored")
	}
	return s.snaps.Open(list[0].ID)
}

// handleRestore replaces the catalog with a backup. Leader only; not forwarded, because the
// body may be far larger than any request.
func (s *Server) handleRestore(w http.ResponseWriter, r *http.Request) {
	if !s.isLeader() {
		leader, err := s.leaderAddr()
		if err != nil {
			s.reply(w, "restore", nil, err)
			return
		}
		s.replyErr(w, "restore", leader, fmt.Errorf("%w: restore must be sent to the leader %s", ErrNotLeader, leader))
		return
	}
	if r.ContentLength <= 0 {
		s.reply(w, "restore", nil, fmt.Errorf("%w: restore needs a Content-Length", ErrBadRequest))
		return
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Size: r.ContentLength}
	if err := s.raft.Restore(meta, r.Body, 0); err != nil {
		s.reply(w, "restore", nil, fmt.Errorf("restore: %w", raftError(err)))
		return
	}
	s.log.Warn("catalog replaced from a backup", "size", r.ContentLength)
	s.reply(w, "restore", struct{}{}, nil)
}
