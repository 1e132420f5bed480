package s3api

import (
	"context"

	"stratus/internal/hlc"
	meta "stratus/meta/client"
)

// dropNullData removes the bytes of e, a null version the index no longer names: a
// multipart one's parts (parts, if already read from its manifest, else read now), an
// erasure-coded one's fragment archives, and the whole copies at the object's own name.
// The tombstones are stamped just after e's own version, not now: the next null write puts
// its bytes at the same name, and a tombstone stamped later than that write would destroy
// them whenever it reached a replica after them. Failures leave garbage, never a dangling
// reference, so they are logged.
func (s *Server) dropNullData(ctx context.Context, e meta.ObjectEntry, parts []manifestPart) {
	if e.DeleteMarker || e.Data != "" {
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
