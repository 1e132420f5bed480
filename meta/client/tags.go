package client

import (
	"context"
	"errors"
)

// ResourceTags are the EC2 tags of one resource (table tags, key = TagsKey(account,
// resource)). All of a resource's tags are one record, so a CreateTags or DeleteTags is
// one conditional write, and deleting the resource removes its tags in the same
// transaction.
type ResourceTags struct {
	Account  string `json:"account"`
	Resource string `json:"resource"` // the resource's ID: vol-…, i-…, snap-…, ami-…, key-…
	// ResourceType is EC2's name of the kind: volume, instance, snapshot, image, key-pair.
	ResourceType string            `json:"resource_type"`
	Tags         map[string]string `json:"tags"`
}

// TagsKey is the catalog key of a resource's tags.
func TagsKey(account, resource string) string { return account + "/" + resource }

// Op returns the write that stores t if the record is unchanged since modIndex (0: if
// there is none). A t without tags is deleted instead, so empty records do not pile up.
func (t ResourceTags) Op(modIndex uint64) Op {
	op := Op{Kind: OpPut, Table: TableTags, Key: TagsKey(t.Account, t.Resource), Value: encodeJSON(t), Cond: CondModIndex, ModIndex: modIndex}
	if len(t.Tags) == 0 {
		op.Kind, op.Value = OpDelete, nil
	}
	return op
}

// Tags returns a resource's tags and the ModIndex to update them at (0 and empty tags when
// it has none).
func (c *Client) Tags(ctx context.Context, account, resource string, opts ...ReadOption) (ResourceTags, uint64, error) {
	t := ResourceTags{Account: account, Resource: resource}
	idx, err := c.getJSON(ctx, TableTags, TagsKey(account, resource), &t, opts)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return t, 0, err
	}
	if t.Tags == nil {
		t.Tags = map[string]string{}
	}
	return t, idx, nil
}

// AccountTags returns the tags of every resource of an account, in resource ID order.
func (c *Client) AccountTags(ctx context.Context, account string, opts ...ReadOption) ([]ResourceTags, error) {
	return listJSON[ResourceTags](ctx, c, TableTags, account+"/", opts)
}
