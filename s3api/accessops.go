package s3api

import (
	"net/http"
	"net/url"
)

// bucketAccessOp serves the access-control subresources of a bucket (?acl,
// ?ownershipControls, ?publicAccessBlock); handled is false for other requests.
func (s *Server) bucketAccessOp(rq *request, q url.Values) (handled bool, err error) {
	switch {
	case q.Has("acl"):
		switch rq.r.Method {
		case http.MethodGet:
			return true, s.getBucketACL(rq)
		case http.MethodPut:
			return true, s.putBucketACL(rq)
		}
		return true, ErrMethodNotAllowed
	case q.Has("ownershipControls"):
		return true, s.ownershipOp(rq)
	case q.Has("publicAccessBlock"):
		return true, s.publicAccessOp(rq)
	}
	return false, nil
}

// objectACLOp serves ?acl on an object; handled is false for other requests.
func (s *Server) objectACLOp(rq *request, q url.Values) (handled bool, err error) {
	if !q.Has("acl") {
		return false, nil
	}
	switch rq.r.Method {
	case http.MethodGet:
		return true, s.getObjectACL(rq, q)
	case http.MethodPut:
		return true, s.putObjectACL(rq, q)
	}
	return true, ErrMethodNotAllowed
}

// readAction is the action of a GET or HEAD of an object: of a given version or the
// current one.
func readAction(q url.Values) string {
	if q.Has("versionId") {
		return "s3:GetObjectVersion"
	}
	return "s3:GetObject"
}

// deleteAction is the action of deleting a key: a given version, or the key itself.
func deleteAction(versionID string) string {
	if versionID != "" {
		return "s3:DeleteObjectVersion"
	}
	return "s3:DeleteObject"
}
