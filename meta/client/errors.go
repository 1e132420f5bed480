package client

import "errors"

// Sentinel errors. Both the client and the server (package meta) use these values, so callers
// match them with errors.Is whichever side produced them.
var (
	// ErrNotFound is returned when a key, bucket, object or upload does not exist.
	ErrNotFound = errors.New("meta: not found")
	// ErrConflict is returned when a write's condition fails (the key already exists, or it
	// changed since it was read). No part of the request was applied.
	ErrConflict = errors.New("meta: condition failed")
	// ErrUnknownTable is returned for a table name that is not in the schema, or an internal
	// table that clients may not touch.
	ErrUnknownTable = errors.New("meta: unknown table")
	// ErrValueTooLarge is returned when a value exceeds its table's size limit.
	ErrValueTooLarge = errors.New("meta: value too large")
	// ErrKeyTooLarge is returned when a key exceeds MaxKeyBytes.
	ErrKeyTooLarge = errors.New("meta: key too large")
	// ErrBadRequest is returned for malformed requests: empty keys, invalid UTF-8, no ops.
	ErrBadRequest = errors.New("meta: bad request")
	// ErrNotLeader is returned by a node that cannot forward a request to the leader.
	ErrNotLeader = errors.New("meta: not the leader")
	// ErrNoLeader is returned while the cluster has no leader (election in progress, or no
	// quorum). Clients retry it.
	ErrNoLeader = errors.New("meta: no leader")
	// ErrNotMember is returned by a node that is not part of a meta cluster (neither
	// bootstrapped nor joined), and when removing a server that is not a member.
	ErrNotMember = errors.New("meta: node is not a member of a meta cluster")
	// ErrUnavailable is returned when a call could not complete in time: no quorum, a
	// shutting-down node, or every endpoint unreachable.
	ErrUnavailable = errors.New("meta: unavailable")
	// ErrUnauthenticated is returned when the caller presented no valid certificate of the
	// cluster (none, another CA's, expired or revoked), or when the node's own certificate
	// failed the caller's checks. Not retried.
	ErrUnauthenticated = errors.New("meta: unauthenticated")
	// ErrForbidden is returned when the caller's role may not make the call. Not retried.
	ErrForbidden = errors.New("meta: forbidden")
	// ErrTooManyRequests is returned when a caller exceeds a rate limit (the secret call's).
	// Not retried: slow down.
	ErrTooManyRequests = errors.New("meta: too many requests")
)

// Error codes on the wire; used in ErrorResponse.Code. Never renumber or rename: they are part
// of the protocol.
const (
	CodeNotFound        = "not_found"
	CodeConflict        = "conflict"
	CodeUnknownTable    = "unknown_table"
	CodeValueTooLarge   = "value_too_large"
	CodeKeyTooLarge     = "key_too_large"
	CodeBadRequest      = "bad_request"
	CodeNotLeader       = "not_leader"
	CodeNoLeader        = "no_leader"
	CodeNotMember       = "not_member"
	CodeUnavailable     = "unavailable"
	CodeUnauthenticated = "unauthenticated"
	CodeForbidden       = "forbidden"
	CodeTooManyRequests = "too_many_requests"
	CodeInternal        = "internal"
)

// codes is the one table between sentinels, wire codes and HTTP statuses.
var codes = []struct {
	err    error
	code   string
	status int
}{
	{ErrNotFound, CodeNotFound, 404},
	{ErrConflict, CodeConflict, 409},
	{ErrUnknownTable, CodeUnknownTable, 400},
	{ErrValueTooLarge, CodeValueTooLarge, 413},
	{ErrKeyTooLarge, CodeKeyTooLarge, 400},
	{ErrBadRequest, CodeBadRequest, 400},
	{ErrNotLeader, CodeNotLeader, 421},
	{ErrNoLeader, CodeNoLeader, 503},
	{ErrNotMember, CodeNotMember, 503},
	{ErrUnavailable, CodeUnavailable, 503},
	{ErrUnauthenticated, CodeUnauthenticated, 401},
	{ErrForbidden, CodeForbidden, 403},
	{ErrTooManyRequests, CodeTooManyRequests, 429},
}

// ErrorToWire maps an error to its wire code and HTTP status. Unmapped errors are internal.
func ErrorToWire(err error) (code string, status int) {
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code, c.status
		}
	}
	return CodeInternal, 500
}

// ServerError is an error reported by a meta node. It unwraps to the sentinel for its code, so
// errors.Is(err, ErrNotFound) works on errors returned by Client methods.
type ServerError struct {
	Code    string // wire code, e.g. CodeNotFound
	Message string // human-readable detail from the server
	Leader  string // address of the leader, when the node knows it
}

func (e *ServerError) Error() string {
	if e.Message != "" {
		return e.Message // the server's message already names the sentinel
	}
	return "meta: " + e.Code
}

// Unwrap returns the sentinel error for the code, or nil for unknown codes.
func (e *ServerError) Unwrap() error {
	for _, c := range codes {
		if c.code == e.Code {
			return c.err
		}
	}
	return nil
}

// retriable reports whether a call that failed with err may succeed on another attempt.
func retriable(err error) bool {
	return errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNoLeader) || errors.Is(err, ErrUnavailable)
}

// LeftoverError is returned by a call whose write was committed but whose cleanup after it
// failed (removing an ended upload's part rows): the write stands, and what the cleanup
// would have removed is left behind as garbage, as after a crash in between.
type LeftoverError struct{ Err error }

func (e *LeftoverError) Error() string { return "meta: committed, but left garbage: " + e.Err.Error() }

// Unwrap returns the cleanup's error.
func (e *LeftoverError) Unwrap() error { return e.Err }
