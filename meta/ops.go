package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/raft"

	"stratus/internal/pki"
	"stratus/meta/client"
)

// maxOpsPerRequest bounds the ops of one atomic request.
const maxOpsPerRequest = 1000

// validateApply checks a write request against the schema before it is proposed.
func validateApply(req *client.ApplyRequest) error {
	if len(req.ID) == 0 || len(req.ID) > 64 {
		return fmt.Errorf("%w: request id is %d bytes, want 1 to 64", ErrBadRequest, len(req.ID))
	}
	if len(req.Ops) == 0 || len(req.Ops) > maxOpsPerRequest {
		return fmt.Errorf("%w: request has %d ops, want 1 to %d", ErrBadRequest, len(req.Ops), maxOpsPerRequest)
	}
	for i := range req.Ops {
		op := &req.Ops[i]
		spec, err := checkTableKey(op.Table, op.Key)
		if err != nil {
			return err
		}
		switch op.Kind {
		case client.OpPut:
			if len(op.Value) > spec.MaxValueBytes {
				return fmt.Errorf("%w: %s/%s value is %d bytes, limit %d", ErrValueTooLarge, op.Table, op.Key, len(op.Value), spec.MaxValueBytes)
			}
		case client.OpDelete, client.OpCheck:
			if len(op.Value) != 0 {
				return fmt.Errorf("%w: %s of %s/%s carries a value", ErrBadRequest, opName(op.Kind), op.Table, op.Key)
			}
		default:
			return fmt.Errorf("%w: op kind %d", ErrBadRequest, op.Kind)
		}
		if op.Cond > client.CondExists {
			return fmt.Errorf("%w: condition %d", ErrBadRequest, op.Cond)
		}
		if op.Kind == client.OpCheck && (op.Cond == client.CondNone || op.Cond == client.CondNewer) {
			return fmt.Errorf("%w: check of %s/%s needs a condition it can fail", ErrBadRequest, op.Table, op.Key)
		}
		if op.Cond == client.CondRangeEmpty && op.Kind != client.OpCheck {
			return fmt.Errorf("%w: a range condition on %s/%s is only for checks", ErrBadRequest, op.Table, op.Key)
		}
		if op.ReturnPrev && (spec.Sealed || op.Cond == client.CondRangeEmpty) {
			return fmt.Errorf("%w: %s/%s cannot return its previous record", ErrBadRequest, op.Table, op.Key)
		}
	}
	return nil
}

func opName(k client.OpKind) string {
	switch k {
	case client.OpPut:
		return "put"
	case client.OpDelete:
		return "delete"
	case client.OpCheck:
		return "check"
	}
	return fmt.Sprintf("op kind %d", k)
}

// checkTableKey validates a table name and a key (an empty key is allowed only as a prefix).
func checkTableKey(table, key string) (client.TableSpec, error) {
	spec, ok := client.LookupTable(table)
	if !ok {
		return spec, fmt.Errorf("%w %q", ErrUnknownTable, table)
	}
	if key == "" {
		return spec, fmt.Errorf("%w: empty key in table %s", ErrBadRequest, table)
	}
	if len(key) > client.MaxKeyBytes {
		return spec, fmt.Errorf("%w: key in table %s is %d bytes, limit %d", ErrKeyTooLarge, table, len(key), client.MaxKeyBytes)
	}
	if !utf8.ValidString(key) {
		return spec, fmt.Errorf("%w: key in table %s is not valid UTF-8", ErrBadRequest, table)
	}
	return spec, nil
}

// prepare validates a write and seals the values of sealed tables.
func (s *Server) prepare(req client.ApplyRequest) (client.ApplyRequest, error) {
	if err := validateApply(&req); err != nil {
		return req, err
	}
	ops := make([]client.Op, len(req.Ops))
	for i, op := range req.Ops {
		if spec, _ := client.LookupTable(op.Table); spec.Sealed && op.Kind == client.OpPut {
			op.Value = s.sealer.seal(op.Table, op.Key, op.Value)
		}
		ops[i] = op
	}
	req.Ops = ops
	return req, nil
}

func toResponse(o outcome) (client.ApplyResponse, error) {
	if o.err != nil {
		return client.ApplyResponse{}, o.err
	}
	if o.res.Err != nil {
		return client.ApplyResponse{}, o.res.Err
	}
	return client.ApplyResponse{Index: o.res.Index, Duplicate: o.res.Duplicate, Results: o.res.Results}, nil
}

