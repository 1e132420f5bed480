package client

import (
	"context"
	"errors"
	"fmt"
)

func (g groupIndex) UpdateObject(ctx context.Context, bucket, key string, version uint64, update func(*ObjectEntry) error) (ObjectEntry, error) {
	c := g.c
	if err := checkObject(bucket, key); err != nil {
		return ObjectEntry{}, err
	}
	for attempt := 0; ; attempt++ {
		e, ops, err := c.updateOps(ctx, bucket, key, version, update)
		if err != nil {
			return e, err
		}
		_, err = c.Apply(ctx, ops...)
		if errors.Is(err, ErrConflict) && attempt < 8 {
			continue
		}
		return e, err
	}
}

// updateOps reads the entries UpdateObject changes and returns the ops that write them back.
func (c *Client) updateOps(ctx context.Context, bucket, key string, version uint64, update func(*ObjectEntry) error) (ObjectEntry, []Op, error) {
	var cur ObjectEntry
	curIdx := uint64(0)
	if it, err := c.Get(ctx, TableObjects, objectKey(bucket, key)); err == nil {
		if err := decodeJSON(it, &cur); err != nil {
			return cur, nil, err
		}
		curIdx = it.ModIndex
	} else if !errors.Is(err, ErrNotFound) {
		return cur, nil, err
	}
	if version == 0 {
		if curIdx == 0 {
			return cur, nil, fmt.Errorf("%s/%s: %w", bucket, key, ErrNotFound)
		}
		version = cur.Version
	}
	var hist ObjectEntry
	histIdx := uint64(0)
	if it, err := c.Get(ctx, TableObjectVersions, versionKey(bucket, key, version)); err == nil {
		if err := decodeJSON(it, &hist); err != nil {
			return hist, nil, err
		}
		histIdx = it.ModIndex
	} else if !errors.Is(err, ErrNotFound) {
		return hist, nil, err
	}
	var e ObjectEntry
	switch {
	case histIdx != 0:
		e = hist
	case curIdx != 0 && cur.Version == version:
		e = cur
	default:
		return e, nil, fmt.Errorf("%s/%s version %d: %w", bucket, key, version, ErrNotFound)
	}
	if err := update(&e); err != nil {
		return e, nil, err
	}
	e.Bucket, e.Key, e.Version = bucket, key, version // not the update's to change
	v := c.encodeEntry(e)
	var ops []Op
	if histIdx != 0 {
		ops = append(ops, Op{Kind: OpPut, Table: TableObjectVersions, Key: versionKey(bucket, key, version), Value: v,
			Version: version, Cond: CondModIndex, ModIndex: histIdx})
	}
	if curIdx != 0 && cur.Version == version {
		ops = append(ops, Op{Kind: OpPut, Table: TableObjects, Key: objectKey(bucket, key), Value: v,
			Version: version, Cond: CondModIndex, ModIndex: curIdx})
	}
	e.ModIndex = 0
	return e, ops, nil
}
