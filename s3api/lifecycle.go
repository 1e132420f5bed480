package s3api

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
	"time"

	meta "stratus/meta/client"
)

// Lifecycle configuration (PUT, GET and DELETE ?lifecycle). The configuration is stored in
// the bucket record; the lifecycle scanner (s3api/lifecycle) acts on it. Transitions are
// refused: Stratus has one storage class, so there is nowhere to move an object to.

// Limits, as in S3.
const (
	maxLifecycleRules   = 1000
	maxLifecycleIDBytes = 255
	maxLifecycleBody    = 2 << 20 // 1,000 rules with long prefixes and tags
	maxNewerNoncurrent  = 100
)

type xmlLifecycleTag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type xmlLifecycleAnd struct {
	Prefix          *string           `xml:"Prefix"`
	Tags            []xmlLifecycleTag `xml:"Tag"`
	SizeGreaterThan *int64            `xml:"ObjectSizeGreaterThan"`
	SizeLessThan    *int64            `xml:"ObjectSizeLessThan"`
}

type xmlLifecycleFilter struct {
	Prefix          *string          `xml:"Prefix"`
	Tag             *xmlLifecycleTag `xml:"Tag"`
	SizeGreaterThan *int64           `xml:"ObjectSizeGreaterThan"`
	SizeLessThan    *int64           `xml:"ObjectSizeLessThan"`
	And             *xmlLifecycleAnd `xml:"And"`
}

type xmlLifecycleExpiration struct {
	Days                      *int    `xml:"Days"`
	Date                      *string `xml:"Date"`
	ExpiredObjectDeleteMarker *bool   `xml:"ExpiredObjectDeleteMarker"`
}

type xmlNoncurrentExpiration struct {
	NoncurrentDays          *int `xml:"NoncurrentDays"`
	NewerNoncurrentVersions *int `xml:"NewerNoncurrentVersions"`
}

type xmlAbortMultipart struct {
	DaysAfterInitiation *int `xml:"DaysAfterInitiation"`
}

type xmlLifecycleRule struct {
	ID                   *string                  `xml:"ID"`
	Filter               *xmlLifecycleFilter      `xml:"Filter"`
	Prefix               *string                  `xml:"Prefix"`
	Status               string                   `xml:"Status"`
	Expiration           *xmlLifecycleExpiration  `xml:"Expiration"`
	NoncurrentExpiration *xmlNoncurrentExpiration `xml:"NoncurrentVersionExpiration"`
	AbortMultipart       *xmlAbortMultipart       `xml:"AbortIncompleteMultipartUpload"`
	// Transitions are parsed only to be refused.
	Transitions           []struct{} `xml:"Transition"`
	NoncurrentTransitions []struct{} `xml:"NoncurrentVersionTransition"`
}

// xmlLifecycle is the request body; clients send it with S3's namespace or none.
type xmlLifecycle struct {
	XMLName xml.Name           `xml:"LifecycleConfiguration"`
	Rules   []xmlLifecycleRule `xml:"Rule"`
}

// lifecycleInvalid is an InvalidArgument with S3's message.
func lifecycleInvalid(msg string) error { return errorf(ErrInvalidArgument, msg) }

var lifecycleMalformed = errorf(ErrMalformedXML, "The XML you provided was not well-formed or did not validate against our published schema.")

func (s *Server) putLifecycle(rq *request) error {
	ctx := rq.r.Context()
	if _, err := s.authorize(ctx, rq, "s3:PutLifecycleConfiguration", ""); err != nil {
		return err
	}
	body, err := readConfigBody(rq, maxLifecycleBody)
	if err != nil {
		return err
	}
	lc, err := parseLifecycle(body)
	if err != nil {
		return err
	}
	if err := s.updateAuthorized(ctx, rq, "s3:PutLifecycleConfiguration", func(b *meta.Bucket) error {
		b.Lifecycle = lc
		return nil
	}); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) getLifecycle(rq *request) error {
	b, err := s.authorize(rq.r.Context(), rq, "s3:GetLifecycleConfiguration", "")
	if err != nil {
		return err
	}
	if b.Lifecycle == nil || len(b.Lifecycle.Rules) == 0 {
		return ErrNoSuchLifecycleConfiguration
	}
	return writeXML(rq.w, http.StatusOK, lifecycleXML(*b.Lifecycle))
}

