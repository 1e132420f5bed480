package client

import "time"

// HTTP paths of the meta protocol. Requests are POSTs of a JSON body except Status, Health
// and Snapshot (GET) and Restore (POST of a snapshot).
const (
	PathApply = "/v1/apply"
	// PathApplyBatch carries several independent ApplyRequests in one HTTP round trip; the
	// client combines concurrent calls this way.
	PathApplyBatch = "/v1/apply-batch"
	PathGet        = "/v1/get"
	PathList       = "/v1/list"
	PathWatch      = "/v1/watch"
	PathJoin       = "/v1/join"
	PathRemove     = "/v1/remove"
	PathStatus     = "/v1/status"
	PathHealth     = "/healthz"
	// PathSnapshot streams a fresh snapshot of the receiving node's state machine: a
	// backup. PathRestore (leader only, Content-Length required) replaces the whole catalog
	// with such a snapshot: disaster recovery.
	PathSnapshot = "/v1/snapshot"
	PathRestore  = "/v1/restore"
	// PathSecret returns one access key with its secret, to a proxy verifying a signature.
	// It is the only way a secret leaves the catalog: Get, List and Watch of the access-key
	// table return records without their secrets. Each call is logged and rate-limited.
	PathSecret = "/v1/secret"
)

// HeaderForwarded marks a request a follower forwarded to the leader, so the leader never
// forwards it again (a stale leader hint must not cause a loop).
const HeaderForwarded = "Stratus-Meta-Forwarded"

// MaxKeyBytes is the largest key accepted in any table: room for an object index key,
// which is an S3 bucket name (63 bytes), a 1,024-byte object key and an upload or version
// suffix.
const MaxKeyBytes = 2048

// MaxBodyBytes bounds a request body. It must hold the largest table's MaxValueBytes after
// JSON's base64 (and a typed record's own base64 inside the value): 32 MiB × 4/3 × 4/3.
const MaxBodyBytes = 64 << 20

// OpKind says what an Op does. Used in the Raft log; never renumber.
type OpKind uint8

const (
	OpPut    OpKind = 1 // store Value under Key
	OpDelete OpKind = 2 // remove Key (no error if absent)
	// OpCheck writes nothing: only its Cond is checked, so a request can require the state
	// of a key it does not change (a bucket that must still exist, unchanged, while an
	// object is indexed in it; a key range that must be empty). It needs a Cond other than
	// CondNone and CondNewer.
	OpCheck OpKind = 3
)

// Cond is a precondition on an Op. Used in the Raft log; never renumber.
type Cond uint8

const (
	// CondNone applies the op unconditionally.
	CondNone Cond = 0
	// CondAbsent requires the key not to exist; otherwise the whole request fails with
	// ErrConflict.
	CondAbsent Cond = 1
	// CondModIndex requires the key's ModIndex to equal Op.ModIndex (0 means absent);
	// otherwise the whole request fails with ErrConflict.
	CondModIndex Cond = 2
	// CondNewer applies the op only if the key is absent or its stored Version is lower than
	// Op.Version. A skipped op is not an error: OpResult.Applied is false. This is the
	// last-writer-wins rule for the object index.
	CondNewer Cond = 3
	// CondRangeEmpty requires that no key of Table starts with Key (Key is a prefix);
	// otherwise the whole request fails with ErrConflict. Only with OpCheck.
	CondRangeEmpty Cond = 4
	// CondExists requires the key to exist, whatever its ModIndex; otherwise the whole
	// request fails with ErrConflict.
	CondExists Cond = 5
)

// Conditions are checked against the state before the request: an op's condition never
// sees what earlier ops of the same request write.

// Op is one write in a request. All ops of a request are applied atomically.
type Op struct {
	Kind     OpKind `json:"kind"`
	Table    string `json:"table"`
	Key      string `json:"key"`
	Value    []byte `json:"value,omitempty"`
	Cond     Cond   `json:"cond,omitempty"`
	ModIndex uint64 `json:"mod_index,omitempty"` // for CondModIndex
	Version  uint64 `json:"version,omitempty"`   // stored with puts; compared by CondNewer
	// ReturnPrev asks for the record the op replaced or removed (for OpCheck: the record
	// checked) in OpResult.Prev, so a caller learns what its write made garbage from the
	// commit itself instead of reading it first. Not allowed on sealed tables.
	ReturnPrev bool `json:"return_prev,omitempty"`
}

// ApplyRequest is the body of PathApply.
type ApplyRequest struct {
	// ID identifies the request for deduplication: a retried request with the same ID is
	// applied at most once. 1 to 64 bytes; the client uses 16 random bytes in hex.
	ID  string `json:"id"`
	Ops []Op   `json:"ops"`
}

// OpResult reports one op of an applied request.
type OpResult struct {
	Applied bool `json:"applied"` // false when CondNewer skipped the op
	// Prev is the record as it was before the op, for an op with ReturnPrev that applied
	// to an existing key; nil otherwise. A Duplicate response never carries it (request
	// outcomes are remembered without values): PrevLost says so.
	Prev     *Item `json:"prev,omitempty"`
	PrevLost bool  `json:"prev_lost,omitempty"`
}

// ApplyResponse is the reply to PathApply.
type ApplyResponse struct {
	Index     uint64     `json:"index"`     // Raft index at which the request was applied
	Duplicate bool       `json:"duplicate"` // the ID had been applied before; Results are the first outcome
	Results   []OpResult `json:"results"`
}

