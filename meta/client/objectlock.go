package client

import (
	"context"
	"errors"
	"time"
)

// ObjectLock is one object version's Object Lock state (ObjectEntry.Lock): a retention
// period, a legal hold, or both. Stored: never rename a field.
type ObjectLock struct {
	// Mode is "GOVERNANCE" or "COMPLIANCE"; "" when the version has no retention period.
	Mode string `json:"mode,omitempty"`
	// RetainUntil is when the retention period ends (UTC); zero without one.
	RetainUntil time.Time `json:"retain_until,omitzero"`
	// LegalHold is "ON" or "OFF" once set; "" when never set.
	LegalHold string `json:"legal_hold,omitempty"`
}

// DeleteVersionIf is DeleteVersion with a last word: allow runs on the version as read in
// the same read-decide-write round that deletes it, and an error from it is returned as is
// with nothing deleted. The version's own entry is deleted under the mod index allow saw,
// so a change that lands in between (a retention period or legal hold set on the version)
// makes the round read again and ask allow again rather than be deleted unseen.
func (g groupIndex) DeleteVersionIf(ctx context.Context, bucket, key string, version uint64, allow func(ObjectEntry) error) (ObjectEntry, error) {
	if err := checkObject(bucket, key); err != nil {
		return ObjectEntry{}, err
	}
	for attempt := 0; ; attempt++ {
		var gone ObjectEntry
		it, err := g.c.Get(ctx, TableObjectVersions, versionKey(bucket, key, version))
		if err != nil {
			return gone, err
		}
		if err := decodeJSON(it, &gone); err != nil {
			return gone, err
		}
		if allow != nil {
			if err := allow(gone); err != nil {
				return gone, err
			}
		}
		var cur ObjectEntry
		curIdx := uint64(0)
		if ci, err := g.c.Get(ctx, TableObjects, objectKey(bucket, key)); err == nil {
			if err := decodeJSON(ci, &cur); err != nil {
				return gone, err
			}
			curIdx = ci.ModIndex
		} else if !errors.Is(err, ErrNotFound) {
			return gone, err
		}
		ops := []Op{{Kind: OpDelete, Table: TableObjectVersions, Key: versionKey(bucket, key, version),
			Cond: CondModIndex, ModIndex: it.ModIndex}}
		if curIdx != 0 && cur.Version == version {
			// The newest other version takes its place; versions list newest first.
			items, _, err := g.c.List(ctx, TableObjectVersions, objectKey(bucket, key)+"\x00", "", 2)
			if err != nil {
				return gone, err
			}
			var next *Item
			for i := range items {
				if items[i].Key != versionKey(bucket, key, version) {
					next = &items[i]
					break
				}
			}
			if next != nil {
				ops = append(ops, Op{Kind: OpPut, Table: TableObjects, Key: objectKey(bucket, key), Value: next.Value,
					Version: next.Version, Cond: CondModIndex, ModIndex: curIdx})
			} else {
				ops = append(ops, Op{Kind: OpDelete, Table: TableObjects, Key: objectKey(bucket, key), Cond: CondModIndex, ModIndex: curIdx})
			}
		}
		_, err = g.c.Apply(ctx, ops...)
		if errors.Is(err, ErrConflict) && attempt < 5 {
			continue
		}
		return gone, err
	}
}
