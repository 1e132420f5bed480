package s3api

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	meta "stratus/meta/client"
)

// objectTagging serves PutObjectTagging, GetObjectTagging and DeleteObjectTagging, on the
// current version or on ?versionId's. Tags live in the version's index entry, changed in
// place: a new tag set makes no new version, as in S3.
func (s *Server) objectTagging(rq *request, q url.Values) error {
	ctx := rq.r.Context()
	b, err := s.authorize(ctx, rq, objectTaggingAction(rq.r.Method, q.Get("versionId") != ""), rq.key)
	if err != nil {
		return err
	}
	switch rq.r.Method {
	case http.MethodGet:
		e, err := s.resolve(ctx, rq.w, rq.bucket, rq.key, q)
		if err != nil {
			return err
		}
		setVersionHeader(rq.w, b, e)
		return writeXML(rq.w, http.StatusOK, taggingDocument(e.Tags))
	case http.MethodPut:
		tags, err := readTagging(rq, maxObjectTags)
		if err != nil {
			return err
		}
		e, err := s.retag(ctx, rq, q, tags)
		if err != nil {
			return err
		}
		setVersionHeader(rq.w, b, e)
		rq.w.WriteHeader(http.StatusOK)
		return nil
	case http.MethodDelete:
		e, err := s.retag(ctx, rq, q, nil)
		if err != nil {
			return err
		}
		setVersionHeader(rq.w, b, e)
		rq.w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return ErrMethodNotAllowed
}

// retag replaces the tags of the version q names (the current one without ?versionId).
// A delete marker has no tags to set: S3 refuses one named by ID with MethodNotAllowed,
// and a key whose current version is one does not exist.
func (s *Server) retag(ctx context.Context, rq *request, q url.Values, tags []meta.Tag) (meta.ObjectEntry, error) {
	if len(tags) == 0 {
		tags = nil
	}
	version := uint64(0) // the current version, whichever it is when the update runs
	missing := ErrNoSuchKey
	if q.Has("versionId") {
		e, err := s.resolve(ctx, rq.w, rq.bucket, rq.key, q)
		if err != nil {
			return e, err
		}
		version, missing = e.Version, ErrNoSuchVersion
	}
	e, err := s.meta.Index(rq.bucket).UpdateObject(ctx, rq.bucket, rq.key, version, func(e *meta.ObjectEntry) error {
		if e.DeleteMarker {
			if version == 0 {
				return ErrNoSuchKey
			}
			return ErrMethodNotAllowed
		}
		e.Tags = tags
		return nil
	})
	if errors.Is(err, meta.ErrNotFound) {
		return e, missing
	}
	return e, dataError(err)
}

// bucketTagging serves PutBucketTagging, GetBucketTagging and DeleteBucketTagging.
func (s *Server) bucketTagging(rq *request) error {
	ctx := rq.r.Context()
	action := "s3:PutBucketTagging" // S3 authorizes deleting the tags as putting them
	if rq.r.Method == http.MethodGet {
		action = "s3:GetBucketTagging"
	}
	b, err := s.authorize(ctx, rq, action, "")
	if err != nil {
		return err
	}
	switch rq.r.Method {
	case http.MethodGet:
		if len(b.Tags) == 0 {
			return ErrNoSuchTagSet
		}
		return writeXML(rq.w, http.StatusOK, taggingDocument(b.Tags))
	case http.MethodPut:
		tags, err := readTagging(rq, maxBucketTags)
		if err != nil {
			return err
		}
		if len(tags) == 0 {
			tags = nil // an empty set is no set: GetBucketTagging answers NoSuchTagSet
		}
		if err := s.updateAuthorized(ctx, rq, action, func(b *meta.Bucket) error { b.Tags = tags; return nil }); err != nil {
			return err
		}
		rq.w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodDelete:
		if err := s.updateAuthorized(ctx, rq, action, func(b *meta.Bucket) error { b.Tags = nil; return nil }); err != nil {
			return err
		}
		rq.w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return ErrMethodNotAllowed
}

// bucketConfigOp serves the bucket subresources of tagging and CORS; it reports false when
// q names neither.
func (s *Server) bucketConfigOp(rq *request, q url.Values) (bool, error) {
	switch {
	case q.Has("tagging"):
		return true, s.bucketTagging(rq)
	case q.Has("cors"):
		return true, s.bucketCORS(rq)
	}
	return false, nil
}

// objectTaggingAction is the IAM action of an object tagging request: Get, Put or Delete
// ObjectTagging, ObjectVersionTagging when it names a version.
func objectTaggingAction(method string, version bool) string {
	verb := map[string]string{http.MethodGet: "Get", http.MethodPut: "Put", http.MethodDelete: "Delete"}[method]
	if verb == "" {
		verb = "Get" // refused as MethodNotAllowed after authorization
	}
	if version {
		return "s3:" + verb + "ObjectVersionTagging"
	}
	return "s3:" + verb + "ObjectTagging"
}
