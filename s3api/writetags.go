package s3api

import meta "stratus/meta/client"

// authorizeWriteTags decides whether rq, allowed to write its object, may also tag it
// with tags, the tags the request itself supplies (x-amz-tagging). S3 asks for
// s3:PutObjectTagging besides the write's own action, so a writer let in by an ACL's WRITE
// or by a policy that allows s3:PutObject alone is refused (AccessDenied) rather than
// tagging: tags may decide access (s3:ExistingObjectTag) and lifecycle, which the bucket
// owner keeps control of. No tags asks nothing more; tags copied from a copy's source are
// not the request's own.
func (s *Server) authorizeWriteTags(rq *request, b meta.Bucket, tags []meta.Tag) error {
	if len(tags) == 0 {
		return nil
	}
	return s.decide(rq, b, "s3:PutObjectTagging", rq.key, nil)
}
