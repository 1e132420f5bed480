package s3api

import (
	"net/http"
	"strings"

	meta "stratus/meta/client"
)

// versionItem is one entry of a ListObjectVersions page with a delimiter: a version (or
// delete marker) or a common prefix.
type versionItem struct {
	e      meta.ObjectEntry
	latest bool
	prefix string // set for a common prefix
}

// listVersionsDelimited serves GET ?versions with a delimiter: keys that share the prefix
// up to the delimiter roll up into one common prefix, which counts against max-keys like a
// version; a page ending with one names it in NextKeyMarker (and no version ID), and the
// next page starts past every key under it.
func (s *Server) listVersionsDelimited(rq *request, b meta.Bucket, out xmlVersions, prefix, delimiter, keyMarker, vidMarker string,
	max int, enc func(string) string) error {
	ctx := rq.r.Context()
	idx := s.meta.Index(rq.bucket)
	versioned := b.Versioning != meta.VersioningOff
	list := idx.ListObjectVersions
	if !versioned {
		list = idx.ListObjects
	}
	out.Delimiter = enc(delimiter)
	var items []versionItem
	after, lastKey := keyMarker, ""
	if keyMarker != "" && commonPrefix(keyMarker, prefix, delimiter) == keyMarker {
		after = keyMarker + maxKeyRune // the page before ended with this common prefix
	} else if vidMarker != "" && versioned && strings.HasPrefix(keyMarker, prefix) {
		rest, err := s.versionsAfter(ctx, rq.bucket, keyMarker, vidMarker, max+1)
		if err != nil {
			return err
		}
		for _, e := range rest {
			items = append(items, versionItem{e: e})
		}
		lastKey = keyMarker
	}
	for max > 0 && len(items) <= max {
		batch, more, err := list(ctx, rq.bucket, prefix, after, max+1-len(items))
		if err != nil {
			return err
		}
		rolled := false
		for _, e := range batch {
			if cp := commonPrefix(e.Key, prefix, delimiter); cp != "" {
				items = append(items, versionItem{prefix: cp})
				after, rolled = cp+maxKeyRune, true
				break
			}
			items = append(items, versionItem{e: e, latest: e.Key != lastKey})
			lastKey, after = e.Key, e.Key
		}
		// A batch that was not cut short by a common prefix and has more behind it filled
		// the page: a versioned listing returns every entry asked for.
		if !rolled && (!more || len(batch) == 0) {
			break
		}
	}
	page := items[:min(max, len(items))]
	out.IsTruncated = len(items) > max && max > 0
	if out.IsTruncated {
		last := page[len(page)-1]
		if last.prefix != "" {
			out.NextKeyMarker = enc(last.prefix)
		} else {
			out.NextKeyMarker, out.NextVersionIDMarker = enc(last.e.Key), versionID(last.e)
		}
	}
	owner := &xmlOwner{ID: rq.account, DisplayName: rq.account}
	for _, it := range page {
		if it.prefix != "" {
			out.CommonPrefixes = append(out.CommonPrefixes, xmlPrefix{enc(it.prefix)})
			continue
		}
		e := it.e
		v := xmlVersionEntry{Key: enc(e.Key), VersionID: versionID(e), IsLatest: it.latest,
			LastModified: isoTime(lastModified(e.Version)), Owner: owner}
		if e.DeleteMarker {
			out.DeleteMarkers = append(out.DeleteMarkers, v)
			continue
		}
		size := e.Size
		v.ETag, v.Size, v.StorageClass = `"`+e.ETag+`"`, &size, "STANDARD"
		out.Versions = append(out.Versions, v)
	}
	return writeXML(rq.w, http.StatusOK, out)
}
