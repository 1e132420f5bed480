package proxy

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrNotFound is returned by Get when every replica asked says the version does not
	// exist, and by Delete never.
	ErrNotFound = errors.New("proxy: object not found")
	// ErrUnavailable is returned when too few replicas could be reached to answer.
	ErrUnavailable = errors.New("proxy: not enough replicas available")
	// ErrIncompleteBody is returned by Put when the body ends before its declared length,
	// or goes past it; nothing is stored. A body that fails to read makes Put return the
	// reader's own error, wrapped, and nothing is stored either.
	ErrIncompleteBody = errors.New("proxy: body does not have the declared length")
	// ErrClockSkew is returned by Put when storage nodes refuse the write's timestamp as
	// too far ahead of their clocks (it also matches client.ErrFutureTimestamp): this
	// proxy's clock runs fast. Nothing is stored, and retrying fails the same way until
	// the clocks agree.
	ErrClockSkew = errors.New("proxy: storage nodes refused the timestamp as ahead of their clocks")
	// ErrNoRing is returned when no ring has been loaded.
	ErrNoRing = errors.New("proxy: no ring loaded")
)

// QuorumError says a write reached fewer replicas than its quorum.
type QuorumError struct {
	Op   string // "put" or "delete"
	Want int
	Got  int
	// Errs holds one error per replica that failed.
	Errs []error
}

func (e *QuorumError) Error() string {
	msgs := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		msgs[i] = err.Error()
	}
	return fmt.Sprintf("proxy: %s reached %d of %d replicas needed: %s", e.Op, e.Got, e.Want, strings.Join(msgs, "; "))
}

// Unwrap makes a QuorumError match ErrUnavailable, and the replicas' own errors.
func (e *QuorumError) Unwrap() []error { return append([]error{ErrUnavailable}, e.Errs...) }
