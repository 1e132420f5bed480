package s3api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"

	meta "stratus/meta/client"
)

// maxACLBody bounds an AccessControlPolicy body (S3 allows 100 grants).
const maxACLBody = 64 << 10

// readACLBody reads a Put*Acl body and the ACL headers, which are exclusive of it.
func readACLBody(rq *request) ([]byte, aclHeaders, error) {
	body, err := io.ReadAll(io.LimitReader(rq.body, maxACLBody+1))
	if err != nil {
		return nil, aclHeaders{}, err
	}
	if len(body) > maxACLBody {
		return nil, aclHeaders{}, errorf(ErrMalformedACL, "The ACL is too large.")
	}
	ah, err := parseACLHeaders(rq.r.Header)
	if err != nil {
		return nil, ah, err
	}
	switch {
	case ah.set && len(body) > 0:
		return nil, ah, errorf(ErrInvalidRequest, "This request does not support content together with ACL headers.")
	case !ah.set && len(body) == 0:
		return nil, ah, errorf(ErrMalformedACL, "An ACL must be given in the body or in x-amz-acl or x-amz-grant-* headers.")
	}
	return body, ah, nil
}

// requestedGrants is the grant list of a Put*Acl: from its headers or its body.
func requestedGrants(body []byte, ah aclHeaders, owner, bucketOwner string) ([]meta.Grant, error) {
	if ah.set {
		return ah.grantsFor(owner, bucketOwner), nil
	}
	return parseACP(body, owner)
}

// vetGrants applies the bucket's settings to an ACL about to be set: none but the owner's
// when ACLs are off, nothing public under BlockPublicAcls, and only accounts that exist.
func (s *Server) vetGrants(ctx context.Context, b meta.Bucket, owner string, grants []meta.Grant, offErr error) error {
	if b.Ownership == meta.OwnershipBucketOwnerEnforced && compactACL(owner, b.Owner, grants) != nil {
		return offErr
	}
	if b.PublicAccess != nil && b.PublicAccess.BlockPublicAcls && isPublic(grants) {
		return ErrAccessDenied
	}
	return s.checkGrantees(ctx, grants, owner, b.Owner)
}

// getBucketACL serves GET ?acl on a bucket.
func (s *Server) getBucketACL(rq *request) error {
	ctx := rq.r.Context()
	b, err := s.authorize(ctx, rq, "s3:GetBucketAcl", "")
	if err != nil {
		return err
	}
	acl := bucketACL(b)
	if b.Ownership == meta.OwnershipBucketOwnerEnforced {
		acl = bucketACL(meta.Bucket{Owner: b.Owner})
	}
	return s.writeACP(ctx, rq.w, b.Owner, acl)
}

