package meta

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"

	"stratus/meta/client"
)

// Internal buckets of the state machine. Their names start with "_" so they can never clash
// with a table. Used on disk; never rename.
var (
	bucketState    = []byte("_state")     // "applied" → last applied Raft index (8 bytes BE)
	bucketRequests = []byte("_requests")  // request ID → dedup record
	bucketReqTime  = []byte("_req_by_ts") // batch time (8 bytes BE) ‖ request ID → nothing
	keyApplied     = []byte("applied")
)

// maxPrunePerEntry bounds the expired request IDs removed per log entry, so pruning never
// makes one apply slow.
const maxPrunePerEntry = 4096

// applyResult is what the state machine returns for one request.
type applyResult struct {
	Index     uint64
	Duplicate bool
	Results   []client.OpResult
	Err       error // ErrConflict, or ErrCorruptEntry for an undecodable entry
}

// fsm is the replicated state machine: every table is a bbolt bucket of records.
//
// Raft calls ApplyBatch, Snapshot and Restore from one goroutine; reads run concurrently on
// other goroutines. The database file is rebuilt at every start (raft restores the latest
// snapshot and replays the log), so it is opened without fsync: its durability is the log's.
type fsm struct {
	path        string
	mmapBytes   int
	dedupWindow time.Duration
	log         *slog.Logger
	feed        *feed
	m           *metrics

	mu sync.RWMutex // write-held only while Restore swaps db
	db *bolt.DB
}

func newFSM(dir string, cfg Config, log *slog.Logger, m *metrics) (*fsm, error) {
	f := &fsm{
		path:        filepath.Join(dir, "fsm.db"),
		mmapBytes:   cfg.FSMMmapBytes,
		dedupWindow: cfg.DedupWindow,
		log:         log,
		feed:        newFeed(cfg.WatchHistory),
		m:           m,
	}
	if err := os.Remove(f.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale state machine: %w", err)
	}
	db, err := f.open(f.path)
	if err != nil {
		return nil, err
	}
	f.db = db
	return f, nil
}

