package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Index is the object index of a set of buckets. Every method names its bucket, so an
// implementation can route each bucket to the Raft group that holds it; today one group holds
// every bucket. Versions are the proxy's HLC timestamps: the entry with the highest version is
// current (last writer wins), whatever order the commits arrive in.
type Index interface {
	// PutObject records e as a version of e.Bucket/e.Key. With versioned set, the version is
	// also kept in the version history.
	PutObject(ctx context.Context, e ObjectEntry, versioned bool) error
	// WriteTx indexes a version or a delete marker in one transaction with a check of the
	// bucket record and the removal of rows it replaces, and reports whether it became
	// current and what it replaced (indexwrite.go).
	WriteTx(ctx context.Context, w WriteTx) (WriteResult, error)
	// GetObject returns the current version; ErrNotFound if there is none or it is a delete
	// marker.
	GetObject(ctx context.Context, bucket, key string, opts ...ReadOption) (ObjectEntry, error)
	// GetObjectVersion returns one version from the history of a versioned bucket.
	GetObjectVersion(ctx context.Context, bucket, key string, version uint64, opts ...ReadOption) (ObjectEntry, error)
	// DeleteObject deletes bucket/key as of version (the delete's timestamp). In a versioned
	// bucket it adds a delete marker instead.
	DeleteObject(ctx context.Context, bucket, key string, version uint64, versioned bool) error
	// RemoveObject is DeleteObject without versioning, and returns the entry it removed
	// (nil if there was none, or a newer one stayed): the caller drops its bytes.
	RemoveObject(ctx context.Context, bucket, key string, version uint64) (*ObjectEntry, error)
	// ListObjects lists current objects whose keys start with prefix and sort after after.
	ListObjects(ctx context.Context, bucket, prefix, after string, limit int, opts ...ReadOption) (entries []ObjectEntry, more bool, err error)
	// ListObjectsDelimited is ListObjects as S3 lists with a delimiter: the objects whose key
	// after prefix contains delimiter are rolled up into common prefixes, each one row, which
	// the catalog passes over in one seek however many objects it holds. Rows come in key
	// order, at most limit; an after that is a common prefix skips all of it.
	ListObjectsDelimited(ctx context.Context, bucket, prefix, delimiter, after string, limit int, opts ...ReadOption) (rows []ObjectRow, more bool, err error)
	// PutVersion adds e to the version history only, leaving the current version alone:
	// how a version written before versioning was enabled joins the history. A version
	// already there is left as it is (ErrConflict): it may have changed since e was read.
	PutVersion(ctx context.Context, e ObjectEntry) error
	// DeleteVersion removes one version from the history for good and returns it. If it
	// was the current version, the newest remaining one becomes current (or the key goes).
	// ErrNotFound if there is no such version.
	DeleteVersion(ctx context.Context, bucket, key string, version uint64) (ObjectEntry, error)
	// DeleteVersionIf is DeleteVersion that deletes only if allow, run on the version as
	// read in the same conditional round, returns nil (its error is returned otherwise).
	DeleteVersionIf(ctx context.Context, bucket, key string, version uint64, allow func(ObjectEntry) error) (ObjectEntry, error)
	// ListObjectVersions lists the version history, newest version of each key first.
	// after is a key; the listing restarts at the key after it.
	ListObjectVersions(ctx context.Context, bucket, prefix, after string, limit int, opts ...ReadOption) (entries []ObjectEntry, more bool, err error)
	// ListKeyVersions lists one key's versions, newest first, from below a version (keyversions.go).
	ListKeyVersions(ctx context.Context, bucket, key string, below uint64, limit int, opts ...ReadOption) (entries []ObjectEntry, more bool, err error)
	// UpdateObject changes one version's index entry in place (its tags, ACL, retention …;
	// never its data): update runs on the entry of bucket/key at version (0: the current
	// version) as found in the current entry, the version history, or both, and the changed
	// entries are written back under their mod indexes, so a concurrent write or delete makes
	// this read again instead of being clobbered. It returns the entry as written, or
	// ErrNotFound when the version is not indexed (a delete marker is found; update decides
	// what to do with it). An error from update is returned as is and nothing is written.
	UpdateObject(ctx context.Context, bucket, key string, version uint64, update func(*ObjectEntry) error) (ObjectEntry, error)
	// DeleteCurrentIf, DeleteNoncurrentVersion and AbortUploadIf are removals conditional
	// on what a lifecycle scan saw (indexexpire.go).
	DeleteCurrentIf(ctx context.Context, cur ObjectEntry, at uint64, versioned bool) error
	DeleteNoncurrentVersion(ctx context.Context, bucket, key string, version uint64, check func(ObjectEntry) error) (ObjectEntry, error)
	AbortUploadIf(ctx context.Context, u Upload) error

	// CreateUpload starts a multipart upload.
	CreateUpload(ctx context.Context, u Upload) error
	// Upload returns an upload in progress.
	Upload(ctx context.Context, bucket, key, uploadID string, opts ...ReadOption) (Upload, error)
	// PutPart records an uploaded part, replacing an older upload of the same number.
	PutPart(ctx context.Context, bucket string, p Part) error
	// ListParts returns the parts of an upload in part-number order.
	ListParts(ctx context.Context, bucket, uploadID string, opts ...ReadOption) ([]Part, error)
	// CompleteUpload indexes e as the object and forgets the upload and its parts.
	CompleteUpload(ctx context.Context, u Upload, e ObjectEntry, versioned bool, bucketMod uint64) (WriteResult, error)
	// AbortUpload forgets the upload and its parts.
	AbortUpload(ctx context.Context, u Upload) error
}

