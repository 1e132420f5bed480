package s3api

import (
	"context"
	"errors"
	"net/http"
	"time"

	meta "stratus/meta/client"
)

// headerExpectedOwner names the account the caller expects to own the bucket; a mismatch is
// refused, so a request meant for one's own bucket never lands in a bucket someone else
// created under the same name.
const headerExpectedOwner = "X-Amz-Expected-Bucket-Owner"

// authorize loads rq's bucket and decides whether rq.account ("" when anonymous) may do
// action (an IAM action name such as "s3:PutObject") on key ("" for the bucket itself).
// It answers ErrNoSuchBucket, ErrAccessDenied, or nil with the bucket.
//
// Evaluation follows S3's order: an explicit Deny in the bucket policy wins over
// everything; then any one of the bucket owner (for actions on the bucket and on objects
// through it), the bucket ACL (or the object ACL, see decide), or a policy Allow is enough.
// Actions that read or change an object's own ACL or data need the object's index entry:
// callers of those load the bucket with bucketOf and call decide with the entry once they
// have it (the GET path reads the entry anyway, so deciding costs no extra catalog read).
func (s *Server) authorize(ctx context.Context, rq *request, action, key string) (meta.Bucket, error) {
	b, _, err := s.bucketOf(ctx, rq, rq.bucket, headerExpectedOwner)
	if err != nil {
		return b, err
	}
	return b, s.decide(rq, b, action, key, nil)
}

// bucketOf loads bucket and checks the expected-owner header named expectHeader.
func (s *Server) bucketOf(ctx context.Context, rq *request, bucket, expectHeader string) (meta.Bucket, uint64, error) {
	b, mod, err := s.meta.Bucket(ctx, bucket)
	if errors.Is(err, meta.ErrNotFound) {
		s.buckets.forget(bucket)
		return b, 0, ErrNoSuchBucket
	}
	if err != nil {
		return b, 0, err
	}
	s.buckets.put(b, mod, time.Now())
	if want := rq.r.Header.Get(expectHeader); want != "" && want != b.Owner {
		return b, 0, ErrAccessDenied
	}
	return b, mod, nil
}

// accessScope says what, besides the bucket policy, can grant an action.
type accessScope int

const (
	scopeOwner  accessScope = iota // only the bucket owner: configuration of the bucket
	scopeBucket                    // the bucket owner, or the bucket ACL granting perm
	scopeObject                    // the object ACL granting perm (its owner may always read and write the ACL)
)

// actionAccess maps an action to what grants it. Actions not listed are owner-only: among
// them s3:DeleteObjectVersion, which a bucket ACL's WRITE grants only to the bucket owner
// in S3, so that a writer let in cannot destroy the versions that protect the owner's data.
var actionAccess = map[string]struct {
	scope accessScope
	perm  meta.Permission
}{
	"s3:ListBucket":                 {scopeBucket, meta.PermRead},
	"s3:ListBucketVersions":         {scopeBucket, meta.PermRead},
	"s3:ListBucketMultipartUploads": {scopeBucket, meta.PermRead},
	"s3:PutObject":                  {scopeBucket, meta.PermWrite},
	"s3:DeleteObject":               {scopeBucket, meta.PermWrite},
	"s3:AbortMultipartUpload":       {scopeBucket, meta.PermWrite},
	"s3:ListMultipartUploadParts":   {scopeBucket, meta.PermWrite},
	"s3:GetBucketAcl":               {scopeBucket, meta.PermReadACP},
	"s3:PutBucketAcl":               {scopeBucket, meta.PermWriteACP},
	"s3:GetObject":                  {scopeObject, meta.PermRead},
	"s3:GetObjectVersion":           {scopeObject, meta.PermRead},
	"s3:GetObjectAcl":               {scopeObject, meta.PermReadACP},
	"s3:GetObjectVersionAcl":        {scopeObject, meta.PermReadACP},
	"s3:PutObjectAcl":               {scopeObject, meta.PermWriteACP},
	"s3:PutObjectVersionAcl":        {scopeObject, meta.PermWriteACP},
}

// decide is the evaluation of authorize on a loaded bucket; e is the object's index entry
// for object-scope actions (nil otherwise).
func (s *Server) decide(rq *request, b meta.Bucket, action, key string, e *meta.ObjectEntry) error {
	verdict, err := s.bucketPolicyVerdict(rq, b, action, key)
	if err != nil {
		return err
	}
	switch verdict {
	case verdictDeny:
		return ErrAccessDenied
	case verdictAllow:
		return nil
	}
	if aclAllows(rq.account, b, action, e) {
		return nil
	}
	return ErrAccessDenied
}