func (f *fsm) open(path string) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:         time.Second,
		NoSync:          true,
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: f.mmapBytes,
	})
	if err != nil {
		return nil, fmt.Errorf("open state machine %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketState, bucketRequests, bucketReqTime} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		for _, t := range client.Tables {
			if _, err := tx.CreateBucketIfNotExists([]byte(t.Name)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("create tables in %s: %w", path, err)
	}
	return db, nil
}

// Close closes the database.
func (f *fsm) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.db.Close()
}

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) interface{} { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch implements raft.BatchingFSM: all entries of the batch share one bbolt
// transaction. It returns a []applyResult (one per request) for each command entry.
func (f *fsm) ApplyBatch(logs []*raft.Log) []interface{} {
	out := make([]interface{}, len(logs))
	var changes []change
	f.mu.RLock()
	defer f.mu.RUnlock()
	last := logs[len(logs)-1].Index
	err := f.db.Update(func(tx *bolt.Tx) error {
		for i, l := range logs {
			if l.Type != raft.LogCommand {
				continue
			}
			b, err := decodeBatch(l.Data)
			if err != nil {
				// Every replica decodes the same bytes the same way, so failing the entry
				// everywhere keeps them identical.
				f.log.Error("undecodable log entry", "index", l.Index, "err", err)
				out[i] = err
				continue
			}
			res := make([]applyResult, len(b.Requests))
			for j := range b.Requests {
				res[j], changes = f.applyRequest(tx, l.Index, b.Time, &b.Requests[j], changes)
			}
			if err := f.prune(tx, b.Time); err != nil {
				return err
			}
			out[i] = res
		}
		var idx [8]byte
		binary.BigEndian.PutUint64(idx[:], last)
		return tx.Bucket(bucketState).Put(keyApplied, idx[:])
	})
	if err != nil {
		// The state machine can no longer follow the log; continuing would make this replica
		// diverge silently. Crashing lets it rebuild from the snapshot and log on restart.
		panic(fmt.Sprintf("meta: state machine commit at index %d: %v", last, err))
	}
	f.feed.add(changes, last)
	f.m.applied.Set(float64(last))
	return out
}

func reqErrFlag(err error) byte {
	if errors.Is(err, ErrConflict) {
		return 1
	}
	return 0
}

// applyRequest applies one request inside tx, deduplicating by request ID.
func (f *fsm) applyRequest(tx *bolt.Tx, index uint64, now int64, r *client.ApplyRequest, changes []change) (applyResult, []change) {
	reqs := tx.Bucket(bucketRequests)
	if prev := reqs.Get([]byte(r.ID)); prev != nil {
		res, err := decodeDedup(prev)
		if err != nil {
			return applyResult{Index: index, Err: err}, changes
		}
		res.Duplicate = true
		for i := range res.Results {
			res.Results[i].PrevLost = i < len(r.Ops) && r.Ops[i].ReturnPrev && res.Results[i].Applied
		}
		f.m.duplicates.Inc()
		return res, changes
	}
	res := applyResult{Index: index, Results: make([]client.OpResult, len(r.Ops))}
	if err := checkConds(tx, r); err != nil {
		res.Err = err
	} else {
		for i := range r.Ops {
			op := &r.Ops[i]
			b := tx.Bucket([]byte(op.Table))
			if b == nil { // validated before proposing; a newer leader's schema is ahead of ours
				res.Err = fmt.Errorf("%w %q", ErrUnknownTable, op.Table)
				break
			}
			cur := b.Get([]byte(op.Key))
			if op.Cond == client.CondNewer && cur != nil {
				if rec, err := decodeRecord(cur); err == nil && rec.Version >= op.Version {
					continue
				}
			}
			if op.ReturnPrev && cur != nil {
				prev, err := prevItem(op, cur)
				if err != nil {
					res.Err = err
					break
				}
				res.Results[i].Prev = prev
			}
			var err error
			switch op.Kind {
			case client.OpPut:
				err = b.Put([]byte(op.Key), encodeRecord(record{ModIndex: index, Version: op.Version, Value: op.Value}))
			case client.OpDelete:
				if cur == nil {
					continue
				}
				err = b.Delete([]byte(op.Key))
			case client.OpCheck: // checkConds passed it
				res.Results[i].Applied = true
				continue
			default:
				err = fmt.Errorf("%w: op kind %d", ErrCorruptEntry, op.Kind)
			}
			if err != nil {
				res.Err = err
				break
			}
			res.Results[i].Applied = true
			changes = append(changes, change{table: op.Table, key: op.Key, index: index, deleted: op.Kind == client.OpDelete})
		}
	}
	if err := reqs.Put([]byte(r.ID), encodeDedup(res)); err == nil {
		var k []byte
		k = binary.BigEndian.AppendUint64(k, uint64(now))
		k = append(k, r.ID...)
		_ = tx.Bucket(bucketReqTime).Put(k, nil)
	}
	return res, changes
}

// checkConds reports ErrConflict if any op's failing condition (CondAbsent, CondModIndex,
// CondExists, CondRangeEmpty) does not hold.
func checkConds(tx *bolt.Tx, r *client.ApplyRequest) error {
	for i := range r.Ops {
		op := &r.Ops[i]
		switch op.Cond {
		case client.CondAbsent, client.CondModIndex, client.CondExists, client.CondRangeEmpty:
		default:
			continue
		}
		b := tx.Bucket([]byte(op.Table))
		if b == nil {
			return fmt.Errorf("%w %q", ErrUnknownTable, op.Table)
		}
		if op.Cond == client.CondRangeEmpty {
			if k, _ := b.Cursor().Seek([]byte(op.Key)); k != nil && bytes.HasPrefix(k, []byte(op.Key)) {
				return fmt.Errorf("%w: %s has keys under %q", ErrConflict, op.Table, op.Key)
			}
			continue
		}
		var mod uint64
		if cur := b.Get([]byte(op.Key)); cur != nil {
			rec, err := decodeRecord(cur)
			if err != nil {
				return err
			}
			mod = rec.ModIndex
		}
		if op.Cond == client.CondExists {
			if mod == 0 {
				return fmt.Errorf("%w: %s/%s does not exist", ErrConflict, op.Table, op.Key)
			}
			continue
		}
		want := op.ModIndex
		if op.Cond == client.CondAbsent {
			want = 0
		}
		if mod != want {
			return fmt.Errorf("%w: %s/%s has mod index %d, want %d", ErrConflict, op.Table, op.Key, mod, want)
		}
	}
	return nil
}

// prevItem copies the stored record cur of op's key out of the transaction.
func prevItem(op *client.Op, cur []byte) (*client.Item, error) {
	rec, err := decodeRecord(cur)
	if err != nil {
		return nil, err
	}
	return &client.Item{Table: op.Table, Key: op.Key, Value: bytes.Clone(rec.Value), ModIndex: rec.ModIndex, Version: rec.Version}, nil
}

// prune forgets request IDs older than the dedup window, measured on the leaders' clocks as
// recorded in the log, so every replica prunes identically.
func (f *fsm) prune(tx *bolt.Tx, now int64) error {
	cutoff := now - int64(f.dedupWindow)
	c := tx.Bucket(bucketReqTime).Cursor()
	reqs := tx.Bucket(bucketRequests)
	n := 0
	for k, _ := c.First(); k != nil && n < maxPrunePerEntry; k, _ = c.First() {
		if int64(binary.BigEndian.Uint64(k)) >= cutoff {
			break
		}
		if err := reqs.Delete(k[8:]); err != nil {
			return err
		}
		if err := c.Delete(); err != nil {
			return err
		}
		n++
	}
	return nil
}

// The dedup record of a request. Used on disk; bump its version byte for any change.
//
//	byte    version (1)
//	uvarint index
//	byte    error flag: 0 none, 1 conflict
//	uvarint number of ops
//	bytes   applied bitmap, one bit per op
func encodeDedup(r applyResult) []byte {
	out := []byte{1}
	out = binary.AppendUvarint(out, r.Index)
	out = append(out, reqErrFlag(r.Err))
	out = binary.AppendUvarint(out, uint64(len(r.Results)))
	bits := make([]byte, (len(r.Results)+7)/8)
	for i, res := range r.Results {
		if res.Applied {
			bits[i/8] |= 1 << (i % 8)
		}
	}
	return append(out, bits...)
}

func decodeDedup(data []byte) (applyResult, error) {
	d := decoder{b: data}
	if v := d.byte("dedup version"); d.err == nil && v != 1 {
		return applyResult{}, fmt.Errorf("%w: dedup version %d", ErrCorruptEntry, v)
	}
	r := applyResult{Index: d.uvarint("dedup index")}
	if d.byte("dedup flag") == 1 {
		r.Err = ErrConflict
	}
	n := d.uvarint("dedup ops")
	if d.err != nil || uint64(len(d.b)) != (n+7)/8 {
		return applyResult{}, fmt.Errorf("%w: dedup record", ErrCorruptEntry)
	}
	r.Results = make([]client.OpResult, n)
	for i := range r.Results {
		r.Results[i].Applied = d.b[i/8]&(1<<(i%8)) != 0
	}
	return r, nil
}

// get returns a copy of table/key.
func (f *fsm) get(table, key string) (client.Item, uint64, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var it client.Item
	var applied uint64
	err := f.db.View(func(tx *bolt.Tx) error {
		applied = appliedIndex(tx)
		b := tx.Bucket([]byte(table))
		if b == nil {
			return fmt.Errorf("%w %q", ErrUnknownTable, table)
		}
		v := b.Get([]byte(key))
		if v == nil {
			return fmt.Errorf("%s/%s: %w", table, key, ErrNotFound)
		}
		rec, err := decodeRecord(v)
		if err != nil {
			return err
		}
		it = client.Item{Table: table, Key: key, Value: bytes.Clone(rec.Value), ModIndex: rec.ModIndex, Version: rec.Version}
		return nil
	})
	return it, applied, err
}

// list returns up to limit items of table with prefix whose keys sort after after. With a
// delimiter, the keys under each common prefix come back as one item (see
// client.ListRequest.Delimiter).
func (f *fsm) list(table, prefix, after, delimiter string, limit int) (items []client.Item, more bool, applied uint64, err error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	err = f.db.View(func(tx *bolt.Tx) error {
		applied = appliedIndex(tx)
		b := tx.Bucket([]byte(table))
		if b == nil {
			return fmt.Errorf("%w %q", ErrUnknownTable, table)
		}
		c := b.Cursor()
		var k, v []byte
		switch {
		case after >= prefix && delimiter != "" && client.CommonPrefix(after, prefix, delimiter) == after:
			// The caller has had this common prefix: none of its keys come back.
			k, v = c.Seek(pastPrefix(after))
		case after >= prefix:
			k, v = c.Seek([]byte(after))
			if k != nil && string(k) == after {
				k, v = c.Next()
			}
		default:
			k, v = c.Seek([]byte(prefix))
		}
		for k != nil && bytes.HasPrefix(k, []byte(prefix)) {
			if len(items) == limit {
				more = true
				break
			}
			rec, err := decodeRecord(v)
			if err != nil {
				return err
			}
			it := client.Item{Table: table, Key: string(k), Value: bytes.Clone(rec.Value), ModIndex: rec.ModIndex, Version: rec.Version}
			if cp := client.CommonPrefix(it.Key, prefix, delimiter); cp != "" {
				it.CommonPrefix = cp
				items = append(items, it)
				// Past every other key under cp: the next key is often past already (a
				// prefix of one key), else one seek skips them all.
				if k, v = c.Next(); k != nil && bytes.HasPrefix(k, []byte(cp)) {
					k, v = c.Seek(pastPrefix(cp))
				}
				continue
			}
			items = append(items, it)
			k, v = c.Next()
		}
		return nil
	})
	return items, more, applied, err
}

// pastPrefix is a seek target after every key that starts with p and before every other
// key after p: keys are valid UTF-8, in which the byte 0xFF never occurs.
func pastPrefix(p string) []byte { return []byte(p + "\xff") }

func appliedIndex(tx *bolt.Tx) uint64 {
	v := tx.Bucket(bucketState).Get(keyApplied)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

// Snapshot implements raft.FSM. It only opens a read transaction; the copy is streamed by
// Persist while writes continue.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	tx, err := f.db.Begin(false)
	if err != nil {
		f.mu.RUnlock()
		return nil, fmt.Errorf("begin snapshot: %w", err)
	}
	return &fsmSnapshot{tx: tx, done: f.mu.RUnlock, m: f.m}, nil
}

// Restore implements raft.FSM: it replaces the database with the snapshot's.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	start := time.Now()
	tmp := f.path + ".restore"
	if err := writeFile(tmp, rc); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("receive snapshot: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.db.Close(); err != nil {
		return fmt.Errorf("close state machine for restore: %w", err)
	}
	if err := os.Rename(tmp, f.path); err != nil {
		return fmt.Errorf("install snapshot: %w", err)
	}
	db, err := f.open(f.path)
	if err != nil {
		return err
	}
	f.db = db
	var applied uint64
	_ = db.View(func(tx *bolt.Tx) error { applied = appliedIndex(tx); return nil })
	f.feed.reset(applied)
	f.m.applied.Set(float64(applied))
	f.m.restores.Inc()
	f.log.Info("restored snapshot", "index", applied, "dur", time.Since(start))
	return nil
}

func writeFile(path string, r io.Reader) error {
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(fh, r); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}
