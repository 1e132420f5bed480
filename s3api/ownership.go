package s3api

import (
	"encoding/xml"
	"io"
	"net/http"

	meta "stratus/meta/client"
)

// xmlOwnershipControls is S3's OwnershipControls document: one rule.
type xmlOwnershipControls struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ OwnershipControls"`
	Rules   []struct {
		ObjectOwnership string `xml:"ObjectOwnership"`
	} `xml:"Rule"`
}

func parseOwnership(v string) (meta.ObjectOwnership, bool) {
	switch o := meta.ObjectOwnership(v); o {
	case meta.OwnershipObjectWriter, meta.OwnershipBucketOwnerPreferred, meta.OwnershipBucketOwnerEnforced:
		return o, true
	}
	return "", false
}

// ownershipOp serves ?ownershipControls on a bucket.
func (s *Server) ownershipOp(rq *request) error {
	ctx := rq.r.Context()
	switch rq.r.Method {
	case http.MethodGet:
		b, err := s.authorize(ctx, rq, "s3:GetBucketOwnershipControls", "")
		if err != nil {
			return err
		}
		if b.Ownership == "" {
			return ErrNoOwnershipControls
		}
		out := xmlOwnershipControls{}
		out.Rules = append(out.Rules, struct {
			ObjectOwnership string `xml:"ObjectOwnership"`
		}{string(b.Ownership)})
		return writeXML(rq.w, http.StatusOK, out)
	case http.MethodPut:
		body, err := io.ReadAll(io.LimitReader(rq.body, 64<<10))
		if err != nil {
			return err
		}
		var in xmlOwnershipControls
		if err := xml.Unmarshal(body, &in); err != nil || len(in.Rules) != 1 {
			return ErrMalformedXML
		}
		o, ok := parseOwnership(in.Rules[0].ObjectOwnership)
		if !ok {
			return ErrMalformedXML
		}
		err = s.updateAuthorized(ctx, rq, "s3:PutBucketOwnershipControls", func(b *meta.Bucket) error {
			if o == meta.OwnershipBucketOwnerEnforced && b.ACL != nil {
				// Turning ACLs off while the bucket ACL grants someone would silently
				// take their access away; S3 asks for the ACL to be reset first.
				return ErrACLWithEnforcedOwnership
			}
			b.Ownership = o
			return nil
		})
		if err != nil {
			return err
		}
		rq.w.WriteHeader(http.StatusOK)
		return nil
	case http.MethodDelete:
		err := s.updateAuthorized(ctx, rq, "s3:PutBucketOwnershipControls", func(b *meta.Bucket) error {
			b.Ownership = ""
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
