package s3api

import (
	"context"
	"errors"
	"fmt"

	meta "stratus/meta/client"
)

// What the lifecycle scanner (s3api/lifecycle) removes goes through the same paths as the
// S3 calls that remove it by hand, so the bytes, parts and version history are treated
// alike. Each removal is conditional on what the scanner saw when it listed: a write or a
// delete that came in between wins, and the removal fails with meta.ErrConflict or
// meta.ErrNotFound, which mean "changed meanwhile; skip it".

// ExpireObject expires e, the current version of its key as listed: with versioning off it
// deletes the object (index entry, bytes, parts), as DeleteObject does; otherwise it puts a
// delete marker on it (and, with versioning suspended, removes the null version), as a
// DeleteObject without a version ID does.
func (s *Server) ExpireObject(ctx context.Context, b meta.Bucket, e meta.ObjectEntry) error {
	if b.Versioning == meta.VersioningOff {
		return s.deleteCurrent(ctx, b.Name, e.Key, &e)
	}
	_, err := s.addDeleteMarker(ctx, b, e.Key, &e)
	return err
}

// ExpireVersion removes e, a noncurrent version (or delete marker) of a versioned bucket,
// for good, as DeleteObject with its version ID does; meta.ErrConflict if it has become the
// current version meanwhile. A version Object Lock protects stays (AccessDenied), as S3's
// lifecycle leaves it.
func (s *Server) ExpireVersion(ctx context.Context, b meta.Bucket, e meta.ObjectEntry) error {
	_, err := s.removeVersion(ctx, e, func() (meta.ObjectEntry, error) {
		return s.meta.Index(b.Name).DeleteNoncurrentVersion(ctx, b.Name, e.Key, e.Version, s.unlockedVersion(false))
	})
	if errors.Is(err, errLocked) {
		// Not an error: the version is to stay for now, like one written since the listing.
		return fmt.Errorf("%s/%s version %d is protected by Object Lock: %w", b.Name, e.Key, e.Version, meta.ErrConflict)
	}
	return err
}

// RemoveDeleteMarker removes e, a delete marker that was the only version of its key, as
// DeleteObject with the marker's version ID does. A version written meanwhile stays: the
// marker then was not current any more, and removing it changes nothing readers see.
func (s *Server) RemoveDeleteMarker(ctx context.Context, b meta.Bucket, e meta.ObjectEntry) error {
	return s.deleteVersioned(ctx, nil, b, e.Key, versionID(e), false)
}

// AbortUpload aborts multipart upload u and drops its parts' bytes, as
// AbortMultipartUpload does; meta.ErrNotFound if it was completed or aborted meanwhile.
func (s *Server) AbortUpload(ctx context.Context, u meta.Upload) error {
	return s.abort(ctx, u, s.meta.Index(u.Bucket).AbortUploadIf)
}
