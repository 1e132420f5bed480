package s3api

import (
	"encoding/xml"
	"net/http"
	"slices"
	"strings"

	meta "stratus/meta/client"
)

// CORS configuration, as S3 limits it: 1 to 100 rules in at most 64 KB; each rule needs
// an AllowedOrigin and an AllowedMethod; methods are GET, PUT, POST, DELETE and HEAD;
// origins and allowed headers hold at most one "*"; expose headers none.
const (
	maxCORSRules = 100
	maxCORSBody  = 64 << 10
)

var corsMethods = []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodHead}

type xmlCORSRule struct {
	ID             string   `xml:"ID,omitempty"`
	AllowedHeaders []string `xml:"AllowedHeader"`
	AllowedMethods []string `xml:"AllowedMethod"`
	AllowedOrigins []string `xml:"AllowedOrigin"`
	ExposeHeaders  []string `xml:"ExposeHeader"`
	MaxAgeSeconds  *int     `xml:"MaxAgeSeconds"`
}

// xmlCORS is the document PutBucketCors takes; xmlCORSOut the one GetBucketCors answers.
type xmlCORS struct {
	XMLName xml.Name      `xml:"CORSConfiguration"`
	Rules   []xmlCORSRule `xml:"CORSRule"`
}

type xmlCORSOut struct {
	XMLName xml.Name      `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CORSConfiguration"`
	Rules   []xmlCORSRule `xml:"CORSRule"`
}

// bucketCORS serves PutBucketCors, GetBucketCors and DeleteBucketCors.
func (s *Server) bucketCORS(rq *request) error {
	ctx := rq.r.Context()
	action := "s3:PutBucketCORS" // S3 authorizes deleting the rules as putting them
	if rq.r.Method == http.MethodGet {
		action = "s3:GetBucketCORS"
	}
	b, err := s.authorize(ctx, rq, action, "")
	if err != nil {
		return err
	}
	switch rq.r.Method {
	case http.MethodGet:
		if b.CORS == nil {
			return ErrNoSuchCORSConfiguration
		}
		out := xmlCORSOut{}
		for _, r := range b.CORS.Rules {
			out.Rules = append(out.Rules, xmlCORSRule{ID: r.ID, AllowedHeaders: r.AllowedHeaders, AllowedMethods: r.AllowedMethods,
				AllowedOrigins: r.AllowedOrigins, ExposeHeaders: r.ExposeHeaders, MaxAgeSeconds: r.MaxAgeSeconds})
		}
		return writeXML(rq.w, http.StatusOK, out)
	case http.MethodPut:
		cfg, err := readCORS(rq)
		if err != nil {
			return err
		}
		if err := s.updateAuthorized(ctx, rq, action, func(b *meta.Bucket) error { b.CORS = cfg; return nil }); err != nil {
			return err
		}
		rq.w.WriteHeader(http.StatusOK)
		return nil
	case http.MethodDelete:
		if err := s.updateAuthorized(ctx, rq, action, func(b *meta.Bucket) error { b.CORS = nil; return nil }); err != nil {
			return err
		}
		rq.w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return ErrMethodNotAllowed
}

// readCORS reads and checks the request's CORSConfiguration document.
func readCORS(rq *request) (*meta.CORSConfig, error) {
	raw, err := readConfigBody(rq, maxCORSBody)
	if err != nil {
		return nil, err
	}
	var doc xmlCORS
	if xml.Unmarshal(raw, &doc) != nil || len(doc.Rules) == 0 || len(doc.Rules) > maxCORSRules {
		return nil, ErrMalformedXML
	}
	cfg := &meta.CORSConfig{}
	for _, r := range doc.Rules {
		if len(r.AllowedOrigins) == 0 || len(r.AllowedMethods) == 0 {
			return nil, ErrMalformedXML
		}
		if len(r.ID) > 255 {
			return nil, errorf(ErrInvalidArgument, "The ID of a CORSRule is limited to 255 characters.")
		}
		if r.MaxAgeSeconds != nil && *r.MaxAgeSeconds < 0 {
			return nil, ErrMalformedXML
		}
		for _, m := range r.AllowedMethods {
			if !slices.Contains(corsMethods, m) {
				return nil, errorf(ErrInvalidRequest, "Found unsupported HTTP method in CORS config. Unsupported method is "+m)
			}
		}
		for _, o := range r.AllowedOrigins {
			if strings.Count(o, "*") > 1 {
				return nil, errorf(ErrInvalidRequest, `AllowedOrigin "`+o+`" can not have more than one wildcard.`)
			}
		}
		for _, h := range r.AllowedHeaders {
			if strings.Count(h, "*") > 1 {
				return nil, errorf(ErrInvalidRequest, `AllowedHeader "`+h+`" can not have more than one wildcard.`)
			}
		}
		for _, h := range r.ExposeHeaders {
			if strings.Contains(h, "*") {
				return nil, errorf(ErrInvalidRequest, `ExposeHeader "`+h+`" contains wildcard. We currently do not support wildcard for ExposeHeader.`)
			}
		}
		cfg.Rules = append(cfg.Rules, meta.CORSRule{ID: r.ID, AllowedOrigins: r.AllowedOrigins, AllowedMethods: r.AllowedMethods,
			AllowedHeaders: r.AllowedHeaders, ExposeHeaders: r.ExposeHeaders, MaxAgeSeconds: r.MaxAgeSeconds})
	}
	return cfg, nil
}