// apply commits a write on the leader.
func (s *Server) apply(ctx context.Context, req client.ApplyRequest) (client.ApplyResponse, error) {
	req, err := s.prepare(req)
	if err != nil {
		return client.ApplyResponse{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ApplyTimeout)
	defer cancel()
	return toResponse(s.batcher.submit(ctx, s.stop, []client.ApplyRequest{req})[0])
}

// applyBatch commits independent writes on the leader; they usually share one log entry.
func (s *Server) applyBatch(ctx context.Context, b client.ApplyBatchRequest) (client.ApplyBatchResponse, error) {
	if len(b.Requests) == 0 || len(b.Requests) > client.MaxApplyBatch {
		return client.ApplyBatchResponse{}, fmt.Errorf("%w: batch has %d requests, want 1 to %d", ErrBadRequest, len(b.Requests), client.MaxApplyBatch)
	}
	out := client.ApplyBatchResponse{Results: make([]client.ApplyBatchResult, len(b.Requests))}
	var valid []client.ApplyRequest
	var where []int
	for i, req := range b.Requests {
		req, err := s.prepare(req)
		if err != nil {
			out.Results[i].Error = s.wireError(err, "")
			continue
		}
		valid = append(valid, req)
		where = append(where, i)
	}
	if len(valid) > 0 {
		ctx, cancel := context.WithTimeout(ctx, s.cfg.ApplyTimeout)
		defer cancel()
		for k, o := range s.batcher.submit(ctx, s.stop, valid) {
			resp, err := toResponse(o)
			if err != nil {
				out.Results[where[k]].Error = s.wireError(err, "")
			} else {
				out.Results[where[k]].Response = &resp
			}
		}
	}
	return out, nil
}

// linearize makes a following read linearizable, by the read-index method:
//
//  1. Once per term, before serving its first read, the leader waits for a Raft barrier. It
//     commits only after every entry of earlier terms (all that earlier leaders may have
//     acknowledged), and raft answers it only once the state machine has applied them.
//  2. Each read then confirms with a quorum that this node still leads (VerifyLeader, a
//     heartbeat round without disk writes), started after the read arrived.
//
// Writes this leader acknowledged are applied before their acknowledgment, and writes of
// earlier leaders are covered by step 1, so the read sees every write acknowledged before it
// began. A deposed leader fails step 2. Concurrent reads share each round.
func (s *Server) linearize(ctx context.Context) error {
	for {
		term := s.raft.CurrentTerm()
		if s.barrierTerm.Load() != term {
			if err := s.barrier.wait(ctx, s.stop); err != nil {
				return err
			}
			// Recording an older term than the barrier's only costs one more barrier.
			s.barrierTerm.Store(term)
		}
		if err := s.verify.wait(ctx, s.stop); err != nil {
			return err
		}
		// Terms only grow: an unchanged term means the check confirmed the leadership whose
		// barrier is done, not a later one that has not had its barrier yet.
		if s.raft.CurrentTerm() == term {
			return nil
		}
	}
}

// openItem decrypts the value of a sealed table.
func (s *Server) openItem(it *client.Item) error {
	if spec, _ := client.LookupTable(it.Table); !spec.Sealed {
		return nil
	}
	v, err := s.sealer.open(it.Table, it.Key, it.Value)
	if err != nil {
		return err
	}
	it.Value = v
	return nil
}

// get reads one key; the caller has linearized if needed.
func (s *Server) get(req client.GetRequest) (client.GetResponse, error) {
	if _, err := checkTableKey(req.Table, req.Key); err != nil {
		return client.GetResponse{}, err
	}
	it, applied, err := s.fsm.get(req.Table, req.Key)
	if err != nil {
		return client.GetResponse{}, err
	}
	if err := s.openItem(&it); err != nil {
		return client.GetResponse{}, err
	}
	if err := redact(&it); err != nil {
		return client.GetResponse{}, err
	}
	return client.GetResponse{Item: it, Index: applied}, nil
}

// secret returns one access key with its secret, to a proxy verifying a signature; the
// caller has linearized. Every call is logged: secrets leave the catalog only here.
func (s *Server) secret(p pki.Peer, req client.SecretRequest) (client.AccessKey, error) {
	var k client.AccessKey
	if _, err := checkTableKey(client.TableAccessKeys, req.AccessKey); err != nil {
		return k, err
	}
	it, _, err := s.fsm.get(client.TableAccessKeys, req.AccessKey)
	if err == nil {
		err = s.openItem(&it)
	}
	if err == nil {
		err = json.Unmarshal(it.Value, &k)
	}
	result := "ok"
	if errors.Is(err, ErrNotFound) {
		result = "not_found"
	} else if err != nil {
		result = "error"
	}
	if p.Role != pki.RoleMeta { // a forwarded call was logged where it arrived
		s.m.secretReads.WithLabelValues(string(p.Role), result).Inc()
		s.log.Info("secret read", "caller", p.String(), "access_key", req.AccessKey, "result", result)
	}
	return k, err
}

// list reads a key range; the caller has linearized if needed.
func (s *Server) list(req client.ListRequest) (client.ListResponse, error) {
	if _, ok := client.LookupTable(req.Table); !ok {
		return client.ListResponse{}, fmt.Errorf("%w %q", ErrUnknownTable, req.Table)
	}
	if req.Limit < 0 {
		return client.ListResponse{}, fmt.Errorf("%w: limit %d is negative", ErrBadRequest, req.Limit)
	}
	if req.Limit == 0 || req.Limit > client.MaxListLimit {
		req.Limit = client.MaxListLimit
	}
	if len(req.Delimiter) > client.MaxKeyBytes {
		return client.ListResponse{}, fmt.Errorf("%w: delimiter is %d bytes, limit %d", ErrBadRequest, len(req.Delimiter), client.MaxKeyBytes)
	}
	items, more, applied, err := s.fsm.list(req.Table, req.Prefix, req.After, req.Delimiter, req.Limit)
	if err != nil {
		return client.ListResponse{}, err
	}
	for i := range items {
		if err := s.openItem(&items[i]); err != nil {
			return client.ListResponse{}, err
		}
		if err := redact(&items[i]); err != nil {
			return client.ListResponse{}, err
		}
	}
	if items == nil {
		items = []client.Item{}
	}
	return client.ListResponse{Items: items, More: more, Index: applied}, nil
}

// watch long-polls this node's change history. It is served by any member without a leader
// check: the events say only that something changed, and the caller reads the new values.
func (s *Server) watch(ctx context.Context, req client.WatchRequest) (client.WatchResponse, error) {
	if _, ok := client.LookupTable(req.Table); !ok {
		return client.WatchResponse{}, fmt.Errorf("%w %q", ErrUnknownTable, req.Table)
	}
	timer := time.NewTimer(watchWait(req.WaitSeconds))
	defer timer.Stop()
	for {
		events, applied, resync, wake := s.fsm.feed.since(req.Table, req.Prefix, req.After)
		if resync || len(events) > 0 {
			return client.WatchResponse{Index: applied, Events: events, Resync: resync}, nil
		}
		select {
		case <-wake:
		case <-timer.C:
			return client.WatchResponse{Index: max(applied, req.After), Events: []client.Event{}}, nil
		case <-ctx.Done():
			return client.WatchResponse{}, fmt.Errorf("watch: %w", ErrUnavailable)
		case <-s.stop:
			return client.WatchResponse{}, ErrClosed
		}
	}
}

// watchWait is how long a watch asking for seconds waits: none for 0 or less, at most
// MaxWatchWait.
func watchWait(seconds float64) time.Duration {
	switch {
	case !(seconds > 0):
		return 0
	case seconds >= client.MaxWatchWait.Seconds():
		return client.MaxWatchWait
	}
	return time.Duration(seconds * float64(time.Second))
}

// join adds a voter; the caller is the leader.
func (s *Server) join(req client.JoinRequest) error {
	if req.ID == "" || req.Addr == "" {
		return fmt.Errorf("%w: join needs an id and an addr", ErrBadRequest)
	}
	if err := s.raft.AddVoter(raft.ServerID(req.ID), raft.ServerAddress(req.Addr), 0, s.cfg.ApplyTimeout).Error(); err != nil {
		return fmt.Errorf("add voter %s: %w", req.ID, raftError(err))
	}
	s.log.Info("voter added", "member", req.ID, "addr", req.Addr)
	return nil
}

// remove removes a server; the caller is the leader.
func (s *Server) remove(req client.RemoveRequest) error {
	fut := s.raft.GetConfiguration()
	if err := fut.Error(); err != nil {
		return raftError(err)
	}
	found := false
	for _, srv := range fut.Configuration().Servers {
		found = found || srv.ID == raft.ServerID(req.ID)
	}
	if !found {
		return fmt.Errorf("%w: no server %q in the configuration", ErrNotMember, req.ID)
	}
	if err := s.raft.RemoveServer(raft.ServerID(req.ID), 0, s.cfg.ApplyTimeout).Error(); err != nil {
		return fmt.Errorf("remove server %s: %w", req.ID, raftError(err))
	}
	s.log.Info("server removed", "member", req.ID)
	return nil
}

// status describes this node.
func (s *Server) status() client.Status {
	leaderAddr, leaderID := s.raft.LeaderWithID()
	applied, _ := s.fsm.feed.state()
	st := client.Status{
		ID:           s.cfg.NodeID,
		Addr:         s.addr,
		State:        s.raft.State().String(),
		LeaderID:     string(leaderID),
		LeaderAddr:   string(leaderAddr),
		Term:         s.raft.CurrentTerm(),
		CommitIndex:  s.raft.CommitIndex(),
		AppliedIndex: applied,
		Members:      []client.Member{},
	}
	var snap uint64
	fmt.Sscan(s.raft.Stats()["last_snapshot_index"], &snap)
	st.LastSnapshotIndex = snap
	if fut := s.raft.GetConfiguration(); fut.Error() == nil {
		for _, srv := range fut.Configuration().Servers {
			st.Members = append(st.Members, client.Member{
				ID: string(srv.ID), Addr: string(srv.Address), Suffrage: srv.Suffrage.String(), Leader: srv.ID == leaderID,
			})
		}
	}
	return st
}
