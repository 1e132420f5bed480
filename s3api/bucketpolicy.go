package s3api

import (
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"

	meta "stratus/meta/client"
	"stratus/s3api/s3policy"
)

// Bucket policies: PutBucketPolicy, GetBucketPolicy, DeleteBucketPolicy and
// GetBucketPolicyStatus. The document lives in the bucket record (meta.Bucket.AccessPolicy)
// exactly as the owner sent it; bucketpolicyeval.go evaluates it for the authorization step.

type xmlPolicyStatus struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ PolicyStatus"`
	IsPublic bool     `xml:"IsPublic"`
}

// bucketPolicyOp dispatches the ?policy and ?policyStatus subresources of a bucket.
func (s *Server) bucketPolicyOp(rq *request, q url.Values) error {
	switch {
	case rq.r.Method == http.MethodGet && q.Has("policyStatus"):
		return s.getBucketPolicyStatus(rq)
	case rq.r.Method == http.MethodGet && q.Has("policy"):
		return s.getBucketPolicy(rq)
	case rq.r.Method == http.MethodPut && q.Has("policy"):
		return s.putBucketPolicy(rq)
	case rq.r.Method == http.MethodDelete && q.Has("policy"):
		return s.deleteBucketPolicy(rq)
	}
	return ErrMethodNotAllowed
}

func (s *Server) putBucketPolicy(rq *request) error {
	// One byte past the limit is enough for Parse to tell a document that is too large.
	doc, err := readCheckedBody(rq, s3policy.MaxBytes+1)
	if err != nil {
		return err
	}
	err = s.updateBucket(rq.r.Context(), rq, func(b *meta.Bucket) error {
		pol, err := s3policy.Parse(doc, b.Name)
		var pe *s3policy.Error
		if errors.As(err, &pe) {
			return errorf(ErrMalformedPolicy, pe.Message)
		} else if err != nil {
			return err
		}
		// As S3 refuses a principal that does not exist: a typo would otherwise grant
		// nothing, silently, or grant an account created later under that name.
		for _, acct := range pol.Accounts() {
			if _, err := s.meta.Account(rq.r.Context(), acct); errors.Is(err, meta.ErrNotFound) {
				return errorf(ErrMalformedPolicy, "Invalid principal in policy: account "+strconv.Quote(acct)+" does not exist")
			} else if err != nil {
				return err
			}
		}
		if b.PublicAccess != nil && b.PublicAccess.BlockPublicPolicy && pol.IsPublic() {
			return errorf(ErrAccessDenied, "Access Denied: public policies are blocked by the BlockPublicPolicy setting of this bucket's public access block.")
		}
		b.AccessPolicy = string(doc)
		return nil
	})
	if err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) getBucketPolicy(rq *request) error {
	b, err := s.owned(rq.r.Context(), rq)
	if err != nil {
		return err
	}
	if b.AccessPolicy == "" {
		return ErrNoSuchBucketPolicy
	}
	h := rq.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", itoa(int64(len(b.AccessPolicy))))
	rq.w.WriteHeader(http.StatusOK)
	_, err = io.WriteString(rq.w, b.AccessPolicy)
	return err
}

func (s *Server) deleteBucketPolicy(rq *request) error {
	err := s.updateBucket(rq.r.Context(), rq, func(b *meta.Bucket) error {
		b.AccessPolicy = ""
		return nil
	})
	if err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) getBucketPolicyStatus(rq *request) error {
	b, err := s.owned(rq.r.Context(), rq)
	if err != nil {
		return err
	}
	if b.AccessPolicy == "" {
		return ErrNoSuchBucketPolicy
	}
	pol, err := s.policies.get(b.Name, b.AccessPolicy, func(error) {})
	if err != nil {
		return err // logged by ServeHTTP as an InternalError: a stored policy should parse
	}
	return writeXML(rq.w, http.StatusOK, xmlPolicyStatus{IsPublic: pol.IsPublic()})
}