// putBucketACL serves PUT ?acl on a bucket.
func (s *Server) putBucketACL(rq *request) error {
	ctx := rq.r.Context()
	body, ah, err := readACLBody(rq)
	if err != nil {
		return err
	}
	err = s.updateAuthorized(ctx, rq, "s3:PutBucketAcl", func(b *meta.Bucket) error {
		grants, err := requestedGrants(body, ah, b.Owner, b.Owner)
		if err != nil {
			return err
		}
		if err := s.vetGrants(ctx, *b, b.Owner, grants, ErrACLNotSupported); err != nil {
			return err
		}
		b.ACL = compactACL(b.Owner, b.Owner, grants)
		return nil
	})
	if err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// objectACLEntry loads the bucket and the object version an object ACL request names, and
// decides action on it. A missing key is AccessDenied to a caller that may not list the
// bucket, as in S3, so the answer does not tell strangers which keys exist.
func (s *Server) objectACLEntry(ctx context.Context, rq *request, q url.Values, action string) (meta.Bucket, meta.ObjectEntry, error) {
	b, _, err := s.bucketOf(ctx, rq, rq.bucket, headerExpectedOwner)
	if err != nil {
		return b, meta.ObjectEntry{}, err
	}
	e, err := s.resolve(ctx, nil, rq.bucket, rq.key, q)
	if err != nil {
		return b, e, s.hideMissing(rq, b, err)
	}
	if q.Has("versionId") {
		action = map[string]string{"s3:GetObjectAcl": "s3:GetObjectVersionAcl", "s3:PutObjectAcl": "s3:PutObjectVersionAcl"}[action]
		rq.w.Header().Set("X-Amz-Version-Id", q.Get("versionId"))
	}
	return b, e, s.decide(rq, b, action, rq.key, &e)
}

// hideMissing turns NoSuchKey into AccessDenied for a caller that may not list the bucket,
// and, for a version named by ID, NoSuchVersion and a delete marker's MethodNotAllowed for
// one that may not list its versions: neither may learn what exists from the answer.
func (s *Server) hideMissing(rq *request, b meta.Bucket, err error) error {
	hide := errors.Is(err, ErrNoSuchKey) && s.decide(rq, b, "s3:ListBucket", "", nil) != nil ||
		(errors.Is(err, ErrNoSuchVersion) || errors.Is(err, ErrMethodNotAllowed)) && s.decide(rq, b, "s3:ListBucketVersions", "", nil) != nil
	if hide {
		clearHeaders(rq.w.Header())
		return ErrAccessDenied
	}
	return err
}

// getObjectACL serves GET ?acl on an object (versionId picks a version).
func (s *Server) getObjectACL(rq *request, q url.Values) error {
	ctx := rq.r.Context()
	b, e, err := s.objectACLEntry(ctx, rq, q, "s3:GetObjectAcl")
	if err != nil {
		return err
	}
	return s.writeACP(ctx, rq.w, objectOwner(b, e), objectACL(b, e))
}

// putObjectACL serves PUT ?acl on an object (versionId picks a version).
func (s *Server) putObjectACL(rq *request, q url.Values) error {
	ctx := rq.r.Context()
	body, ah, err := readACLBody(rq)
	if err != nil {
		return err
	}
	b, e, err := s.objectACLEntry(ctx, rq, q, "s3:PutObjectAcl")
	if err != nil {
		return err
	}
	owner := objectOwner(b, e)
	grants, err := requestedGrants(body, ah, owner, b.Owner)
	if err != nil {
		return err
	}
	if err := s.vetGrants(ctx, b, owner, grants, ErrACLNotSupported); err != nil {
		return err
	}
	if b.Ownership == meta.OwnershipBucketOwnerEnforced {
		// Only the owner's own full control passed vetGrants: there is nothing to change,
		// and the ACL kept from before stays for the day ACLs are turned back on.
		rq.w.WriteHeader(http.StatusOK)
		return nil
	}
	acl := compactACL(owner, b.Owner, grants)
	action := "s3:PutObjectAcl"
	if q.Has("versionId") {
		action = "s3:PutObjectVersionAcl"
	}
	_, err = s.meta.Index(rq.bucket).UpdateObject(ctx, rq.bucket, rq.key, e.Version, func(cur *meta.ObjectEntry) error {
		// Decided again on the entry as it is now: an ACL changed meanwhile may have
		// taken the caller's WRITE_ACP away.
		if err := s.decide(rq, b, action, rq.key, cur); err != nil {
			return err
		}
		cur.ACL = acl
		return nil
	})
	if errors.Is(err, meta.ErrNotFound) {
		return ErrNoSuchKey
	}
	if err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// newObjectACL is the ACL an object written by rq into b is stored with (PutObject,
// CopyObject, CreateMultipartUpload), from the request's ACL headers and the bucket's
// Object Ownership; nil for the default, which is what the bucket owner's plain writes get
// without further work. An anonymous writer (through a public-read-write bucket) cannot
// own what it writes: the bucket owner does, and such a write may not set an ACL.
func (s *Server) newObjectACL(ctx context.Context, rq *request, b meta.Bucket) (*meta.ACL, error) {
	ah, err := parseACLHeaders(rq.r.Header)
	if err != nil {
		return nil, err
	}
	if b.Ownership == meta.OwnershipBucketOwnerEnforced {
		if !ah.onlyOwnerCanned() {
			return nil, ErrACLNotSupported
		}
		return nil, nil
	}
	if !ah.set && (rq.account == b.Owner || rq.account == "") {
		return nil, nil
	}
	if rq.account == "" {
		return nil, ErrAccessDenied
	}
	owner := rq.account
	if b.Ownership == meta.OwnershipBucketOwnerPreferred && ah.canned == "bucket-owner-full-control" {
		owner = b.Owner
	}
	grants := []meta.Grant{{ID: owner, Permission: meta.PermFullControl}}
	if ah.set {
		grants = ah.grantsFor(owner, b.Owner)
	}
	if err := s.vetGrants(ctx, b, owner, grants, ErrACLNotSupported); err != nil {
		return nil, err
	}
	return compactACL(owner, b.Owner, grants), nil
}

// newBucketAccess reads the ACL and Object Ownership headers of a CreateBucket into b.
func (s *Server) newBucketAccess(ctx context.Context, rq *request, b *meta.Bucket) error {
	if v := rq.r.Header.Get("X-Amz-Object-Ownership"); v != "" {
		o, ok := parseOwnership(v)
		if !ok {
			return errorf(ErrInvalidArgument, "Invalid x-amz-object-ownership header: "+v)
		}
		b.Ownership = o
	}
	ah, err := parseACLHeaders(rq.r.Header)
	if err != nil || !ah.set {
		return err
	}
	grants := ah.grantsFor(b.Owner, b.Owner)
	if err := s.vetGrants(ctx, *b, b.Owner, grants, ErrACLWithEnforcedOwnership); err != nil {
		return err
	}
	b.ACL = compactACL(b.Owner, b.Owner, grants)
	return nil
}
