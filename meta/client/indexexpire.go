package client

import (
	"context"
	"errors"
	"fmt"
)

// Conditional removals for a background expirer: it decides from a listing, and what it
// decided about must still be so when it acts, or a write that came in between would be
// lost.

// DeleteCurrentIf deletes bucket/key as of version at (a delete marker at at, with
// versioned set) only while its current entry is still cur: same version, and unchanged
// since cur was read (cur.ModIndex). Otherwise it returns ErrConflict and changes nothing.
func (g groupIndex) DeleteCurrentIf(ctx context.Context, cur ObjectEntry, at uint64, versioned bool) error {
	if err := checkObject(cur.Bucket, cur.Key); err != nil {
		return err
	}
	if cur.ModIndex == 0 || at <= cur.Version {
		return fmt.Errorf("%w: conditional delete of %s/%s needs the entry's mod index and a later version", ErrBadRequest, cur.Bucket, cur.Key)
	}
	key := objectKey(cur.Bucket, cur.Key)
	if !versioned {
		_, err := g.c.Apply(ctx, Op{Kind: OpDelete, Table: TableObjects, Key: key, Cond: CondModIndex, ModIndex: cur.ModIndex})
		return err
	}
	ops := g.c.putOps(ObjectEntry{Bucket: cur.Bucket, Key: cur.Key, Version: at, DeleteMarker: true}, true)
	ops[0].Cond, ops[0].ModIndex = CondModIndex, cur.ModIndex
	_, err := g.c.Apply(ctx, ops...)
	return err
}

// DeleteNoncurrentVersion removes one version from the history for good, as DeleteVersion
// does, but only while it is not the current version: ErrConflict if it is (a newer one
// was deleted meanwhile), ErrNotFound if it is gone already. check, if not nil, sees the
// version first and may refuse (its error is returned); the removal is conditional on the
// version's row as check saw it, so a change in between (a legal hold set) fails it. It
// returns the removed entry.
func (g groupIndex) DeleteNoncurrentVersion(ctx context.Context, bucket, key string, version uint64, check func(ObjectEntry) error) (ObjectEntry, error) {
	var gone ObjectEntry
	if err := checkObject(bucket, key); err != nil {
		return gone, err
	}
	it, err := g.c.Get(ctx, TableObjectVersions, versionKey(bucket, key, version))
	if err != nil {
		return gone, err
	}
	if err := decodeJSON(it, &gone); err != nil {
		return gone, err
	}
	if check != nil {
		if err := check(gone); err != nil {
			return gone, err
		}
	}
	ops := []Op{{Kind: OpDelete, Table: TableObjectVersions, Key: versionKey(bucket, key, version), Cond: CondModIndex, ModIndex: it.ModIndex}}
	ci, err := g.c.Get(ctx, TableObjects, objectKey(bucket, key))
	switch {
	case errors.Is(err, ErrNotFound):
		// No current entry at all: the version is noncurrent only if a newer one exists,
		// which the history would show first; with none, it would be current. Leave it.
		return gone, fmt.Errorf("%s/%s version %d has no current entry above it: %w", bucket, key, version, ErrConflict)
	case err != nil:
		return gone, err
	}
	var cur ObjectEntry
	if err := decodeJSON(ci, &cur); err != nil {
		return gone, err
	}
	if cur.Version <= version {
		return gone, fmt.Errorf("%s/%s version %d is current: %w", bucket, key, version, ErrConflict)
	}
	// Rewriting the current entry unchanged under its mod index makes the removal fail if
	// the current entry changed in between (and might now be this version).
	ops = append(ops, Op{Kind: OpPut, Table: TableObjects, Key: objectKey(bucket, key), Value: ci.Value, Version: cur.Version,
		Cond: CondModIndex, ModIndex: ci.ModIndex})
	_, err = g.c.Apply(ctx, ops...)
	return gone, err
}

// AbortUploadIf forgets upload u and its parts, as AbortUpload does, but only while the
// upload is still in progress: ErrNotFound if it was completed or aborted meanwhile, so the
// caller never drops the parts of an object that was just completed from them.
func (g groupIndex) AbortUploadIf(ctx context.Context, u Upload) error {
	it, err := g.c.Get(ctx, TableUploads, uploadKey(u.Bucket, u.Key, u.UploadID))
	if err != nil {
		return err
	}
	_, err = g.c.Apply(ctx, Op{Kind: OpDelete, Table: TableUploads, Key: it.Key, Cond: CondModIndex, ModIndex: it.ModIndex})
	if errors.Is(err, ErrConflict) {
		return fmt.Errorf("upload %s changed meanwhile: %w", u.UploadID, ErrNotFound)
	}
	if err != nil {
		return err
	}
	return g.deleteParts(ctx, u.UploadID)
}
