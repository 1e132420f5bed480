package s3api

import (
	"context"
	"errors"

	"stratus/internal/hlc"
	meta "stratus/meta/client"
)

// dropNullData removes the bytes of e, a null version the index no longer names: a
// multipart one's parts (parts, if already read from its manifest, else read now), an
// erasure-coded one's fragment archives, and the whole copies at its name (dataName).
// The tombstones are stamped just after e's own version, not now: entries from before null
// versions had names of their own live at the object's own name, where a tombstone stamped
// later than a newer write there would destroy it whenever it reached a replica after it. Failures leave garbage, never a dangling
// reference, so they are logged.
func (s *Server) dropNullData(ctx context.Context, e meta.ObjectEntry, parts []manifestPart) {
	if e.DeleteMarker || !isNull(e) {
		return
	}
	if parts == nil && isMultipartETag(e.ETag) {
		if m, err := s.readManifest(ctx, e); err == nil {
			parts = m.Parts
		} else {
			parts, _ = entryParts(e) // the parts' coding is then unknown: coded ones stay
		}
	}
	at := hlc.Timestamp(e.Version + 1)
	if e.EC != nil {
		s.dropReplaced(ctx, replacedData{ec: e.EC, name: dataName(e), parts: parts}, at)
		return
	}
	if err := s.data.Tombstones(context.WithoutCancel(ctx), dataName(e), at); err != nil {
		s.log.Warn("drop the bytes of a removed null version", "bucket", e.Bucket, "err", err)
	}
	s.dropParts(ctx, parts)
}

// maxNullRetries bounds how often a write or delete that replaces a key's null version
// reads again after a concurrent change of that key won the race.
const maxNullRetries = 8

// replacedNull decides what a null write (or suspended delete) of key stamped version
// replaces: the null versions older than it (at most one, the protocol keeps it so), the
// current entry's mod index that its commit is then conditional on (meta.WriteTx
// CheckCurrent: another null write committed in between changes it, and the commit reads
// again rather than leave two null versions), and whether a null version is newer.
//
// The current entry is read first. When it is the null version itself, the usual case in a
// suspended bucket, it is what goes, and its history row, written in the same transaction,
// bears the same mod index: one read, no listing. With no current entry there is no history
// either. Otherwise (the null version lies under newer versions from when versioning was
// on), or when thorough (a commit decided the quick way conflicted), the history is listed.
func (s *Server) replacedNull(ctx context.Context, bucket, key string, version uint64, thorough bool) (drop []meta.ObjectEntry, curMod uint64, newer bool, err error) {
	cur, err := s.meta.Index(bucket).GetObject(ctx, bucket, key)
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return nil, 0, false, err
	}
	curMod = cur.ModIndex
	if !thorough && curMod == 0 {
		return nil, 0, false, nil
	}
	if !thorough && versionID(cur) == nullVersion && deletable(cur, s.now(), false) == nil {
		switch {
		case cur.Version > version:
			return nil, curMod, true, nil
		case cur.Version < version:
			return []meta.ObjectEntry{cur}, curMod, false, nil
		}
		return nil, curMod, false, nil
	}
	drop, newer = s.nullVersions(ctx, bucket, key, version)
	return drop, curMod, newer, nil
}
