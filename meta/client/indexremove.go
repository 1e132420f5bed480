package client

import "context"

// RemoveObject removes the current entry of bucket/key if it is older than version, in one
// round trip that also returns the entry removed: a null version's bytes live at a name of
// their own, which only the entry says.
func (g groupIndex) RemoveObject(ctx context.Context, bucket, key string, version uint64) (*ObjectEntry, error) {
	if err := checkObject(bucket, key); err != nil {
		return nil, err
	}
	resp, err := g.c.Apply(ctx, Op{Kind: OpDelete, Table: TableObjects, Key: objectKey(bucket, key), Cond: CondNewer, Version: version, ReturnPrev: true})
	if err != nil {
		return nil, err
	}
	r := resp.Results[0]
	if !r.Applied || r.Prev == nil {
		return nil, nil
	}
	var prev ObjectEntry
	if err := decodeJSON(*r.Prev, &prev); err != nil {
		return nil, err
	}
	prev.ModIndex = r.Prev.ModIndex
	return &prev, nil
}
