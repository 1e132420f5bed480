package s3api

import meta "stratus/meta/client"

// policyVerdict is what a bucket policy says of a request.
type policyVerdict int

const (
	verdictNone  policyVerdict = iota // no statement applies
	verdictAllow                      // an Allow statement applies and no Deny does
	verdictDeny                       // a Deny statement applies: it wins over everything
)

// bucketPolicyVerdict evaluates b's bucket policy for rq asking to do action (an IAM action
// name such as "s3:GetObject") on key ("" for the bucket itself). rq.account is "" for an
// anonymous request.
//
// Placeholder until bucket policies land: no bucket has one.
func (s *Server) bucketPolicyVerdict(rq *request, b meta.Bucket, action, key string) (policyVerdict, error) {
	return verdictNone, nil
}