// Index returns the object index that holds bucket.
func (c *Client) Index(bucket string) Index { return groupIndex{c: c} }

// groupIndex is the index of a single Raft group.
type groupIndex struct{ c *Client }

// Key layout (stored; never change):
//
//	objects          bucket "/" key
//	object_versions  bucket "/" key "\x00" 16 hex digits of ^version (newest sorts first)
//	uploads          bucket "/" key "\x00" uploadID
//	upload_parts     uploadID "/" 5-digit part number
func objectKey(bucket, key string) string { return bucket + "/" + key }

func versionKey(bucket, key string, version uint64) string {
	return fmt.Sprintf("%s/%s\x00%016x", bucket, key, ^version)
}

func uploadKey(bucket, key, id string) string { return bucket + "/" + key + "\x00" + id }

func partKey(uploadID string, n int) string { return fmt.Sprintf("%s/%05d", uploadID, n) }

func checkObject(bucket, key string) error {
	if bucket == "" || strings.Contains(bucket, "/") {
		return fmt.Errorf("%w: bucket name %q", ErrBadRequest, bucket)
	}
	if key == "" || strings.ContainsRune(key, 0) {
		return fmt.Errorf("%w: object key %q", ErrBadRequest, key)
	}
	return nil
}

func (c *Client) putOps(e ObjectEntry, versioned bool) []Op {
	v := c.encodeEntry(e)
	ops := []Op{{Kind: OpPut, Table: TableObjects, Key: objectKey(e.Bucket, e.Key), Value: v, Cond: CondNewer, Version: e.Version}}
	if versioned {
		// A version, once indexed, is changed only in place (UpdateObject) or deleted: a
		// write stamped with the same version (another proxy's clock) fails instead of
		// replacing it, and the writer retries.
		ops = append(ops, Op{Kind: OpPut, Table: TableObjectVersions, Key: versionKey(e.Bucket, e.Key, e.Version), Value: v, Version: e.Version, Cond: CondAbsent})
	}
	return ops
}

func (g groupIndex) PutObject(ctx context.Context, e ObjectEntry, versioned bool) error {
	if err := checkObject(e.Bucket, e.Key); err != nil {
		return err
	}
	_, err := g.c.Apply(ctx, g.c.putOps(e, versioned)...)
	return err
}

func (g groupIndex) GetObject(ctx context.Context, bucket, key string, opts ...ReadOption) (ObjectEntry, error) {
	var e ObjectEntry
	it, err := g.c.Get(ctx, TableObjects, objectKey(bucket, key), opts...)
	if err != nil {
		return e, err
	}
	if err := decodeJSON(it, &e); err != nil {
		return e, err
	}
	e.ModIndex = it.ModIndex
	if e.DeleteMarker {
		return e, fmt.Errorf("%s/%s: delete marker: %w", bucket, key, ErrNotFound)
	}
	return e, nil
}

