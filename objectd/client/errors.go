package client

import (
	"errors"
	"fmt"
	"net/http"

	"stratus/internal/hlc"
)

// Errors a storage node reports. Calls return them wrapped in a *StatusError; match them with
// errors.Is.
var (
	// ErrNotFound: the node holds no live version of the name (never written, or deleted;
	// a deletion's timestamp is in the StatusError).
	ErrNotFound = errors.New("objectd: not found")
	// ErrConflict: the request's timestamp is not newer than the version the node holds;
	// the held timestamp is in the StatusError.
	ErrConflict = errors.New("objectd: a newer or equal version exists")
	// ErrDeviceUnavailable: the device is missing, not mounted, or not one of the node's.
	ErrDeviceUnavailable = errors.New("objectd: device unavailable")
	// ErrNoSpace: the device is full; nothing was stored.
	ErrNoSpace = errors.New("objectd: no space left on device")
	// ErrChecksum: a PUT body did not match the checksum sent with it, or a GET body did not
	// match the stored checksum (detected by this client).
	ErrChecksum = errors.New("objectd: checksum mismatch")
	// ErrCorrupt: the stored copy failed verification; the node quarantined it.
	ErrCorrupt = errors.New("objectd: stored copy corrupt")
	// ErrLength: a PUT body was shorter or longer than its declared length (a truncated
	// upload, for instance); nothing was stored.
	ErrLength = errors.New("objectd: body length mismatch")
	// ErrInvalid: a malformed request: bad name, timestamp, header or metadata.
	ErrInvalid = errors.New("objectd: invalid request")
	// ErrRange: the requested byte range does not overlap the object.
	ErrRange = errors.New("objectd: range not satisfiable")
	// ErrInternal: anything else that went wrong on the node.
	ErrInternal = errors.New("objectd: internal error")
	// ErrFutureTimestamp: the version's timestamp is further ahead of the node's clock than
	// it allows (objectd max_clock_skew); nothing was stored. The writer's clock is wrong, or
	// the timestamp was forged: such a version would win over every write until then.
	ErrFutureTimestamp = errors.New("objectd: timestamp too far in the future")
	// ErrUnauthenticated: the caller presented no certificate the node accepts (none, not
	// from the cluster CA, expired, revoked), or this client refused the node's certificate;
	// the message says which. Nothing was read or stored.
	ErrUnauthenticated = errors.New("objectd: unauthenticated")
	// ErrForbidden: the caller's certificate is valid but its role may not make this call
	// (or, from this client, the node's role is not a storage node's). Nothing was read or
	// stored.
	ErrForbidden = errors.New("objectd: forbidden")

	// ErrFenced: a chunk write, zero, repair or delete carried a generation older than the
	// chunk's fence: a newer writer holds the volume. Nothing was changed; the fence is in
	// StatusError.Generation.
	ErrFenced = errors.New("objectd: chunk fenced by a newer generation")
	// ErrTorn: a block in the range read failed its checksum (a write torn by a crash, or
	// damage); nothing of the range was served. StatusError.TornOffset names the first such
	// block. Read it from another replica and repair this one.
	ErrTorn = errors.New("objectd: chunk block torn")
	// ErrMisaligned: a chunk offset or length is not a multiple of ChunkBlockSize, or the
	// chunk size is not one the node accepts. Nothing was changed.
	ErrMisaligned = errors.New("objectd: chunk range not block-aligned")
	// ErrMisplaced: a change would create a chunk on a device that is not one of its
	// partition's primaries in the node's ring: the caller places with another ring (it
	// changed, and one of the two has not seen it yet). Nothing was created. A chunk the
	// device already holds is still changed, so the data follows the move (the replicator
	// carries it to the new primaries).
	ErrMisplaced = errors.New("objectd: chunk not placed on this device")
)

// wireErrors is the one table between errors and the wire: the code sent in HeaderError and
// the HTTP status for each sentinel. Codes are part of the protocol; never rename them.
var wireErrors = []struct {
	code   string
	status int
	err    error
}{
	{"not_found", http.StatusNotFound, ErrNotFound},
	{"conflict", http.StatusConflict, ErrConflict},
	{"device_unavailable", http.StatusInsufficientStorage, ErrDeviceUnavailable},
	{"no_space", http.StatusInsufficientStorage, ErrNoSpace},
	{"checksum", http.StatusUnprocessableEntity, ErrChecksum},
	{"corrupt", http.StatusInternalServerError, ErrCorrupt},
	{"length", http.StatusBadRequest, ErrLength},
	{"invalid", http.StatusBadRequest, ErrInvalid},
	{"range", http.StatusRequestedRangeNotSatisfiable, ErrRange},
	{"internal", http.StatusInternalServerError, ErrInternal},
	{"future_timestamp", http.StatusBadRequest, ErrFutureTimestamp},
	{"unauthenticated", http.StatusUnauthorized, ErrUnauthenticated},
	{"forbidden", http.StatusForbidden, ErrForbidden},
	{"fenced", http.StatusConflict, ErrFenced},
	{"torn", http.StatusConflict, ErrTorn},
	{"misaligned", http.StatusBadRequest, ErrMisaligned},
	{"misplaced", http.StatusMisdirectedRequest, ErrMisplaced},
}

// ErrorCode returns the wire code and HTTP status for err, matched with errors.Is; errors not
// in the table are internal errors. The server uses it to answer; it is exported so that the
// mapping lives in one place.
func ErrorCode(err error) (code string, status int) {
	for _, w := range wireErrors {
		if errors.Is(err, w.err) {
			return w.code, w.status
		}
	}
	return "internal", http.StatusInternalServerError
}

// errorFor maps a wire code (or, without one, a status) back to its sentinel.
func errorFor(code string, status int) error {
	for _, w := range wireErrors {
		if w.code == code {
			return w.err
		}
	}
	for _, w := range wireErrors {
		if w.status == status {
			return w.err
		}
	}
	return ErrInternal
}

// StatusError is the error a call returns when the node answered with an error status.
type StatusError struct {
	Op     string // "put", "get", …
	Host   string
	Status int    // HTTP status
	Code   string // wire code; see ErrorCode
	// Timestamp is the node's current version for ErrConflict, or the deletion time for
	// ErrNotFound when the name was deleted; zero otherwise.
	Timestamp hlc.Timestamp
	// Generation is the chunk's fence generation for ErrFenced; zero otherwise.
	Generation uint64
	// TornOffset is the chunk offset of the first torn block for ErrTorn; zero otherwise.
	TornOffset int64
	Message    string
	err        error
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("objectd %s %s: %d %s", e.Op, e.Host, e.Status, e.Code)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Unwrap returns the sentinel for the code.
func (e *StatusError) Unwrap() error { return e.err }