func (s *Server) deleteLifecycle(rq *request) error {
	// S3 authorizes deleting the configuration as putting one.
	if err := s.updateAuthorized(rq.r.Context(), rq, "s3:PutLifecycleConfiguration", func(b *meta.Bucket) error {
		b.Lifecycle = nil
		return nil
	}); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

// parseLifecycle reads and validates a LifecycleConfiguration body. Codes and messages
// follow S3's: MalformedXML for structure, InvalidArgument for values.
func parseLifecycle(body []byte) (*meta.Lifecycle, error) {
	var in xmlLifecycle
	if err := xml.Unmarshal(body, &in); err != nil {
		return nil, lifecycleMalformed
	}
	if len(in.Rules) == 0 {
		return nil, lifecycleMalformed
	}
	if len(in.Rules) > maxLifecycleRules {
		return nil, errorf(ErrMalformedXML, fmt.Sprintf("A lifecycle configuration holds at most %d rules.", maxLifecycleRules))
	}
	out := &meta.Lifecycle{Rules: make([]meta.LifecycleRule, 0, len(in.Rules))}
	ids := map[string]bool{}
	for _, xr := range in.Rules {
		r, err := parseLifecycleRule(xr)
		if err != nil {
			return nil, err
		}
		if r.ID != "" {
			if ids[r.ID] {
				return nil, lifecycleInvalid("Rule ID must be unique. Found same ID for more than one rule")
			}
			ids[r.ID] = true
		}
		out.Rules = append(out.Rules, r)
	}
	return out, nil
}

func parseLifecycleRule(xr xmlLifecycleRule) (meta.LifecycleRule, error) {
	var r meta.LifecycleRule
	if xr.ID != nil {
		if len(*xr.ID) > maxLifecycleIDBytes {
			return r, lifecycleInvalid("ID length should not exceed allowed limit of 255")
		}
		r.ID = *xr.ID
	}
	switch xr.Status {
	case "Enabled":
	case "Disabled":
		r.Disabled = true
	default:
		return r, lifecycleMalformed
	}
	if len(xr.Transitions) > 0 || len(xr.NoncurrentTransitions) > 0 {
		return r, errorf(ErrNotImplemented, "Transition and NoncurrentVersionTransition actions are not supported: this service has a single storage class.")
	}
	var err error
	switch {
	case xr.Filter != nil && xr.Prefix != nil, xr.Filter == nil && xr.Prefix == nil:
		return r, lifecycleMalformed
	case xr.Prefix != nil:
		r.Filter = meta.LifecycleFilter{Prefix: *xr.Prefix, Form: "legacy"}
	default:
		if r.Filter, err = parseLifecycleFilter(*xr.Filter); err != nil {
			return r, err
		}
	}
	if e := xr.Expiration; e != nil {
		n := 0
		for _, set := range []bool{e.Days != nil, e.Date != nil, e.ExpiredObjectDeleteMarker != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return r, lifecycleMalformed
		}
		exp := meta.LifecycleExpiration{}
		switch {
		case e.Days != nil:
			if *e.Days <= 0 {
				return r, lifecycleInvalid("'Days' for Expiration action must be a positive integer")
			}
			exp.Days = *e.Days
		case e.Date != nil:
			if exp.Date, err = parseLifecycleDate(*e.Date); err != nil {
				return r, err
			}
		default:
			if len(r.Filter.Tags) > 0 {
				return r, errorf(ErrInvalidRequest, "ExpiredObjectDeleteMarker cannot be specified with Tags.")
			}
			if !*e.ExpiredObjectDeleteMarker {
				break // "false: the policy takes no action"
			}
			exp.ExpiredObjectDeleteMarker = true
		}
		r.Expiration = &exp
	}
	if nc := xr.NoncurrentExpiration; nc != nil {
		if nc.NoncurrentDays == nil || *nc.NoncurrentDays <= 0 {
			return r, lifecycleInvalid("'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer")
		}
		r.NoncurrentExpiration = &meta.NoncurrentExpiration{Days: *nc.NoncurrentDays}
		if n := nc.NewerNoncurrentVersions; n != nil {
			if *n <= 0 || *n > maxNewerNoncurrent {
				return r, lifecycleInvalid(fmt.Sprintf("'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be a positive integer up to %d", maxNewerNoncurrent))
			}
			r.NoncurrentExpiration.NewerVersions = *n
		}
	}
	if am := xr.AbortMultipart; am != nil {
		if am.DaysAfterInitiation == nil || *am.DaysAfterInitiation <= 0 {
			return r, lifecycleInvalid("'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer")
		}
		if len(r.Filter.Tags) > 0 || r.Filter.SizeGreaterThan > 0 || r.Filter.SizeLessThan > 0 {
			return r, errorf(ErrInvalidRequest, "AbortIncompleteMultipartUpload cannot be specified with Tags or object size filters.")
		}
		r.AbortMultipartDays = *am.DaysAfterInitiation
	}
	if r.Expiration == nil && r.NoncurrentExpiration == nil && r.AbortMultipartDays == 0 {
		return r, errorf(ErrInvalidRequest, "At least one action needs to be specified in a rule")
	}
	return r, nil
}

// parseLifecycleFilter reads a Filter: at most one condition, or several under And.
func parseLifecycleFilter(xf xmlLifecycleFilter) (meta.LifecycleFilter, error) {
	var f meta.LifecycleFilter
	n := 0
	for _, set := range []bool{xf.Prefix != nil, xf.Tag != nil, xf.SizeGreaterThan != nil, xf.SizeLessThan != nil, xf.And != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		return f, lifecycleMalformed
	}
	var gt, lt *int64
	switch {
	case xf.Prefix != nil:
		f.Prefix, f.Form = *xf.Prefix, "prefix"
	case xf.Tag != nil:
		f.Tags, f.Form = []meta.LifecycleTag{{Key: xf.Tag.Key, Value: xf.Tag.Value}}, "tag"
	case xf.SizeGreaterThan != nil:
		gt, f.Form = xf.SizeGreaterThan, "gt"
	case xf.SizeLessThan != nil:
		lt, f.Form = xf.SizeLessThan, "lt"
	case xf.And != nil:
		a := xf.And
		f.Form = "and"
		if a.Prefix != nil {
			f.Prefix = *a.Prefix
		}
		for _, t := range a.Tags {
			f.Tags = append(f.Tags, meta.LifecycleTag{Key: t.Key, Value: t.Value})
		}
		gt, lt = a.SizeGreaterThan, a.SizeLessThan
	}
	seen := map[string]bool{}
	for _, t := range f.Tags {
		if t.Key == "" || len(t.Key) > 128 || len(t.Value) > 256 {
			return f, errorf(ErrInvalidArgument, "The TagKey you have provided is invalid")
		}
		if seen[t.Key] {
			return f, errorf(ErrInvalidArgument, "Duplicate Tag Keys are not allowed.")
		}
		seen[t.Key] = true
	}
	if gt != nil {
		if *gt < 0 {
			return f, lifecycleInvalid("'ObjectSizeGreaterThan' should be a non-negative integer")
		}
		f.SizeGreaterThan = *gt
	}
	if lt != nil {
		if *lt <= 0 {
			return f, lifecycleInvalid("'ObjectSizeLessThan' has to be a positive integer")
		}
		f.SizeLessThan = *lt
	}
	if gt != nil && lt != nil && *gt >= *lt {
		return f, lifecycleInvalid("ObjectSizeGreaterThan must be less than ObjectSizeLessThan")
	}
	return f, nil
}

// parseLifecycleDate reads an ISO 8601 date, which S3 requires to be midnight UTC.
func parseLifecycleDate(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	var t time.Time
	var err error
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err = time.Parse(layout, v); err == nil {
			break
		}
	}
	if err != nil {
		return t, lifecycleMalformed
	}
	t = t.UTC()
	if !t.Equal(t.Truncate(24 * time.Hour)) {
		return t, lifecycleInvalid("'Date' must be at midnight GMT")
	}
	return t, nil
}

