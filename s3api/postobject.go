package s3api

import (
	"encoding/xml"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	meta "stratus/meta/client"
)

// POST Object: a browser form upload to a bucket. The form carries the key, a policy
// signed by the uploader's key, the object's metadata and, last, the file, which is
// streamed to storage. Every refusal comes before a replica commits, so nothing is stored.

// isPostObject reports whether r is a form upload to a bucket (not DeleteObjects or
// another POST, which are signed as usual).
func isPostObject(r *http.Request, bucket, key string) bool {
	if r.Method != http.MethodPost || bucket == "" || key != "" || r.URL.RawQuery != "" {
		return false
	}
	kind, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && kind == "multipart/form-data"
}

type xmlPostResponse struct {
	XMLName  xml.Name `xml:"PostResponse"`
	Location string   `xml:"Location"`
	Bucket   string   `xml:"Bucket"`
	Key      string   `xml:"Key"`
	ETag     string   `xml:"ETag"`
}

// postObject serves a form upload.
func (s *Server) postObject(rq *request) error {
	ctx := rq.r.Context()
	f, err := readPostForm(rq.r)
	if err != nil {
		return err
	}
	key := f.fields["key"]
	if key == "" {
		return errorf(ErrInvalidArgument, "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.")
	}
	if _, ok := f.fields["policy"]; ok {
		policy, err := parsePostPolicy(f.fields["policy"])
		if err != nil {
			return err
		}
		if rq.account, err = s.auth.VerifyPostPolicy(ctx, rq.r, f.fields); err != nil {
			return err
		}
		if err := policy.check(f.fields, rq.bucket, f.size, s.auth.cfg.Now()); err != nil {
			return err
		}
	} else if _, signed := f.fields["x-amz-signature"]; signed || f.fields["signature"] != "" {
		return errorf(ErrInvalidArgument, "Bucket POST must contain a field named 'policy'.")
	}
	// Without a policy the form is anonymous (rq.account ""): it may write only where the
	// bucket's ACL or policy lets everyone.
	key = strings.ReplaceAll(key, "${filename}", f.filename)
	if err := checkKey(key); err != nil {
		return err
	}
	rq.key = key
	g, err := s.authorizeWrite(ctx, rq, "s3:PutObject", key)
	b := g.b
	if err != nil {
		return err
	}
	if f.size > s.cfg.MaxObjectBytes {
		return ErrEntityTooLarge
	}
	// The form's acl field is the x-amz-acl of a PUT.
	rq.r.Header.Del("X-Amz-Acl")
	if v := f.fields["acl"]; v != "" {
		rq.r.Header.Set("X-Amz-Acl", v)
	}
	acl, err := s.newObjectACL(ctx, rq, b)
	if err != nil {
		return err
	}
	h := http.Header{}
	for name, v := range f.fields {
		if strings.HasPrefix(name, "x-amz-meta-") {
			h.Set(name, v)
		}
	}
	um, err := userMeta(h)
	if err != nil {
		return err
	}
	ctype := f.fields["content-type"]
	if ctype == "" {
		ctype = "binary/octet-stream"
	}
	// The form's tagging field is a Tagging document, as PutObjectTagging's body.
	var tags []meta.Tag
	if v, ok := f.fields["tagging"]; ok {
		if len(v) > maxTagBody {
			return ErrMalformedXML
		}
		if tags, err = parseTagging([]byte(v), maxObjectTags); err != nil {
			return err
		}
	}
	if err := s.authorizeWriteTags(rq, b, tags); err != nil {
		return err
	}
	g.tagging = len(tags) > 0
	e, err := s.storeVersion(ctx, g, meta.ObjectEntry{Key: key, Size: f.size, ContentType: ctype, UserMeta: um, ACL: acl,
		Lock: s.withDefaultRetention(nil, b), Tags: tags},
		f.size, plainReader{io.NopCloser(f.file)}, func([]byte) error { return f.closing() }, nil)
	if err != nil {
		return err
	}
	return s.postAnswer(rq, b, f.fields, e)
}

// postAnswer answers a stored form upload as success_action_redirect or
// success_action_status ask (204 by default).
func (s *Server) postAnswer(rq *request, b meta.Bucket, fields map[string]string, e meta.ObjectEntry) error {
	etag := `"` + e.ETag + `"`
	location := postLocation(rq.r, rq.bucket, e.Key)
	h := rq.w.Header()
	setWrittenVersionHeader(rq.w, b, e)
	h.Set("ETag", etag)
	h.Set("Location", location)
	redirect := fields["success_action_redirect"]
	if redirect == "" {
		redirect = fields["redirect"]
	}
	if u, err := url.Parse(redirect); redirect != "" && err == nil && u.Scheme != "" && u.Host != "" {
		q := u.Query()
		q.Set("bucket", rq.bucket)
		q.Set("key", e.Key)
		q.Set("etag", etag)
		u.RawQuery = q.Encode()
		h.Set("Location", u.String())
		rq.w.WriteHeader(http.StatusSeeOther)
		return nil
	}
	switch fields["success_action_status"] {
	case "200":
		rq.w.WriteHeader(http.StatusOK)
	case "201":
		return writeXML(rq.w, http.StatusCreated, xmlPostResponse{Location: location, Bucket: rq.bucket, Key: e.Key, ETag: etag})
	default:
		rq.w.WriteHeader(http.StatusNoContent)
	}
	return nil
}

// postLocation is the URL of the stored object, path style, on the host the form was
// posted to.
func postLocation(r *http.Request, bucket, key string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/" + bucket + "/" + uriEncode(key, false)
}