func (g groupIndex) GetObjectVersion(ctx context.Context, bucket, key string, version uint64, opts ...ReadOption) (ObjectEntry, error) {
	var e ObjectEntry
	it, err := g.c.Get(ctx, TableObjectVersions, versionKey(bucket, key, version), opts...)
	if err != nil {
		return e, err
	}
	err = decodeJSON(it, &e)
	e.ModIndex = it.ModIndex
	return e, err
}

func (g groupIndex) DeleteObject(ctx context.Context, bucket, key string, version uint64, versioned bool) error {
	if err := checkObject(bucket, key); err != nil {
		return err
	}
	if versioned {
		_, err := g.c.Apply(ctx, g.c.putOps(ObjectEntry{Bucket: bucket, Key: key, Version: version, DeleteMarker: true}, true)...)
		return err
	}
	_, err := g.c.Apply(ctx, Op{Kind: OpDelete, Table: TableObjects, Key: objectKey(bucket, key), Cond: CondNewer, Version: version})
	return err
}

func (g groupIndex) list(ctx context.Context, table, bucket, prefix, after string, limit int, current bool, opts []ReadOption) ([]ObjectEntry, bool, error) {
	from := ""
	if after != "" {
		from = objectKey(bucket, after)
		if table == TableObjectVersions {
			from += "\x00\xff" // past every version of after
		}
	}
	for {
		items, more, err := g.c.List(ctx, table, objectKey(bucket, prefix), from, limit, opts...)
		if err != nil {
			return nil, false, err
		}
		out := make([]ObjectEntry, 0, len(items))
		for _, it := range items {
			var e ObjectEntry
			if err := decodeJSON(it, &e); err != nil {
				return nil, false, err
			}
			if current && e.DeleteMarker {
				continue
			}
			e.ModIndex = it.ModIndex
			out = append(out, e)
		}
		// A page of nothing but delete markers would leave the caller no key to go on
		// from; read on past it instead.
		if len(out) > 0 || !more || len(items) == 0 {
			return out, more, nil
		}
		from = items[len(items)-1].Key
	}
}

func (g groupIndex) PutVersion(ctx context.Context, e ObjectEntry) error {
	if err := checkObject(e.Bucket, e.Key); err != nil {
		return err
	}
	_, err := g.c.Apply(ctx, Op{Kind: OpPut, Table: TableObjectVersions, Key: versionKey(e.Bucket, e.Key, e.Version), Value: g.c.encodeEntry(e), Version: e.Version,
		Cond: CondAbsent})
	return err
}

func (g groupIndex) DeleteVersion(ctx context.Context, bucket, key string, version uint64) (ObjectEntry, error) {
	return g.DeleteVersionIf(ctx, bucket, key, version, nil)
}

func (g groupIndex) ListObjects(ctx context.Context, bucket, prefix, after string, limit int, opts ...ReadOption) ([]ObjectEntry, bool, error) {
	return g.list(ctx, TableObjects, bucket, prefix, after, limit, true, opts)
}

func (g groupIndex) ListObjectVersions(ctx context.Context, bucket, prefix, after string, limit int, opts ...ReadOption) ([]ObjectEntry, bool, error) {
	return g.list(ctx, TableObjectVersions, bucket, prefix, after, limit, false, opts)
}

func (g groupIndex) CreateUpload(ctx context.Context, u Upload) error {
	if err := checkObject(u.Bucket, u.Key); err != nil {
		return err
	}
	if u.UploadID == "" || strings.Contains(u.UploadID, "/") {
		return fmt.Errorf("%w: upload id %q", ErrBadRequest, u.UploadID)
	}
	_, err := g.c.Apply(ctx, Op{Kind: OpPut, Table: TableUploads, Key: uploadKey(u.Bucket, u.Key, u.UploadID), Value: encodeJSON(u), Cond: CondAbsent})
	return err
}

func (g groupIndex) Upload(ctx context.Context, bucket, key, uploadID string, opts ...ReadOption) (Upload, error) {
	var u Upload
	_, err := g.c.getJSON(ctx, TableUploads, uploadKey(bucket, key, uploadID), &u, opts)
	return u, err
}