// Response forms: the rule as the client wrote it.

type xmlLifecycleFilterOut struct {
	Prefix          *string             `xml:"Prefix,omitempty"`
	Tag             *xmlLifecycleTag    `xml:"Tag,omitempty"`
	SizeGreaterThan *int64              `xml:"ObjectSizeGreaterThan,omitempty"`
	SizeLessThan    *int64              `xml:"ObjectSizeLessThan,omitempty"`
	And             *xmlLifecycleAndOut `xml:"And,omitempty"`
}

type xmlLifecycleAndOut struct {
	Prefix          *string           `xml:"Prefix,omitempty"`
	Tags            []xmlLifecycleTag `xml:"Tag"`
	SizeGreaterThan *int64            `xml:"ObjectSizeGreaterThan,omitempty"`
	SizeLessThan    *int64            `xml:"ObjectSizeLessThan,omitempty"`
}

type xmlLifecycleExpirationOut struct {
	Days                      int    `xml:"Days,omitempty"`
	Date                      string `xml:"Date,omitempty"`
	ExpiredObjectDeleteMarker *bool  `xml:"ExpiredObjectDeleteMarker,omitempty"`
}

type xmlNoncurrentExpirationOut struct {
	NoncurrentDays          int `xml:"NoncurrentDays"`
	NewerNoncurrentVersions int `xml:"NewerNoncurrentVersions,omitempty"`
}

