package s3api

import (
	"crypto/tls"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	meta "stratus/meta/client"
	"stratus/s3api/s3policy"
)

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
// A stored policy that no longer parses (it passed validation when it was put, so only a
// change of the validator can cause this) fails closed: the error is logged once and every
// request is denied, the owner's included, until the owner replaces or deletes the policy.
// The owner may always read, replace and delete the policy, whatever it says, so no policy
// can lock the owner out of its own bucket (as in S3, where the owner's root user may).
//
// With the bucket's RestrictPublicBuckets set, a public policy grants nothing to callers
// outside the owner's account: its Allow becomes None for them, its Deny stays.
func (s *Server) bucketPolicyVerdict(rq *request, b meta.Bucket, action, key string) (policyVerdict, error) {
	if b.AccessPolicy == "" {
		return verdictNone, nil
	}
	if rq.account != "" && rq.account == b.Owner && isPolicyAction(action) {
		return verdictNone, nil
	}
	pol, err := s.policies.get(b.Name, b.AccessPolicy, func(err error) {
		s.log.Error("stored bucket policy does not parse; denying every request to the bucket", "bucket", b.Name, "err", err)
	})
	if err != nil {
		return verdictDeny, nil
	}
	d := pol.Evaluate(s3policy.Request{Principal: rq.account, Action: action, Key: key,
		Context: policyContext{rq: rq, owner: b.Owner}})
	switch d {
	case s3policy.Deny:
		return verdictDeny, nil
	case s3policy.Allow:
		if b.PublicAccess != nil && b.PublicAccess.RestrictPublicBuckets && pol.IsPublic() && rq.account != b.Owner {
			return verdictNone, nil
		}
		return verdictAllow, nil
	}
	return verdictNone, nil
}

// isPolicyAction reports whether action reads or changes the bucket policy itself.
func isPolicyAction(action string) bool {
	return strings.EqualFold(action, "s3:GetBucketPolicy") || strings.EqualFold(action, "s3:PutBucketPolicy") ||
		strings.EqualFold(action, "s3:DeleteBucketPolicy")
}

// policyCacheSize bounds the parsed policies kept; past it an arbitrary one is dropped.
const policyCacheSize = 4096

// policyCache keeps each bucket's parsed policy, so a request costs a map lookup and a
// string comparison rather than a JSON parse (~50 µs). An entry is keyed by bucket name and
// holds the document it was parsed from: a request whose bucket record carries another
// document (the policy changed) parses again and replaces it. Comparing the whole document
// rather than a hash of it is cheaper than hashing and can never confuse two documents.
// The zero value is ready to use.
type policyCache struct {
	mu sync.RWMutex
	m  map[string]cachedPolicy
}

type cachedPolicy struct {
	doc string
	pol *s3policy.Policy
	err error
}

// get returns the parsed policy doc of bucket; onParseError is called when a document is
// parsed and refused (once per document, not per request).
func (c *policyCache) get(bucket, doc string, onParseError func(error)) (*s3policy.Policy, error) {
	c.mu.RLock()
	e, ok := c.m[bucket]
	c.mu.RUnlock()
	if ok && e.doc == doc {
		return e.pol, e.err
	}
	pol, err := s3policy.Parse([]byte(doc), bucket)
	if err != nil {
		onParseError(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]cachedPolicy)
	}
	if _, had := c.m[bucket]; !had && len(c.m) >= policyCacheSize {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[bucket] = cachedPolicy{doc: doc, pol: pol, err: err}
	return pol, err
}

// policyContext answers a policy's condition keys from the request, computing each only
// when a statement asks for it.
type policyContext struct {
	rq    *request
	owner string
}

// Value implements s3policy.Context.
func (c policyContext) Value(key string) ([]string, bool) {
	r := c.rq.r
	switch key {
	case "aws:sourceip":
		// The connection's address: Stratus serves S3 directly, and a forwarded-for header
		// is the client's word, not a fact.
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		return policyOne(host)
	case "aws:securetransport":
		return policyOne(strconv.FormatBool(r.TLS != nil))
	case "aws:currenttime":
		return policyOne(time.Now().UTC().Format(time.RFC3339))
	case "aws:epochtime":
		return policyOne(strconv.FormatInt(time.Now().Unix(), 10))
	case "aws:useragent":
		return policyHeader(r, "User-Agent")
	case "aws:referer":
		return policyHeader(r, "Referer")
	case "aws:principalaccount":
		if c.rq.account == "" {
			return nil, false
		}
		return policyOne(c.rq.account)
	case "aws:principalarn":
		if c.rq.account == "" {
			return nil, false
		}
		return policyOne("arn:aws:iam::" + c.rq.account + ":root")
	case "aws:principaltype":
		if c.rq.account == "" {
			return policyOne("Anonymous")
		}
		return policyOne("Account")
	case "s3:resourceaccount":
		return policyOne(c.owner)
	case "s3:prefix", "s3:delimiter", "s3:max-keys":
		return policyQuery(r, strings.TrimPrefix(key, "s3:"))
	case "s3:versionid":
		return policyQuery(r, "versionId")
	case "s3:signatureversion":
		switch policyAuthType(r) {
		case "":
			return nil, false
		case "REST-HEADER":
			if strings.HasPrefix(r.Header.Get("Authorization"), "AWS ") {
				return policyOne("AWS")
			}
		case "REST-QUERY-STRING":
			if r.URL.Query().Has("Signature") {
				return policyOne("AWS")
			}
		}
		return policyOne("AWS4-HMAC-SHA256")
	case "s3:authtype":
		if t := policyAuthType(r); t != "" {
			return policyOne(t)
		}
		return nil, false
	case "s3:tlsversion":
		if r.TLS == nil {
			return nil, false
		}
		return policyOne(strings.TrimPrefix(tls.VersionName(r.TLS.Version), "TLS "))
	}
	if h, ok := strings.CutPrefix(key, "s3:"); ok && strings.HasPrefix(h, "x-amz-") {
		// s3:x-amz-acl, s3:x-amz-content-sha256, s3:x-amz-copy-source,
		// s3:x-amz-server-side-encryption, s3:x-amz-storage-class and the other
		// header keys are the request headers of the same name.
		return policyHeader(r, h)
	}
	// Everything else (tags of existing objects among them) is absent from Stratus requests.
	return nil, false
}

func policyOne(v string) ([]string, bool) { return []string{v}, true }

func policyHeader(r *http.Request, name string) ([]string, bool) {
	v := r.Header.Values(name)
	return v, len(v) > 0
}

func policyQuery(r *http.Request, name string) ([]string, bool) {
	q := r.URL.Query()
	if !q.Has(name) {
		return nil, false
	}
	return q[name], true
}

// authType is S3's s3:authtype of r: how it was signed, or "" for an anonymous request.
func policyAuthType(r *http.Request) string {
	if r.Header.Get("Authorization") != "" {
		return "REST-HEADER"
	}
	q := r.URL.Query()
	if q.Has("X-Amz-Signature") || q.Has("Signature") {
		return "REST-QUERY-STRING"
	}
	return ""
}