// ApplyBatchRequest is the body of PathApplyBatch. Its requests are independent: each is
// atomic on its own and succeeds or fails on its own.
type ApplyBatchRequest struct {
	Requests []ApplyRequest `json:"requests"`
}

// MaxApplyBatch caps the requests of one ApplyBatchRequest.
const MaxApplyBatch = 1024

// ApplyBatchResult is the outcome of one request of a batch: Response or Error.
type ApplyBatchResult struct {
	Response *ApplyResponse `json:"response,omitempty"`
	Error    *ErrorResponse `json:"error,omitempty"`
}

// ApplyBatchResponse is the reply to PathApplyBatch, one result per request in order.
type ApplyBatchResponse struct {
	Results []ApplyBatchResult `json:"results"`
}

// Item is a stored value.
type Item struct {
	Table    string `json:"table"`
	Key      string `json:"key"`
	Value    []byte `json:"value"`
	ModIndex uint64 `json:"mod_index"` // Raft index of the last write to the key
	Version  uint64 `json:"version"`   // caller-supplied ordering stamp of the last put
	// CommonPrefix is set in a delimited list (ListRequest.Delimiter): the item is the first
	// key under this common prefix and stands for all of them.
	CommonPrefix string `json:"common_prefix,omitempty"`
}

// GetRequest is the body of PathGet.
type GetRequest struct {
	Table string `json:"table"`
	Key   string `json:"key"`
	Stale bool   `json:"stale,omitempty"` // serve from the receiving node's state, without a leader check
}

// GetResponse is the reply to PathGet. A missing key is an ErrNotFound error.
type GetResponse struct {
	Item  Item   `json:"item"`
	Index uint64 `json:"index"` // applied index of the state that served the read
}

// ListRequest is the body of PathList. Keys are returned in byte order.
type ListRequest struct {
	Table  string `json:"table"`
	Prefix string `json:"prefix,omitempty"`
	After  string `json:"after,omitempty"` // exclusive start key; "" starts at Prefix
	Limit  int    `json:"limit,omitempty"` // 0 means the server's maximum (MaxListLimit)
	Stale  bool   `json:"stale,omitempty"`
	// Delimiter, if set, rolls keys up as an S3 listing does: the keys whose remainder after
	// Prefix contains it share a common prefix (Prefix, then the remainder up to and including
	// its first Delimiter), which is returned once, as the first of its keys with
	// CommonPrefix set; the server then seeks past the rest of them, so a common prefix costs
	// one key however many it holds. A common prefix counts once against Limit. An After that
	// is itself a common prefix skips all of its keys.
	Delimiter string `json:"delimiter,omitempty"`
}

// MaxListLimit caps the items of one List call.
const MaxListLimit = 10000

// ListResponse is the reply to PathList.
type ListResponse struct {
	Items []Item `json:"items"`
	More  bool   `json:"more"` // more keys match; continue with After = last item's CommonPrefix, or else its Key
	Index uint64 `json:"index"`
}

// WatchRequest is the body of PathWatch: wait until a key in Table with Prefix is modified at a
// Raft index greater than After, or until WaitSeconds pass.
type WatchRequest struct {
	Table  string `json:"table"`
	Prefix string `json:"prefix,omitempty"`
	After  uint64 `json:"after"`
	// WaitSeconds is how long to wait for a change, in seconds; the server caps it at
	// MaxWatchWait, and 0 or less answers at once.
	WaitSeconds float64 `json:"wait_seconds"`
}

// MaxWatchWait caps a long poll.
const MaxWatchWait = 5 * time.Minute

// Event is one change seen by a watch.
type Event struct {
	Key     string `json:"key"`
	Index   uint64 `json:"index"`
	Deleted bool   `json:"deleted"`
}

// WatchResponse is the reply to PathWatch. Events are in index order, at most one per key (the
// latest). If Resync is true the node no longer remembers changes after the requested index
// (its change history was compacted or replaced by a snapshot): re-read the range with List and
// watch again from Index.
type WatchResponse struct {
	Index  uint64  `json:"index"` // watch again with After = Index
	Events []Event `json:"events"`
	Resync bool    `json:"resync"`
}

// SecretRequest is the body of PathSecret.
type SecretRequest struct {
	AccessKey string `json:"access_key"`
}

// JoinRequest is the body of PathJoin: add a voter.
type JoinRequest struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
}

// RemoveRequest is the body of PathRemove: remove a server.
type RemoveRequest struct {
	ID string `json:"id"`
}

// Member is one server in the Raft configuration.
type Member struct {
	ID       string `json:"id"`
	Addr     string `json:"addr"`
	Suffrage string `json:"suffrage"` // Voter, Nonvoter or Staging
	Leader   bool   `json:"leader"`
}

// Status is the reply to PathStatus.
type Status struct {
	ID                string   `json:"id"`
	Addr              string   `json:"addr"`
	State             string   `json:"state"` // Leader, Follower, Candidate, Shutdown
	LeaderID          string   `json:"leader_id"`
	LeaderAddr        string   `json:"leader_addr"`
	Term              uint64   `json:"term"`
	CommitIndex       uint64   `json:"commit_index"`
	AppliedIndex      uint64   `json:"applied_index"`
	LastSnapshotIndex uint64   `json:"last_snapshot_index"`
	Members           []Member `json:"members"`
}

// ErrorResponse is the body of any non-2xx reply.
type ErrorResponse struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Leader  string `json:"leader,omitempty"`
}
