package s3api

import (
	"encoding/xml"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	meta "stratus/meta/client"
)

// Browsers ask before a cross-origin request that is not "simple" (a preflight: OPTIONS
// with Origin and Access-Control-Request-Method, unsigned, since a browser holds no
// credentials for it), and on every cross-origin request look for
// Access-Control-Allow-Origin in the answer. Both are matched against the bucket's CORS
// rules: the first rule whose origins, methods and headers all allow the request wins.

// corsVary names the request headers a CORS answer depends on, so caches keep them apart.
const corsVary = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"

const corsRefused = "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."

// preflight answers an OPTIONS request on a bucket or an object.
func (s *Server) preflight(rq *request) error {
	r := rq.r
	if rq.bucket == "" {
		return ErrMethodNotAllowed
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return errorf(ErrBadRequest, "Insufficient information. Origin request header needed.")
	}
	method := r.Header.Get("Access-Control-Request-Method")
	if !slices.Contains(corsMethods, method) {
		return errorf(ErrBadRequest, "Invalid Access-Control-Request-Method: "+method)
	}
	b, err := s.bucketRecord(rq)
	if err != nil {
		return err
	}
	if b.CORS == nil {
		return refusePreflight(rq, "CORSResponse: CORS is not enabled for this bucket.", method)
	}
	headers := requestedHeaders(r.Header.Get("Access-Control-Request-Headers"))
	rule := matchCORS(b.CORS, origin, method, headers)
	if rule == nil {
		return refusePreflight(rq, corsRefused, method)
	}
	h := rq.w.Header()
	allowCORS(h, rule, origin)
	if len(headers) > 0 {
		h.Set("Access-Control-Allow-Headers", strings.Join(headers, ", "))
	}
	h.Set("Content-Length", "0")
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// xmlCORSError is S3's error body for a refused preflight, which names the method asked
// about and the kind of resource besides the usual fields.
type xmlCORSError struct {
	XMLName      xml.Name `xml:"Error"`
	Code         string   `xml:"Code"`
	Message      string   `xml:"Message"`
	Method       string   `xml:"Method"`
	ResourceType string   `xml:"ResourceType"`
	RequestID    string   `xml:"RequestId"`
}

// refusePreflight answers a preflight the bucket's CORS rules do not allow.
func refusePreflight(rq *request, message, method string) error {
	api, _ := Lookup(ErrCORSForbidden)
	resource := "BUCKET"
	if rq.key != "" {
		resource = "OBJECT"
	}
	body := encodeXML(xmlCORSError{Code: api.Code, Message: message, Method: method, ResourceType: resource, RequestID: rq.id})
	h := rq.w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	rq.w.WriteHeader(api.HTTPStatus)
	_, err := rq.w.Write(body)
	return err
}

// corsHeaders adds the CORS answer to a request that carries Origin, before it is served,
// so that an error response has it too: a browser hides an answer without it from the
// page, errors included. Failures to read the bucket are left to the request itself.
func (s *Server) corsHeaders(rq *request, origin string) {
	b, err := s.bucketRecord(rq)
	if err != nil || b.CORS == nil {
		return
	}
	h := rq.w.Header()
	if rule := matchCORS(b.CORS, origin, rq.r.Method, nil); rule != nil {
		allowCORS(h, rule, origin)
	} else {
		h.Set("Vary", corsVary)
	}
}

func (s *Server) bucketRecord(rq *request) (meta.Bucket, error) {
	// Read stale: CORS grants nothing, and this read is made for unauthenticated requests,
	// which any catalog node may answer without a round to the leader.
	b, _, err := s.meta.Bucket(rq.r.Context(), rq.bucket, meta.Stale())
	if err != nil {
		if errors.Is(err, meta.ErrNotFound) {
			return b, ErrNoSuchBucket
		}
		return b, dataError(err)
	}
	return b, nil
}

// allowCORS sets the headers of an allowed CORS request: the origin (or "*" when the rule
// allows every origin, which S3 answers without credentials), the rule's methods, the
// headers a page may read, and how long a preflight may be cached.
func allowCORS(h http.Header, rule *meta.CORSRule, origin string) {
	if slices.Contains(rule.AllowedOrigins, "*") {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	h.Set("Access-Control-Allow-Methods", strings.Join(rule.AllowedMethods, ", "))
	if len(rule.ExposeHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(rule.ExposeHeaders, ", "))
	}
	if rule.MaxAgeSeconds != nil {
		h.Set("Access-Control-Max-Age", strconv.Itoa(*rule.MaxAgeSeconds))
	}
	h.Set("Vary", corsVary)
}

// requestedHeaders splits Access-Control-Request-Headers into lower-case names.
func requestedHeaders(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.ToLower(strings.TrimSpace(f)); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// matchCORS returns the first rule that allows origin to send method with headers.
func matchCORS(cfg *meta.CORSConfig, origin, method string, headers []string) *meta.CORSRule {
	for i := range cfg.Rules {
		r := &cfg.Rules[i]
		if !slices.Contains(r.AllowedMethods, method) {
			continue
		}
		if !slices.ContainsFunc(r.AllowedOrigins, func(p string) bool { return wildcardMatch(p, origin, false) }) {
			continue
		}
		allowed := true
		for _, h := range headers {
			if !slices.ContainsFunc(r.AllowedHeaders, func(p string) bool { return wildcardMatch(p, h, true) }) {
				allowed = false
				break
			}
		}
		if allowed {
			return r
		}
	}
	return nil
}

// wildcardMatch matches s against a pattern with at most one "*", which stands for any
// run of characters (none included); fold compares without regard to case, as header
// names are.
func wildcardMatch(pattern, s string, fold bool) bool {
	if fold {
		pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	}
	prefix, suffix, wild := strings.Cut(pattern, "*")
	if !wild {
		return pattern == s
	}
	return len(s) >= len(prefix)+len(suffix) && strings.HasPrefix(s, prefix) && strings.HasSuffix(s, suffix)
}
