package s3api

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"

	meta "stratus/meta/client"
)

type xmlContents struct {
	Key          string    `xml:"Key"`
	LastModified string    `xml:"LastModified"`
	ETag         string    `xml:"ETag"`
	Size         int64     `xml:"Size"`
	StorageClass string    `xml:"StorageClass"`
	Owner        *xmlOwner `xml:"Owner,omitempty"`
}

type xmlPrefix struct {
	Prefix string `xml:"Prefix"`
}

type xmlListV2 struct {
	XMLName               xml.Name      `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name                  string        `xml:"Name"`
	Prefix                string        `xml:"Prefix"`
	Delimiter             string        `xml:"Delimiter,omitempty"`
	MaxKeys               int           `xml:"MaxKeys"`
	EncodingType          string        `xml:"EncodingType,omitempty"`
	KeyCount              int           `xml:"KeyCount"`
	IsTruncated           bool          `xml:"IsTruncated"`
	ContinuationToken     string        `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string        `xml:"NextContinuationToken,omitempty"`
	StartAfter            string        `xml:"StartAfter,omitempty"`
	Contents              []xmlContents `xml:"Contents"`
	CommonPrefixes        []xmlPrefix   `xml:"CommonPrefixes"`
}

type xmlListV1 struct {
	XMLName        xml.Name      `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name           string        `xml:"Name"`
	Prefix         string        `xml:"Prefix"`
	Marker         string        `xml:"Marker"`
	NextMarker     string        `xml:"NextMarker,omitempty"`
	Delimiter      string        `xml:"Delimiter,omitempty"`
	MaxKeys        int           `xml:"MaxKeys"`
	EncodingType   string        `xml:"EncodingType,omitempty"`
	IsTruncated    bool          `xml:"IsTruncated"`
	Contents       []xmlContents `xml:"Contents"`
	CommonPrefixes []xmlPrefix   `xml:"CommonPrefixes"`
}

// listing is one page of a listing: keys and common prefixes in key order, at most max
// of them together.
type listing struct {
	entries   []meta.ObjectEntry
	prefixes  []string
	truncated bool
	// last is the last key or prefix returned: where the next page starts after.
	last string
}

// list reads one page from after: the catalog rolls keys up at delimiter and seeks past
// each common prefix, so a prefix costs one row however many keys it holds. An after that
// is a common prefix (a marker or continuation token ending a page with it) skips it.
func (s *Server) list(rq *request, prefix, delimiter, after string, max int) (listing, error) {
	var out listing
	if max == 0 {
		// S3 answers max-keys=0 with an empty page that is not truncated: a truncated one
		// would name no key to go on from, and a paginator would loop on it.
		return out, nil
	}
	ctx := rq.r.Context()
	idx := s.meta.Index(rq.bucket)
	for {
		// One row more than the page holds tells whether the listing goes on.
		want := max - len(out.entries) - len(out.prefixes) + 1
		rows, more, err := idx.ListObjectsDelimited(ctx, rq.bucket, prefix, delimiter, after, want)
		if err != nil {
			return out, err
		}
		for _, r := range rows {
			if len(out.entries)+len(out.prefixes) == max {
				out.truncated = true
				return out, nil
			}
			if r.Prefix != "" {
				out.prefixes = append(out.prefixes, r.Prefix)
			} else {
				out.entries = append(out.entries, r.Entry)
			}
			out.last, after = r.Name(), r.Name()
		}
		if !more || len(rows) == 0 {
			return out, nil
		}
	}
}

// maxKeys reads max-keys: default and ceiling 1000 (see countArg; negative is the message
// for a negative one, which the listing of versions words its own way).
func maxKeys(q url.Values, negative string) (int, error) {
	n, err := countArg("max-keys", q.Get("max-keys"), 1000, negative)
	return min(n, 1000), err
}

// countArg reads v, the paging argument name (max-keys, max-uploads, max-parts, a part
// number marker), or def if v is empty. S3 reads these as 32-bit integers and refuses, as
// InvalidArgument, one that is not (a number past 2^31-1 included) and a negative one,
// with the message negative (empty: the range).
func countArg(name, v string, def int, negative string) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, argumentError(name, v, "Provided "+name+" not an integer or within integer range")
	}
	if n < 0 {
		if negative == "" {
			negative = "Argument " + name + " must be an integer between 0 and 2147483647"
		}
		return 0, argumentError(name, v, negative)
	}
	return int(n), nil
}

// The messages S3 gives for a negative max-keys: ListObjects and ListObjectsV2 say the
// range, ListObjectVersions says it is negative.
const (
	negativeMaxKeys         = "Argument maxKeys must be an integer between 0 and 2147483647"
	negativeVersionsMaxKeys = "max-keys cannot be negative"
)

func encodingFn(q url.Values) (func(string) string, string, error) {
	switch v := q.Get("encoding-type"); v {
	case "":
		return func(s string) string { return s }, "", nil
	case "url":
		return s3URLEncode, "url", nil
	default:
		return nil, "", argumentError("encoding-type", v, "Invalid Encoding Method specified in Request.")
	}
}

// listRequest is what both listing versions read from the query.
type listRequest struct {
	prefix, delimiter string
	max               int
	enc               func(string) string
	encName           string
	bucket            meta.Bucket // who owns the listed objects follows from it
}

// parseList checks the caller owns the bucket and reads the common listing parameters.
func (s *Server) parseList(rq *request, q url.Values) (listRequest, error) {
	lr := listRequest{prefix: q.Get("prefix"), delimiter: q.Get("delimiter")}
	var err error
	if lr.bucket, err = s.authorize(rq.r.Context(), rq, "s3:ListBucket", ""); err != nil {
		return lr, err
	}
	if lr.max, err = maxKeys(q, negativeMaxKeys); err != nil {
		return lr, err
	}
	lr.enc, lr.encName, err = encodingFn(q)
	return lr, err
}

// page renders a listing's keys and common prefixes, with each key's owner if showOwner.
func (lr listRequest) page(l listing, showOwner bool) ([]xmlContents, []xmlPrefix) {
	var cs []xmlContents
	for _, e := range l.entries {
		c := contents(e, lr.enc)
		if showOwner {
			c.Owner = entryOwner(lr.bucket, e)
		}
		cs = append(cs, c)
	}
	var ps []xmlPrefix
	for _, p := range l.prefixes {
		ps = append(ps, xmlPrefix{lr.enc(p)})
	}
	return cs, ps
}

func (s *Server) listObjectsV2(rq *request, q url.Values) error {
	lr, err := s.parseList(rq, q)
	if err != nil {
		return err
	}
	startAfter, token := q.Get("start-after"), q.Get("continuation-token")
	after := startAfter
	if q.Has("continuation-token") {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || token == "" {
			return errorf(ErrInvalidArgument, "The continuation token provided is incorrect.")
		}
		after = string(raw)
	}
	l, err := s.list(rq, lr.prefix, lr.delimiter, after, lr.max)
	if err != nil {
		return err
	}
	enc := lr.enc
	out := xmlListV2{Name: rq.bucket, Prefix: enc(lr.prefix), Delimiter: enc(lr.delimiter), MaxKeys: lr.max,
		EncodingType: lr.encName, KeyCount: len(l.entries) + len(l.prefixes), IsTruncated: l.truncated,
		ContinuationToken: token, StartAfter: enc(startAfter)}
	if l.truncated {
		out.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(l.last))
	}
	out.Contents, out.CommonPrefixes = lr.page(l, q.Get("fetch-owner") == "true")
	return writeXML(rq.w, http.StatusOK, out)
}

func (s *Server) listObjectsV1(rq *request, q url.Values) error {
	lr, err := s.parseList(rq, q)
	if err != nil {
		return err
	}
	marker := q.Get("marker")
	l, err := s.list(rq, lr.prefix, lr.delimiter, marker, lr.max)
	if err != nil {
		return err
	}
	enc := lr.enc
	out := xmlListV1{Name: rq.bucket, Prefix: enc(lr.prefix), Marker: enc(marker), Delimiter: enc(lr.delimiter),
		MaxKeys: lr.max, EncodingType: lr.encName, IsTruncated: l.truncated}
	if l.truncated && lr.delimiter != "" {
		out.NextMarker = enc(l.last)
	}
	out.Contents, out.CommonPrefixes = lr.page(l, true)
	return writeXML(rq.w, http.StatusOK, out)
}

func contents(e meta.ObjectEntry, enc func(string) string) xmlContents {
	return xmlContents{Key: enc(e.Key), LastModified: isoTime(lastModified(e.Version)),
		ETag: `"` + e.ETag + `"`, Size: e.Size, StorageClass: "STANDARD"}
}
