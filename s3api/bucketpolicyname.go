package s3api

import (
	"context"
	"errors"
	"strings"

	meta "stratus/meta/client"
)

// policyFor maps CreateBucket's LocationConstraint to the storage policy the new bucket
// gets. S3 has no storage-policy parameter, so the location carries it, as Ceph's RGW does
// with its placement targets:
//
//	""  or the cluster's region        the cluster's default policy
//	"<policy>"                         that policy
//	"<region>:<policy>"                that policy (RGW's "zonegroup:placement" form)
//
// anything else is InvalidLocationConstraint. The region wins over a policy of the same
// name. GetBucketLocation still answers the region, which SDKs use to route requests.
func (s *Server) policyFor(ctx context.Context, location string) (string, error) {
	name := location
	if location == s.cfg.Region {
		name = ""
	} else if region, policy, ok := strings.Cut(location, ":"); ok {
		if region != s.cfg.Region || policy == "" {
			return "", errorf(ErrInvalidLocationConstraint, "The location constraint "+location+" names another region than this cluster's, "+s.cfg.Region+".")
		}
		name = policy
	}
	p, err := s.meta.ResolvePolicy(ctx, name)
	if errors.Is(err, meta.ErrNotFound) {
		return "", errorf(ErrInvalidLocationConstraint, "The location constraint "+location+" is neither this cluster's region ("+s.cfg.Region+") nor a storage policy.")
	}
	if err != nil {
		return "", err
	}
	if !s.served(p) {
		return "", errorf(ErrNotImplemented, "Storage policy "+p.Name+" is not served by this S3 front end: its ring is not loaded, or it is a replicated policy on a ring other than "+meta.BuiltinPolicy+".")
	}
	return p.Name, nil
}

// served reports whether the proxy can store a bucket's objects under p: a replicated
// policy on the object ring, or an EC policy whose ring the proxy has (with one device per
// fragment) and whose small objects go to the object ring. Replicated policies on rings of
// their own are not: the replicated write path knows the object ring only, and a bucket on
// one would have its objects written where its policy says they are not.
func (s *Server) served(p meta.StoragePolicy) bool {
	if p.IsEC() {
		return s.data.ServesEC(ecCode(p)) && (p.ECSmallPolicy == "" || p.ECSmallPolicy == meta.BuiltinPolicy)
	}
	return p.RingName() == meta.BuiltinPolicy
}
