package s3api

import (
	"encoding/xml"
	"io"
	"net/http"

	meta "stratus/meta/client"
)

// xmlPublicAccessBlock is S3's PublicAccessBlockConfiguration document.
type xmlPublicAccessBlock struct {
	XMLName               xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ PublicAccessBlockConfiguration"`
	BlockPublicAcls       bool     `xml:"BlockPublicAcls"`
	IgnorePublicAcls      bool     `xml:"IgnorePublicAcls"`
	BlockPublicPolicy     bool     `xml:"BlockPublicPolicy"`
	RestrictPublicBuckets bool     `xml:"RestrictPublicBuckets"`
}

// publicAccessOp serves ?publicAccessBlock on a bucket. BlockPublicAcls and
// IgnorePublicAcls are enforced by the ACL code; BlockPublicPolicy and
// RestrictPublicBuckets are stored for the bucket policy's evaluation.
func (s *Server) publicAccessOp(rq *request) error {
	ctx := rq.r.Context()
	switch rq.r.Method {
	case http.MethodGet:
		b, err := s.authorize(ctx, rq, "s3:GetBucketPublicAccessBlock", "")
		if err != nil {
			return err
		}
		p := b.PublicAccess
		if p == nil {
			return ErrNoPublicAccessBlock
		}
		return writeXML(rq.w, http.StatusOK, xmlPublicAccessBlock{BlockPublicAcls: p.BlockPublicAcls,
			IgnorePublicAcls: p.IgnorePublicAcls, BlockPublicPolicy: p.BlockPublicPolicy, RestrictPublicBuckets: p.RestrictPublicBuckets})
	case http.MethodPut:
		body, err := io.ReadAll(io.LimitReader(rq.body, 64<<10))
		if err != nil {
			return err
		}
		var in xmlPublicAccessBlock
		if err := xml.Unmarshal(body, &in); err != nil {
			return ErrMalformedXML
		}
		p := &meta.PublicAccessBlock{BlockPublicAcls: in.BlockPublicAcls, IgnorePublicAcls: in.IgnorePublicAcls,
			BlockPublicPolicy: in.BlockPublicPolicy, RestrictPublicBuckets: in.RestrictPublicBuckets}
		err = s.updateAuthorized(ctx, rq, "s3:PutBucketPublicAccessBlock", func(b *meta.Bucket) error {
			b.PublicAccess = p
			return nil
		})
		if err != nil {
			return err
		}
		rq.w.WriteHeader(http.StatusOK)
		return nil
	case http.MethodDelete:
		err := s.updateAuthorized(ctx, rq, "s3:PutBucketPublicAccessBlock", func(b *meta.Bucket) error {
			b.PublicAccess = nil
			return nil
		})
		if err != nil {
			return err
		}
		rq.w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return ErrMethodNotAllowed
}
