package s3api

import (
	"context"
	"fmt"
	"reflect"
	"time"

	meta "stratus/meta/client"
)

// A write's authorization and placement come from the bucket record: its owner, policy,
// ACL, versioning. The index commit of every PUT carries a check that the record is still
// the one the write was decided on (same mod index; meta.WriteTx.BucketMod), so a write
// decided on a stale record never lands: a bucket deleted meanwhile, a policy or ACL that
// now refuses it, a versioning change that places it elsewhere. When the check fails the
// record is read again (linearizably), the decision made again, and the commit retried
// once; a refusal then is the answer, and the stored bytes are retracted.
//
// The record may therefore come from this server's cache, since a stale decision is
// harmless before the commit: every write's bytes go to a storage name of their own, which
// nothing else refers to until the commit names it, and a refused commit retracts them.
// (When null writes went to the object's own name, a write allowed by a stale record
// replaced the current object's bytes before its commit was refused, so only buckets with
// versioning enabled used the cache.)

// writeGrant is the bucket record a write was authorized and placed by.
type writeGrant struct {
	b      meta.Bucket
	mod    uint64 // the record's mod index, checked at commit
	rq     *request
	action string
	key    string
	// tagging is set when the write supplies tags of its own, which need
	// s3:PutObjectTagging too (authorizeWriteTags): decided again with the action.
	tagging bool
}

// authorizeWrite decides whether rq may do action (a write) on key, as authorize does, and
// returns the grant the write commits under.
func (s *Server) authorizeWrite(ctx context.Context, rq *request, action, key string) (writeGrant, error) {
	g := writeGrant{rq: rq, action: action, key: key}
	if b, mod, ok := s.buckets.get(rq.bucket, time.Now()); ok {
		want := rq.r.Header.Get(headerExpectedOwner)
		// Only an allow is taken from the cache; a refusal is confirmed by a fresh read.
		if (want == "" || want == b.Owner) && s.decide(rq, b, action, key, nil) == nil {
			g.b, g.mod = b, mod
			return g, nil
		}
	}
	b, mod, err := s.bucketOf(ctx, rq, rq.bucket, headerExpectedOwner)
	if err != nil {
		return g, err
	}
	g.b, g.mod = b, mod
	return g, s.decide(rq, b, action, key, nil)
}

// regrant reads the bucket record again after a commit's bucket check failed and decides
// the write again. It reports false if the record is unchanged (the conflict was another
// condition's), and an error if the write may no longer go ahead as placed.
func (s *Server) regrant(ctx context.Context, g *writeGrant) (bool, error) {
	b, mod, err := s.bucketOf(ctx, g.rq, g.b.Name, headerExpectedOwner)
	if err != nil {
		return false, err
	}
	if mod == g.mod {
		return false, nil
	}
	if err := s.decide(g.rq, b, g.action, g.key, nil); err != nil {
		return false, err
	}
	if g.tagging {
		if err := s.decide(g.rq, b, "s3:PutObjectTagging", g.key, nil); err != nil {
			return false, err
		}
	}
	if !sameWriteSettings(b, g.b) {
		// The bytes were placed, and the entry built (its default retention, its
		// ownership), for the old settings: the client writes again.
		return false, fmt.Errorf("%w: the bucket's settings changed during the write", ErrServiceUnavailable)
	}
	g.b, g.mod = b, mod
	return true, nil
}

// sameWriteSettings reports whether a and b place a write and shape its entry alike:
// versioning and storage policy decide where the bytes go; Object Lock defaults, object
// ownership, the owner and the public access block what the entry holds (its retention, and
// the ACL built and vetted from the request's headers against them). The rest (policy, ACL,
// tags, CORS, lifecycle) only matter to the authorization decided again.
func sameWriteSettings(a, b meta.Bucket) bool {
	return a.Versioning == b.Versioning && a.Policy == b.Policy && a.Ownership == b.Ownership && a.Owner == b.Owner &&
		reflect.DeepEqual(a.ObjectLock, b.ObjectLock) && reflect.DeepEqual(a.PublicAccess, b.PublicAccess)
}
