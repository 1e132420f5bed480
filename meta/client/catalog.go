package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// getJSON reads table/key into v and returns the item's ModIndex.
func (c *Client) getJSON(ctx context.Context, table, key string, v any, opts []ReadOption) (uint64, error) {
	it, err := c.Get(ctx, table, key, opts...)
	if err != nil {
		return 0, err
	}
	return it.ModIndex, decodeJSON(it, v)
}

// listAll reads every item of table under prefix.
func (c *Client) listAll(ctx context.Context, table, prefix string, opts []ReadOption) ([]Item, error) {
	var all []Item
	after := ""
	for {
		items, more, err := c.List(ctx, table, prefix, after, 0, opts...)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if !more || len(items) == 0 {
			return all, nil
		}
		after = items[len(items)-1].Key
	}
}

// listJSON decodes every record of table under prefix, in key order.
func listJSON[T any](ctx context.Context, c *Client, table, prefix string, opts []ReadOption) ([]T, error) {
	items, err := c.listAll(ctx, table, prefix, opts)
	if err != nil {
		return nil, err
	}
	out := make([]T, len(items))
	for i, it := range items {
		if err := decodeJSON(it, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// createJSON stores v as a new record of table under key, with extra ops in the same
// transaction; an error matching ErrConflict, naming what exists, if the key is taken.
func (c *Client) createJSON(ctx context.Context, table, what, key string, v any, extra []Op) error {
	ops := append([]Op{{Kind: OpPut, Table: table, Key: key, Value: encodeJSON(v), Cond: CondAbsent}}, extra...)
	_, err := c.Apply(ctx, ops...)
	if errors.Is(err, ErrConflict) {
		return fmt.Errorf("%s %s exists: %w", what, key, err)
	}
	return err
}

// replaceJSON stores v over the record of table under key if it is unchanged since
// modIndex, with extra ops in the same transaction; ErrConflict otherwise (including when
// it was deleted).
func (c *Client) replaceJSON(ctx context.Context, table, what, key string, v any, modIndex uint64, extra []Op) error {
	if modIndex == 0 {
		return fmt.Errorf("%w: updating %s %s needs the mod index it was read at", ErrBadRequest, what, key)
	}
	ops := append([]Op{{Kind: OpPut, Table: table, Key: key, Value: encodeJSON(v), Cond: CondModIndex, ModIndex: modIndex}}, extra...)
	_, err := c.Apply(ctx, ops...)
	return err
}

// deleteAt removes the record of table under key if it is unchanged since modIndex, with
// extra ops in the same transaction; ErrConflict otherwise.
func (c *Client) deleteAt(ctx context.Context, table, what, key string, modIndex uint64, extra []Op) error {
	if modIndex == 0 {
		return fmt.Errorf("%w: deleting %s %s needs the mod index it was read at", ErrBadRequest, what, key)
	}
	ops := append([]Op{{Kind: OpDelete, Table: table, Key: key, Cond: CondModIndex, ModIndex: modIndex}}, extra...)
	_, err := c.Apply(ctx, ops...)
	return err
}

// ClusterConfig returns the cluster config.
func (c *Client) ClusterConfig(ctx context.Context, opts ...ReadOption) (ClusterConfig, error) {
	var cc ClusterConfig
	_, err := c.getJSON(ctx, TableConfig, ConfigKey, &cc, opts)
	return cc, err
}

// PutClusterConfig replaces the cluster config.
func (c *Client) PutClusterConfig(ctx context.Context, cc ClusterConfig) error {
	return c.Put(ctx, TableConfig, ConfigKey, encodeJSON(cc))
}

// PublishRing makes r the current ring of its policy. It fails with ErrConflict unless
// r.Version is above the published version.
func (c *Client) PublishRing(ctx context.Context, r RingVersion) error {
	if r.Policy == "" || r.Version == 0 {
		return fmt.Errorf("%w: ring needs a policy and a version above 0", ErrBadRequest)
	}
	if r.PublishedAt.IsZero() {
		r.PublishedAt = time.Now().UTC()
	}
	resp, err := c.Apply(ctx, Op{Kind: OpPut, Table: TableRings, Key: r.Policy, Value: encodeJSON(r), Cond: CondNewer, Version: r.Version})
	if err != nil {
		return err
	}
	if !resp.Results[0].Applied {
		return fmt.Errorf("%w: ring version %d of policy %s is not above the published one", ErrConflict, r.Version, r.Policy)
	}
	return nil
}

// Ring returns the current ring of a policy and the index it was published at.
func (c *Client) Ring(ctx context.Context, policy string, opts ...ReadOption) (RingVersion, uint64, error) {
	var r RingVersion
	idx, err := c.getJSON(ctx, TableRings, policy, &r, opts)
	return r, idx, err
}

// WaitRing blocks until the ring of policy is published at an index above after (or wait
// passes), and returns the ring then current and its index. Nodes call it in a loop, passing
// back the index, to adopt new rings. On timeout it returns the current ring unchanged.
func (c *Client) WaitRing(ctx context.Context, policy string, after uint64, wait time.Duration) (RingVersion, uint64, error) {
	if _, err := c.Watch(ctx, TableRings, policy, after, wait); err != nil {
		return RingVersion{}, 0, err
	}
	return c.Ring(ctx, policy)
}

// PutNode registers or updates a node; a heartbeat is a PutNode with a fresh HeartbeatAt.
func (c *Client) PutNode(ctx context.Context, n Node) error {
	if n.ID == "" {
		return fmt.Errorf("%w: node needs an id", ErrBadRequest)
	}
	if n.HeartbeatAt.IsZero() {
		n.HeartbeatAt = time.Now().UTC()
	}
	return c.Put(ctx, TableNodes, n.ID, encodeJSON(n))
}

// Nodes returns every registered node.
func (c *Client) Nodes(ctx context.Context, opts ...ReadOption) ([]Node, error) {
	return listJSON[Node](ctx, c, TableNodes, "", opts)
}

// CreateAccount stores a new account; ErrConflict if the ID exists.
func (c *Client) CreateAccount(ctx context.Context, a Account) error {
	if a.CreatedAt.IsZero() {
		a.CreatedAt = time.Now().UTC()
	}
	_, err := c.Apply(ctx, Op{Kind: OpPut, Table: TableAccounts, Key: a.ID, Value: encodeJSON(a), Cond: CondAbsent})
	return err
}

// Account returns an account.
func (c *Client) Account(ctx context.Context, id string, opts ...ReadOption) (Account, error) {
	var a Account
	_, err := c.getJSON(ctx, TableAccounts, id, &a, opts)
	return a, err
}

// CreateAccessKey stores a new access key; ErrConflict if the ID exists. The secret is sealed
// by the catalog before it is stored.
func (c *Client) CreateAccessKey(ctx context.Context, k AccessKey) error {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = time.Now().UTC()
	}
	_, err := c.Apply(ctx, Op{Kind: OpPut, Table: TableAccessKeys, Key: k.ID, Value: encodeJSON(k), Cond: CondAbsent})
	return err
}

// AccessKey returns an access key without its secret (Secret is empty).
func (c *Client) AccessKey(ctx context.Context, id string, opts ...ReadOption) (AccessKey, error) {
	var k AccessKey
	_, err := c.getJSON(ctx, TableAccessKeys, id, &k, opts)
	return k, err
}

// AccessKeySecret returns an access key with its secret, for verifying a request signed with
// it. Only proxies may call it; the catalog logs every call and limits their rate.
// ErrNotFound if there is no such key.
func (c *Client) AccessKeySecret(ctx context.Context, id string) (AccessKey, error) {
	var k AccessKey
	err := c.call(ctx, http.MethodPost, PathSecret, SecretRequest{AccessKey: id}, &k, 0)
	return k, err
}

// CreateBucket stores a new bucket; ErrConflict if the name is taken.
func (c *Client) CreateBucket(ctx context.Context, b Bucket) error {
	if b.CreatedAt.IsZero() {
		b.CreatedAt = time.Now().UTC()
	}
	_, err := c.Apply(ctx, Op{Kind: OpPut, Table: TableBuckets, Key: b.Name, Value: encodeJSON(b), Cond: CondAbsent})
	if errors.Is(err, ErrConflict) {
		return fmt.Errorf("bucket %s exists: %w", b.Name, err)
	}
	return err
}

// Bucket returns a bucket and its ModIndex (for UpdateBucket).
func (c *Client) Bucket(ctx context.Context, name string, opts ...ReadOption) (Bucket, uint64, error) {
	var b Bucket
	idx, err := c.getJSON(ctx, TableBuckets, name, &b, opts)
	return b, idx, err
}

// UpdateBucket replaces a bucket if it is unchanged since modIndex; ErrConflict otherwise.
func (c *Client) UpdateBucket(ctx context.Context, b Bucket, modIndex uint64) error {
	_, err := c.Apply(ctx, Op{Kind: OpPut, Table: TableBuckets, Key: b.Name, Value: encodeJSON(b), Cond: CondModIndex, ModIndex: modIndex})
	return err
}

// Buckets returns every bucket.
func (c *Client) Buckets(ctx context.Context, opts ...ReadOption) ([]Bucket, error) {
	return listJSON[Bucket](ctx, c, TableBuckets, "", opts)
}

// ErrBucketNotEmpty is DeleteBucket's refusal of a bucket that holds something; it
// matches ErrConflict too.
var ErrBucketNotEmpty = fmt.Errorf("%w: bucket not empty", ErrConflict)

// DeleteBucket removes an empty bucket: ErrConflict if it holds objects, versions or
// multipart uploads. The emptiness is checked by the state machine in the same
// transaction as the delete, so an object indexed concurrently either lands first (and the
// delete fails) or finds no bucket (its commit checks the bucket, see BucketCheck).
func (c *Client) DeleteBucket(ctx context.Context, name string) error {
	if name == "" || strings.Contains(name, "/") {
		return fmt.Errorf("%w: bucket name %q", ErrBadRequest, name)
	}
	for attempt := 0; ; attempt++ {
		_, idx, err := c.Bucket(ctx, name)
		if err != nil {
			return err
		}
		ops := []Op{{Kind: OpDelete, Table: TableBuckets, Key: name, Cond: CondModIndex, ModIndex: idx}}
		for _, table := range []string{TableObjects, TableObjectVersions, TableUploads} {
			ops = append(ops, Op{Kind: OpCheck, Table: table, Key: name + "/", Cond: CondRangeEmpty})
		}
		_, err = c.Apply(ctx, ops...)
		if !errors.Is(err, ErrConflict) {
			return err
		}
		// Either a range is not empty or the bucket record changed (its policy, say)
		// since it was read: only the latter is worth another try.
		if _, now, gerr := c.Bucket(ctx, name); gerr == nil && now == idx || attempt == 2 {
			return fmt.Errorf("bucket %s: %w", name, ErrBucketNotEmpty)
		}
	}
}

// BucketCheck is an op that fails its request unless bucket name still exists with mod
// index modIndex (any, if 0): a write committed with it never lands in a bucket deleted,
// or changed, since it was read.
func BucketCheck(name string, modIndex uint64) Op {
	if modIndex == 0 {
		return Op{Kind: OpCheck, Table: TableBuckets, Key: name, Cond: CondExists}
	}
	return Op{Kind: OpCheck, Table: TableBuckets, Key: name, Cond: CondModIndex, ModIndex: modIndex}
}
