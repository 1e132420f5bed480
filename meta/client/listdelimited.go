package client

import (
	"context"
	"net/http"
	"strings"
)

// ListDelimited is List that rolls keys up at delimiter (see ListRequest.Delimiter): each
// common prefix comes back once, as its first key with CommonPrefix set, and counts once
// against limit. To go on when more is set, pass as after the last item's CommonPrefix, or
// its Key if it has none.
func (c *Client) ListDelimited(ctx context.Context, table, prefix, delimiter, after string, limit int, opts ...ReadOption) (items []Item, more bool, err error) {
	var resp ListResponse
	err = c.call(ctx, http.MethodPost, PathList, ListRequest{Table: table, Prefix: prefix, After: after, Limit: limit,
		Delimiter: delimiter, Stale: readOpts(opts).stale}, &resp, 0)
	return resp.Items, resp.More, err
}

// ObjectRow is one row of a delimited object listing: a current object, or a common
// prefix standing for the objects under it.
type ObjectRow struct {
	Prefix string      // the common prefix; empty for an object
	Entry  ObjectEntry // the object, when Prefix is empty
}

// Name is what the row sorts by: the object's key or the common prefix. A listing that
// goes on after it starts after the row.
func (r ObjectRow) Name() string {
	if r.Prefix != "" {
		return r.Prefix
	}
	return r.Entry.Key
}

// ListObjectsDelimited lists current objects under prefix after after, rolling up at
// delimiter (none: every object is a row), up to limit rows in key order. A common prefix
// is listed only if a current object (not a delete marker) is under it. An after that is a
// common prefix skips all of it. more reports that rows may follow the last one returned.
func (g groupIndex) ListObjectsDelimited(ctx context.Context, bucket, prefix, delimiter, after string, limit int, opts ...ReadOption) ([]ObjectRow, bool, error) {
	base := objectKey(bucket, "")
	// done is the common prefix last listed (or skipped): a catalog that predates
	// delimited lists returns every key under it, which are passed over here.
	done := ""
	if cp := CommonPrefix(after, prefix, delimiter); cp != "" && cp == after {
		done = cp
	}
	from := ""
	if after != "" {
		from = base + after
	}
	for {
		items, more, err := g.c.ListDelimited(ctx, TableObjects, base+prefix, delimiter, from, limit, opts...)
		if err != nil {
			return nil, false, err
		}
		var rows []ObjectRow
		for _, it := range items {
			key := strings.TrimPrefix(it.Key, base)
			cp := strings.TrimPrefix(it.CommonPrefix, base)
			if it.CommonPrefix == "" {
				cp = CommonPrefix(key, prefix, delimiter)
			}
			from = it.Key
			if cp != "" {
				from = base + cp
				if cp == done {
					continue
				}
				done = cp
				live, err := g.anyCurrent(ctx, bucket, cp, it, opts)
				if err != nil {
					return nil, false, err
				}
				if live {
					rows = append(rows, ObjectRow{Prefix: cp})
				}
				continue
			}
			var e ObjectEntry
			if err := decodeJSON(it, &e); err != nil {
				return nil, false, err
			}
			if e.DeleteMarker {
				continue
			}
			e.ModIndex = it.ModIndex
			rows = append(rows, ObjectRow{Entry: e})
		}
		// A page of nothing but delete markers (or, from an older catalog, keys of one
		// common prefix) leaves the caller no row to go on from; read on past it instead.
		if len(rows) > 0 || !more || len(items) == 0 {
			return rows, more, nil
		}
	}
}

// anyCurrent reports whether a current object is under the common prefix cp from its first
// key listed, first, on: usually first says so at once; only when it is a delete marker does
// the rest of cp need reading.
func (g groupIndex) anyCurrent(ctx context.Context, bucket, cp string, first Item, opts []ReadOption) (bool, error) {
	var e ObjectEntry
	if err := decodeJSON(first, &e); err != nil {
		return false, err
	}
	if !e.DeleteMarker {
		return true, nil
	}
	live, _, err := g.list(ctx, TableObjects, bucket, cp, e.Key, 1000, true, opts)
	return len(live) > 0, err
}

// CommonPrefix is the common prefix key rolls up into in a listing of prefix with delimiter,
// as S3 defines it: prefix and what follows it up to and including the first delimiter;
// empty if there is no delimiter there.
func CommonPrefix(key, prefix, delimiter string) string {
	if delimiter == "" || !strings.HasPrefix(key, prefix) {
		return ""
	}
	if i := strings.Index(key[len(prefix):], delimiter); i >= 0 {
		return key[:len(prefix)+i+len(delimiter)]
	}
	return ""
}
