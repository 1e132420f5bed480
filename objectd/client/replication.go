package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"stratus/internal/hlc"
)

// SuffixHashes maps each suffix (three hex digits) of a partition to a hash of the versions
// stored under it. Two nodes hold the same versions of a suffix exactly when the hashes are
// equal. Suffixes with nothing stored are absent.
type SuffixHashes map[string]string

// SuffixHashes returns the suffix hashes of t's partition. A node caches them and
// recomputes only suffixes written since, so this is cheap to call every replication pass.
func (c *Client) SuffixHashes(ctx context.Context, t Target) (SuffixHashes, error) {
	var out SuffixHashes
	if err := c.postJSON(ctx, "hashes", t, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Offer names one version a pusher holds: the object's name hash and timestamp.
type Offer struct {
	Hash      string        `json:"hash"`
	Timestamp hlc.Timestamp `json:"ts"`
}

// MissingRequest is the body of a missing check.
type MissingRequest struct {
	Offers []Offer `json:"offers"`
}

// MissingResponse lists the hashes of the offers the receiver wants: those it lacks or holds
// only an older version of.
type MissingResponse struct {
	Want []string `json:"want"`
	// Pending lists versions the node lacks but has asked another pusher for, moments ago:
	// not to be sent now, and not yet held.
	Pending []string `json:"pending,omitempty"`
}

// Missing asks t which of the offered versions it wants (to be pushed now) and which it
// lacks but expects from another pusher.
func (c *Client) Missing(ctx context.Context, t Target, offers []Offer) (MissingResponse, error) {
	var out MissingResponse
	err := c.postJSON(ctx, "missing", t, MissingRequest{Offers: offers}, &out)
	return out, err
}

// PushResult reports what a node did with a pushed stream.
type PushResult struct {
	Stored  int `json:"stored"`  // records stored
	Skipped int `json:"skipped"` // records not newer than what the node held
	// Refused counts records not stored because their timestamp is too far ahead of the
	// node's clock (ErrFutureTimestamp); the stream went on past them.
	Refused int `json:"refused,omitempty"`
	// Err, if set, is why the node stopped reading the stream; records after the Stored and
	// Skipped ones were not applied.
	Err string `json:"err,omitempty"`
}

// Push streams records to t's partition in one request. write writes the records (each a
// header from Record.MarshalBinary followed by exactly Info.Length content bytes, which is
// also the content of an object file) and returns. Each record is applied on its own, in
// order; the node stops at the first bad one.
func (c *Client) Push(ctx context.Context, t Target, write func(w io.Writer) error) (PushResult, error) {
	pr, pw := io.Pipe()
	req, err := c.newRequest(ctx, http.MethodPost, t, partPath("push", t), pr)
	if err != nil {
		return PushResult{}, err
	}
	req.ContentLength = -1
	done := make(chan error, 1)
	go func() {
		err := write(pw)
		pw.CloseWithError(err)
		done <- err
	}()
	resp, err := c.do("push", t.Host, req)
	pr.CloseWithError(fmt.Errorf("objectd push %s: request ended", t.Host)) // unblock write
	werr := <-done
	if err != nil {
		return PushResult{}, err
	}
	defer resp.Body.Close()
	var out PushResult
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return out, fmt.Errorf("objectd push %s: decode response: %w", t.Host, err)
	}
	if werr != nil {
		return out, fmt.Errorf("objectd push %s: %w", t.Host, werr)
	}
	return out, nil
}
