package client

import (
	"context"
	"fmt"
)

// WriteTx is one indexed write (a new version or a delete marker) and what must hold, or
// go, with it in the same transaction.
type WriteTx struct {
	Entry     ObjectEntry // the version; DeleteMarker set for a delete marker
	Versioned bool        // also recorded in the version history
	// BucketMod is the mod index of the bucket record the write was authorized and placed
	// by: the commit fails with ErrConflict unless the bucket still exists unchanged, so a
	// write decided on a stale record (a policy since changed, a versioning change, a
	// bucket deleted) never lands. Zero requires only that the bucket exists.
	BucketMod uint64
	// Drop are history rows removed in the same transaction, each only while unchanged
	// since read (its ModIndex): the null version a suspended bucket's write replaces.
	Drop []ObjectEntry
	// CheckCurrent makes the commit fail with ErrConflict unless the key's current entry
	// is still the row CurrentMod names (its ModIndex; 0: no row), so a write decided on
	// what was current (the null version a suspended delete replaces) is not overtaken by
	// another write committed in between.
	CheckCurrent bool
	CurrentMod   uint64
}

// WriteResult is what a committed WriteTx did.
type WriteResult struct {
	// Applied is false when a write stamped later was already current (last writer wins):
	// the entry did not become current. In an unversioned bucket such a write left nothing
	// indexed, and its bytes are the caller's to remove.
	Applied bool
	// Replaced is the current entry this write replaced, when Applied and there was one.
	// ReplacedUnknown is set when the catalog answered a retried request from its memory
	// of outcomes, which keeps no values: what was replaced is not known.
	Replaced        *ObjectEntry
	ReplacedUnknown bool
}

// WriteTx commits w atomically: the bucket check, the current entry (last writer wins),
// the history row and the drops. One catalog round trip; ErrConflict if the bucket changed
// or a dropped row did, or if the version is in the history already.
func (g groupIndex) WriteTx(ctx context.Context, w WriteTx) (WriteResult, error) {
	e := w.Entry
	if err := checkObject(e.Bucket, e.Key); err != nil {
		return WriteResult{}, err
	}
	ops := g.c.putOps(e, w.Versioned)
	if e.DeleteMarker && !w.Versioned {
		return WriteResult{}, fmt.Errorf("%w: a delete marker outside the version history", ErrBadRequest)
	}
	ops[0].ReturnPrev = true
	ops = append(ops, BucketCheck(e.Bucket, w.BucketMod))
	if w.CheckCurrent {
		ops = append(ops, Op{Kind: OpCheck, Table: TableObjects, Key: objectKey(e.Bucket, e.Key), Cond: CondModIndex, ModIndex: w.CurrentMod})
	}
	for _, d := range w.Drop {
		if d.Bucket != e.Bucket || d.Key != e.Key || d.ModIndex == 0 {
			return WriteResult{}, fmt.Errorf("%w: drop of %s/%s version %d with the write of %s/%s", ErrBadRequest, d.Bucket, d.Key, d.Version, e.Bucket, e.Key)
		}
		ops = append(ops, Op{Kind: OpDelete, Table: TableObjectVersions, Key: versionKey(d.Bucket, d.Key, d.Version), Cond: CondModIndex, ModIndex: d.ModIndex})
	}
	resp, err := g.c.Apply(ctx, ops...)
	if err != nil {
		return WriteResult{}, err
	}
	return writeResult(resp.Results[0])
}

// writeResult reads what the put of an entry as current (with ReturnPrev) did.
func writeResult(r OpResult) (WriteResult, error) {
	out := WriteResult{Applied: r.Applied, ReplacedUnknown: r.PrevLost}
	if r.Prev != nil {
		var prev ObjectEntry
		if err := decodeJSON(*r.Prev, &prev); err != nil {
			return out, err
		}
		prev.ModIndex = r.Prev.ModIndex
		out.Replaced = &prev
	}
	return out, nil
}
