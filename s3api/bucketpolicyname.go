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
	if !served(p) {
		return "", errorf(ErrNotImplemented, "Storage policy "+p.Name+" is not served yet: the data path writes to the ring "+meta.BuiltinPolicy+" only, and erasure coding is not wired into it.")
	}
	return p.Name, nil
}

// served reports whether the proxy and the storage nodes can store a bucket's objects
// under p. Until they follow a ring per policy (and storage nodes keep each ring's data
// apart, which their replicators need), only replicated policies on the built-in ring can
// hold data: a bucket on any other would have its objects written where its policy says
// they are not.
func served(p meta.StoragePolicy) bool {
	return !p.IsEC() && p.RingName() == meta.BuiltinPolicy
}