// aclAllows decides action for account by ownership and ACLs alone.
func aclAllows(account string, b meta.Bucket, action string, e *meta.ObjectEntry) bool {
	bucketOwner := account != "" && account == b.Owner
	a, ok := actionAccess[action]
	if !ok {
		return bucketOwner
	}
	enforced := b.Ownership == meta.OwnershipBucketOwnerEnforced
	ignorePublic := b.PublicAccess != nil && b.PublicAccess.IgnorePublicAcls
	switch a.scope {
	case scopeBucket:
		if bucketOwner {
			return true
		}
		return !enforced && granted(bucketACL(b), account, a.perm, ignorePublic)
	case scopeObject:
		if e == nil {
			return false
		}
		if enforced {
			return bucketOwner // ACLs are off: the bucket owner owns every object
		}
		owner := objectOwner(b, *e)
		if account != "" && account == owner && (a.perm == meta.PermReadACP || a.perm == meta.PermWriteACP) {
			return true
		}
		return granted(objectACL(b, *e), account, a.perm, ignorePublic)
	}
	return bucketOwner
}

// granted reports whether acl gives account perm (FULL_CONTROL gives every permission).
// ignorePublic drops the grants to everyone and to every account (IgnorePublicAcls).
func granted(acl meta.ACL, account string, perm meta.Permission, ignorePublic bool) bool {
	for _, g := range acl.Grants {
		if g.Permission != perm && g.Permission != meta.PermFullControl {
			continue
		}
		switch {
		case g.ID != "":
			if g.ID == account {
				return true
			}
		case g.Group == meta.GroupAllUsers:
			if !ignorePublic {
				return true
			}
		case g.Group == meta.GroupAuthenticatedUsers:
			if !ignorePublic && account != "" {
				return true
			}
		}
	}
	return false
}

// bucketACL is b's ACL with the default spelled out.
func bucketACL(b meta.Bucket) meta.ACL {
	if b.ACL == nil {
		return meta.ACL{Grants: []meta.Grant{{ID: b.Owner, Permission: meta.PermFullControl}}}
	}
	return *b.ACL
}

// objectOwner is the account that owns the object version e of b.
func objectOwner(b meta.Bucket, e meta.ObjectEntry) string {
	if b.Ownership == meta.OwnershipBucketOwnerEnforced || e.ACL == nil || e.ACL.Owner == "" {
		return b.Owner
	}
	return e.ACL.Owner
}

// objectACL is e's ACL with the default spelled out.
func objectACL(b meta.Bucket, e meta.ObjectEntry) meta.ACL {
	if e.ACL == nil || b.Ownership == meta.OwnershipBucketOwnerEnforced {
		return meta.ACL{Grants: []meta.Grant{{ID: objectOwner(b, e), Permission: meta.PermFullControl}}}
	}
	return *e.ACL
}

// anonymousAuth is what an unsigned request carries: no account, its body as sent.
func anonymousAuth(r *http.Request) *Auth {
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	return &Auth{Body: plainReader{body}, ContentLength: r.ContentLength}
}

// updateAuthorized applies change to rq's bucket if rq may do action on it, and writes it
// back under the mod index it was read at, reading (and deciding) again when a concurrent
// change of another setting won the race. It is updateBucket for settings whose access is
// decided by authorize rather than by ownership alone.
func (s *Server) updateAuthorized(ctx context.Context, rq *request, action string, change func(*meta.Bucket) error) error {
	for attempt := 0; ; attempt++ {
		b, mod, err := s.bucketOf(ctx, rq, rq.bucket, headerExpectedOwner)
		if err != nil {
			return err
		}
		if err := s.decide(rq, b, action, "", nil); err != nil {
			return err
		}
		if err := change(&b); err != nil {
			return err
		}
		err = s.storeBucket(ctx, b, mod)
		if errors.Is(err, meta.ErrConflict) && attempt < 8 {
			continue
		}
		return err
	}
}

// entryOwner is the owner listings show for an entry. Listings give the account ID as the
// display name too: looking names up would cost a catalog read per page.
func entryOwner(b meta.Bucket, e meta.ObjectEntry) *xmlOwner {
	o := objectOwner(b, e)
	return &xmlOwner{ID: o, DisplayName: o}
}