type xmlLifecycleRuleOut struct {
	ID                   string                      `xml:"ID,omitempty"`
	Filter               *xmlLifecycleFilterOut      `xml:"Filter,omitempty"`
	Prefix               *string                     `xml:"Prefix,omitempty"`
	Status               string                      `xml:"Status"`
	Expiration           *xmlLifecycleExpirationOut  `xml:"Expiration,omitempty"`
	NoncurrentExpiration *xmlNoncurrentExpirationOut `xml:"NoncurrentVersionExpiration,omitempty"`
	AbortMultipart       *xmlAbortMultipartOut       `xml:"AbortIncompleteMultipartUpload,omitempty"`
}

type xmlAbortMultipartOut struct {
	DaysAfterInitiation int `xml:"DaysAfterInitiation"`
}

type xmlLifecycleOut struct {
	XMLName xml.Name              `xml:"http://s3.amazonaws.com/doc/2006-03-01/ LifecycleConfiguration"`
	Rules   []xmlLifecycleRuleOut `xml:"Rule"`
}

func lifecycleXML(lc meta.Lifecycle) xmlLifecycleOut {
	var out xmlLifecycleOut
	for _, r := range lc.Rules {
		o := xmlLifecycleRuleOut{ID: r.ID, Status: "Enabled"}
		if r.Disabled {
			o.Status = "Disabled"
		}
		f := r.Filter
		prefix := f.Prefix
		gt, lt := f.SizeGreaterThan, f.SizeLessThan
		switch f.Form {
		case "legacy":
			o.Prefix = &prefix
		case "prefix":
			o.Filter = &xmlLifecycleFilterOut{Prefix: &prefix}
		case "tag":
			if len(f.Tags) > 0 {
				o.Filter = &xmlLifecycleFilterOut{Tag: &xmlLifecycleTag{Key: f.Tags[0].Key, Value: f.Tags[0].Value}}
			}
		case "gt":
			o.Filter = &xmlLifecycleFilterOut{SizeGreaterThan: &gt}
		case "lt":
			o.Filter = &xmlLifecycleFilterOut{SizeLessThan: &lt}
		case "and":
			a := &xmlLifecycleAndOut{}
			if prefix != "" {
				a.Prefix = &prefix
			}
			for _, t := range f.Tags {
				a.Tags = append(a.Tags, xmlLifecycleTag{Key: t.Key, Value: t.Value})
			}
			if gt > 0 {
				a.SizeGreaterThan = &gt
			}
			if lt > 0 {
				a.SizeLessThan = &lt
			}
			o.Filter = &xmlLifecycleFilterOut{And: a}
		}
		if o.Filter == nil && o.Prefix == nil {
			o.Filter = &xmlLifecycleFilterOut{}
		}
		if e := r.Expiration; e != nil {
			x := &xmlLifecycleExpirationOut{Days: e.Days}
			if !e.Date.IsZero() {
				x.Date = e.Date.UTC().Format("2006-01-02T15:04:05.000Z")
			}
			if x.Days == 0 && x.Date == "" {
				eodm := e.ExpiredObjectDeleteMarker
				x.ExpiredObjectDeleteMarker = &eodm
			}
			o.Expiration = x
		}
		if nc := r.NoncurrentExpiration; nc != nil {
			o.NoncurrentExpiration = &xmlNoncurrentExpirationOut{NoncurrentDays: nc.Days, NewerNoncurrentVersions: nc.NewerVersions}
		}
		if r.AbortMultipartDays > 0 {
			o.AbortMultipart = &xmlAbortMultipartOut{DaysAfterInitiation: r.AbortMultipartDays}
		}
		out.Rules = append(out.Rules, o)
	}
	return out
}