func (g groupIndex) PutPart(ctx context.Context, bucket string, p Part) error {
	if p.Number < 1 || p.Number > 10000 {
		return fmt.Errorf("%w: part number %d", ErrBadRequest, p.Number)
	}
	_, err := g.c.Apply(ctx, Op{Kind: OpPut, Table: TableUploadParts, Key: partKey(p.UploadID, p.Number), Value: encodeJSON(p), Cond: CondNewer, Version: p.Version})
	return err
}

func (g groupIndex) ListParts(ctx context.Context, bucket, uploadID string, opts ...ReadOption) ([]Part, error) {
	items, err := g.c.listAll(ctx, TableUploadParts, uploadID+"/", opts)
	if err != nil {
		return nil, err
	}
	parts := make([]Part, len(items))
	for i, it := range items {
		if err := decodeJSON(it, &parts[i]); err != nil {
			return nil, err
		}
	}
	return parts, nil
}

// CompleteUpload commits the object and the upload's removal atomically, then removes the
// parts in requests of at most 1000. Parts left by a crash in between are garbage only: the
// upload record is gone, so they are never listed as an upload. The commit requires the
// upload record as it was read here: an upload aborted meanwhile (whose parts' bytes are
// being dropped) is ErrNotFound, never an object. Like WriteTx, the commit checks that the
// bucket record is unchanged since bucketMod (0: no check), and the result
// says whether the entry became current and which it replaced: an upload completed after a
// later-stamped write of its key ends all the same, but its object is not current. Once
// the commit is made, a failure to remove the part rows is a *LeftoverError.
func (g groupIndex) CompleteUpload(ctx context.Context, u Upload, e ObjectEntry, versioned bool, bucketMod uint64) (WriteResult, error) {
	key := uploadKey(u.Bucket, u.Key, u.UploadID)
	it, err := g.c.Get(ctx, TableUploads, key)
	if err != nil {
		return WriteResult{}, err
	}
	ops := g.c.putOps(e, versioned)
	ops[0].ReturnPrev = true
	ops = append(ops, Op{Kind: OpDelete, Table: TableUploads, Key: key, Cond: CondModIndex, ModIndex: it.ModIndex})
	if bucketMod != 0 {
		ops = append(ops, BucketCheck(e.Bucket, bucketMod))
	}
	resp, err := g.c.Apply(ctx, ops...)
	if errors.Is(err, ErrConflict) {
		// The upload ended meanwhile, the bucket record changed, or the version is
		// indexed already.
		if now, gerr := g.c.Get(ctx, TableUploads, key); gerr == nil && now.ModIndex == it.ModIndex {
			return WriteResult{}, err
		}
		return WriteResult{}, fmt.Errorf("upload %s ended meanwhile: %w", u.UploadID, ErrNotFound)
	} else if err != nil {
		return WriteResult{}, err
	}
	res, err := writeResult(resp.Results[0])
	if err != nil {
		res.ReplacedUnknown = true // committed all the same
	}
	if err := g.deleteParts(ctx, u.UploadID); err != nil {
		return res, &LeftoverError{Err: err}
	}
	return res, nil
}

func (g groupIndex) AbortUpload(ctx context.Context, u Upload) error {
	if _, err := g.c.Apply(ctx, Op{Kind: OpDelete, Table: TableUploads, Key: uploadKey(u.Bucket, u.Key, u.UploadID)}); err != nil {
		return err
	}
	return g.deleteParts(ctx, u.UploadID)
}

func (g groupIndex) deleteParts(ctx context.Context, uploadID string) error {
	items, err := g.c.listAll(ctx, TableUploadParts, uploadID+"/", nil)
	if err != nil {
		return err
	}
	for len(items) > 0 {
		n := min(len(items), 1000)
		ops := make([]Op, n)
		for i, it := range items[:n] {
			ops[i] = Op{Kind: OpDelete, Table: TableUploadParts, Key: it.Key}
		}
		if _, err := g.c.Apply(ctx, ops...); err != nil {
			return err
		}
		items = items[n:]
	}
	return nil
}
