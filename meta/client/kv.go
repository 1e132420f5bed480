package client

import (
	"context"
	"net/http"
	"time"
)

// ReadOption changes how a read is served.
type ReadOption func(*readOptions)

type readOptions struct{ stale bool }

// Stale lets any node serve the read from its own state without confirming leadership. It is
// faster and works without a quorum, but may miss recent writes.
func Stale() ReadOption { return func(o *readOptions) { o.stale = true } }

func readOpts(opts []ReadOption) readOptions {
	var o readOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Apply applies ops atomically. It assigns a request ID, kept across retries, so the ops are
// applied at most once.
func (c *Client) Apply(ctx context.Context, ops ...Op) (ApplyResponse, error) {
	return c.ApplyRequest(ctx, ApplyRequest{ID: NewRequestID(), Ops: ops})
}

// ApplyRequest applies req; req.ID makes it idempotent across calls too. Concurrent calls are
// combined into one HTTP round trip (see combine.go).
func (c *Client) ApplyRequest(ctx context.Context, req ApplyRequest) (ApplyResponse, error) {
	c.applies.Add(1)
	return c.comb.apply(ctx, c, req)
}

// Put stores value under table/key.
func (c *Client) Put(ctx context.Context, table, key string, value []byte) error {
	_, err := c.Apply(ctx, Op{Kind: OpPut, Table: table, Key: key, Value: value})
	return err
}

// Delete removes table/key; it is not an error if the key is absent.
func (c *Client) Delete(ctx context.Context, table, key string) error {
	_, err := c.Apply(ctx, Op{Kind: OpDelete, Table: table, Key: key})
	return err
}

// Get returns table/key, or an error matching ErrNotFound.
func (c *Client) Get(ctx context.Context, table, key string, opts ...ReadOption) (Item, error) {
	c.gets.Add(1)
	var resp GetResponse
	err := c.call(ctx, http.MethodPost, PathGet, GetRequest{Table: table, Key: key, Stale: readOpts(opts).stale}, &resp, 0)
	return resp.Item, err
}

// List returns up to limit items of table whose keys start with prefix and sort after after.
// more reports whether further items match.
func (c *Client) List(ctx context.Context, table, prefix, after string, limit int, opts ...ReadOption) (items []Item, more bool, err error) {
	c.lists.Add(1)
	var resp ListResponse
	err = c.call(ctx, http.MethodPost, PathList, ListRequest{Table: table, Prefix: prefix, After: after, Limit: limit, Stale: readOpts(opts).stale}, &resp, 0)
	return resp.Items, resp.More, err
}

// Watch waits up to wait for a change to a key of table starting with prefix at an index above
// after. It returns an empty event list when wait passes without a change.
func (c *Client) Watch(ctx context.Context, table, prefix string, after uint64, wait time.Duration) (WatchResponse, error) {
	var resp WatchResponse
	err := c.call(ctx, http.MethodPost, PathWatch, WatchRequest{Table: table, Prefix: prefix, After: after, WaitSeconds: wait.Seconds()}, &resp, wait)
	return resp, err
}

// Join adds a voter with the given ID and address to the cluster.
func (c *Client) Join(ctx context.Context, id, addr string) error {
	return c.call(ctx, http.MethodPost, PathJoin, JoinRequest{ID: id, Addr: addr}, nil, 0)
}

// Remove removes the server with the given ID from the cluster.
func (c *Client) Remove(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodPost, PathRemove, RemoveRequest{ID: id}, nil, 0)
}

// Status returns the status of the node the client reaches first.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.call(ctx, http.MethodGet, PathStatus, nil, &st, 0)
	return st, err
}

// CallCounts counts the catalog round trips a client asked for: each Get, List and
// ApplyRequest is one, however many HTTP attempts it took or however many writes the
// combiner packed into one HTTP request.
type CallCounts struct{ Gets, Lists, Applies uint64 }

// Total is the number of calls of every kind.
func (n CallCounts) Total() uint64 { return n.Gets + n.Lists + n.Applies }

// Sub returns n - m, field by field: the calls made between two readings.
func (n CallCounts) Sub(m CallCounts) CallCounts {
	return CallCounts{Gets: n.Gets - m.Gets, Lists: n.Lists - m.Lists, Applies: n.Applies - m.Applies}
}

// Calls returns the catalog calls this client made so far.
func (c *Client) Calls() CallCounts {
	return CallCounts{Gets: c.gets.Load(), Lists: c.lists.Load(), Applies: c.applies.Load()}
}
