package s3api

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf16"

	meta "stratus/meta/client"
)

// Tags, as S3 limits them: at most 10 on an object version and 50 on a bucket; a key of 1
// to 128 and a value of 0 to 256 Unicode characters, counted in UTF-16 code units as S3
// counts them, of letters, digits, white space and "_ . : / = + - @"; keys unique; none
// starting "aws:", which S3 keeps for the tags it sets itself.
const (
	maxObjectTags = 10
	maxBucketTags = 50
	maxTagKey     = 128
	maxTagValue   = 256
	maxTagBody    = 64 << 10
)

// xmlTagging is the document PutObjectTagging and PutBucketTagging take and their Get
// counterparts answer. TagSet is a pointer so that a body without one is told apart from
// an empty set.
type xmlTagging struct {
	XMLName xml.Name   `xml:"Tagging"`
	TagSet  *xmlTagSet `xml:"TagSet"`
}

type xmlTagSet struct {
	Tags []xmlTag `xml:"Tag"`
}

type xmlTag struct {
	Key   *string `xml:"Key"`
	Value *string `xml:"Value"`
}

// xmlTaggingOut is the answer of GetObjectTagging and GetBucketTagging: the TagSet element
// is always there, empty for an untagged object.
type xmlTaggingOut struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ Tagging"`
	TagSet  struct {
		Tags []xmlTagOut `xml:"Tag"`
	} `xml:"TagSet"`
}

type xmlTagOut struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

func taggingDocument(tags []meta.Tag) xmlTaggingOut {
	var out xmlTaggingOut
	for _, t := range tags {
		out.TagSet.Tags = append(out.TagSet.Tags, xmlTagOut(t))
	}
	return out
}

// readTagging reads the request's Tagging document and checks it against max tags.
func readTagging(rq *request, max int) ([]meta.Tag, error) {
	raw, err := readConfigBody(rq, maxTagBody)
	if err != nil {
		return nil, err
	}
	return parseTagging(raw, max)
}

// parseTagging reads a Tagging document and checks it against max tags.
func parseTagging(raw []byte, max int) ([]meta.Tag, error) {
	var doc xmlTagging
	if xml.Unmarshal(raw, &doc) != nil || doc.TagSet == nil {
		return nil, ErrMalformedXML
	}
	tags := make([]meta.Tag, 0, len(doc.TagSet.Tags))
	for _, t := range doc.TagSet.Tags {
		if t.Key == nil || t.Value == nil {
			return nil, ErrMalformedXML
		}
		tags = append(tags, meta.Tag{Key: *t.Key, Value: *t.Value})
	}
	return tags, checkTags(tags, max)
}

// checkTags applies S3's rules to a tag set of at most max tags.
func checkTags(tags []meta.Tag, max int) error {
	if len(tags) > max {
		if max == maxObjectTags {
			// S3 answers this one with BadRequest, not InvalidTag.
			return errorf(ErrBadRequest, "Object tags cannot be greater than 10")
		}
		return errorf(ErrInvalidTag, "Bucket tag count cannot be greater than 50")
	}
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		if t.Key == "" || utf16Len(t.Key) > maxTagKey || !tagText(t.Key) {
			return errorf(ErrInvalidTag, "The TagKey you have provided is invalid")
		}
		if utf16Len(t.Value) > maxTagValue || !tagText(t.Value) {
			return errorf(ErrInvalidTag, "The TagValue you have provided is invalid")
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return errorf(ErrInvalidTag, "Your TagKey cannot be prefixed with aws:")
		}
		if seen[t.Key] {
			return errorf(ErrInvalidTag, "Cannot provide multiple Tags with the same key")
		}
		seen[t.Key] = true
	}
	return nil
}

// utf16Len is the length S3 limits a tag key or value by.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// tagText reports whether s holds only characters S3 allows in tags.
func tagText(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsSpace(r) || unicode.Is(unicode.Zs, r) ||
			strings.ContainsRune("_.:/=+-@", r) {
			continue
		}
		return false
	}
	return true
}

// headerTags reads the x-amz-tagging header of a PutObject, CopyObject or
// CreateMultipartUpload: the tags as a URL query ("k1=v1&k2=v2", form-encoded). A
// presigned URL carries it in its query string instead, where SDK presigners put every
// x-amz-* header, and signed like the rest of the query. It returns nil when there is none.
func headerTags(r *http.Request) ([]meta.Tag, error) {
	v := r.Header.Get("X-Amz-Tagging")
	if q := r.URL.Query(); v == "" && q.Has("X-Amz-Signature") {
		v = q.Get("x-amz-tagging")
	}
	if v == "" {
		return nil, nil
	}
	bad := errorf(ErrInvalidArgument, "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")
	var tags []meta.Tag
	seen := map[string]bool{}
	for _, pair := range strings.Split(v, "&") {
		if pair == "" {
			continue
		}
		k, val, _ := strings.Cut(pair, "=")
		k, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(val)
		if err1 != nil || err2 != nil || seen[k] {
			return nil, bad
		}
		seen[k] = true
		tags = append(tags, meta.Tag{Key: k, Value: val})
	}
	return tags, checkTags(tags, maxObjectTags)
}

// setTaggingCount tells a GET or HEAD how many tags the version has, as S3 does when it
// has any.
func setTaggingCount(h http.Header, e meta.ObjectEntry) {
	if len(e.Tags) > 0 {
		h.Set("X-Amz-Tagging-Count", itoa(int64(len(e.Tags))))
	}
}

// copyTags decides the tags of a CopyObject's new object: the source's (COPY, the
// default) or the request's x-amz-tagging (REPLACE).
func copyTags(r *http.Request, src meta.ObjectEntry) ([]meta.Tag, error) {
	switch r.Header.Get("X-Amz-Tagging-Directive") {
	case "", "COPY":
		return src.Tags, nil
	case "REPLACE":
		return headerTags(r)
	}
	return nil, errorf(ErrInvalidArgument, "Unknown tagging directive.")
}
