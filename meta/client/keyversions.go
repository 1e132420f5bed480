package client

import "context"

// ListKeyVersions lists the version history of bucket/key alone, newest first, starting
// with the version below below (0: the newest). Unlike ListObjectVersions, whose after is a
// key, it can go on in the middle of a key's versions, so a key with more versions than a
// page holds is listed whole; and versions of longer keys with key as prefix never come
// back.
func (g groupIndex) ListKeyVersions(ctx context.Context, bucket, key string, below uint64, limit int, opts ...ReadOption) ([]ObjectEntry, bool, error) {
	if err := checkObject(bucket, key); err != nil {
		return nil, false, err
	}
	prefix := objectKey(bucket, key) + "\x00"
	from := ""
	if below != 0 {
		from = versionKey(bucket, key, below) // rows sort newest first: older ones follow
	}
	items, more, err := g.c.List(ctx, TableObjectVersions, prefix, from, limit, opts...)
	if err != nil {
		return nil, false, err
	}
	out := make([]ObjectEntry, 0, len(items))
	for _, it := range items {
		var e ObjectEntry
		if err := decodeJSON(it, &e); err != nil {
			return nil, false, err
		}
		e.ModIndex = it.ModIndex
		out = append(out, e)
	}
	return out, more, nil
}
