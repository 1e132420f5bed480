package s3api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"stratus/internal/hlc"
	meta "stratus/meta/client"
	objclient "stratus/objectd/client"
	"stratus/proxy"
)

// objectOp dispatches a request that names a key.
func (s *Server) objectOp(rq *request, q url.Values) error {
	if handled, err := s.multipartOp(rq, q); handled {
		return err
	}
	if handled, err := s.objectACLOp(rq, q); handled {
		return err
	}
	if q.Has("retention") || q.Has("legal-hold") {
		return s.lockOp(rq, q)
	}
	if q.Has("tagging") {
		return s.objectTagging(rq, q)
	}
	if q.Has("torrent") || q.Has("restore") || q.Has("select") {
		// Served as a plain GET or POST they would return the object or a 405: say what is missing.
		return errorf(ErrNotImplemented, "Stratus does not support torrents, restores from archive or S3 Select.")
	}
	if q.Has("attributes") && rq.r.Method == http.MethodGet {
		return s.getObjectAttributes(rq, q)
	}
	switch rq.r.Method {
	case http.MethodPut:
		if rq.r.Header.Get("X-Amz-Copy-Source") != "" {
			return s.copyObject(rq)
		}
		return s.putObject(rq)
	case http.MethodGet, http.MethodHead:
		return s.getObject(rq, q)
	case http.MethodDelete:
		return s.deleteObject(rq, q)
	}
	return ErrMethodNotAllowed
}

// userMeta collects x-amz-meta-* headers, keys lower-case as S3 returns them. A value
// that is not printable ASCII is kept RFC 2047-encoded (what S3 returns for it), so the
// index, the storage nodes and every response carry it as the same ASCII text.
func userMeta(h http.Header) (map[string]string, error) {
	var m map[string]string
	size := 0
	for k, vs := range h {
		lk := strings.ToLower(k)
		if !strings.HasPrefix(lk, "x-amz-meta-") {
			continue
		}
		if m == nil {
			m = map[string]string{}
		}
		name := strings.TrimPrefix(lk, "x-amz-meta-")
		if !metaName(name) {
			return nil, errorf(ErrInvalidArgument, "User metadata names may hold only letters, digits, '-', '_' and '.'.")
		}
		v := strings.Join(vs, ",")
		size += len(name) + len(v)
		if !printableASCII(v) {
			if !utf8.ValidString(v) {
				return nil, errorf(ErrInvalidArgument, "User metadata values must be UTF-8.")
			}
			if v = mime.BEncoding.Encode("UTF-8", v); !printableASCII(v) {
				// Only a control character is left unencoded: no client sends one on purpose.
				return nil, errorf(ErrInvalidArgument, "User metadata values may not hold control characters.")
			}
		}
		m[name] = v
	}
	if size > 2<<10 {
		return nil, errorf(ErrInvalidArgument, "User metadata is limited to 2 KB.")
	}
	return m, nil
}

// metaName reports whether a (lower-cased) metadata name is one the storage nodes keep.
func metaName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func (s *Server) putObject(rq *request) error {
	ctx := rq.r.Context()
	g, err := s.authorizeWrite(ctx, rq, "s3:PutObject", rq.key)
	b := g.b
	if err != nil {
		return err
	}
	acl, err := s.newObjectACL(ctx, rq, b)
	if err != nil {
		return err
	}
	length := rq.length
	if length < 0 {
		return unknownLength(rq.r)
	}
	if length > s.cfg.MaxObjectBytes {
		return ErrEntityTooLarge
	}
	um, err := userMeta(rq.r.Header)
	if err != nil {
		return err
	}
	tags, err := headerTags(rq.r)
	if err != nil {
		return err
	}
	if err := s.authorizeWriteTags(rq, b, tags); err != nil {
		return err
	}
	g.tagging = len(tags) > 0
	body, err := checkedBody(rq.r.Header, rq.body, rq.length)
	if err != nil {
		return err
	}
	lock, err := s.writeLock(rq, b, true)
	if err != nil {
		return err
	}
	data, check, sum, err := keepChecksum(rq, body, "")
	if err != nil {
		return err
	}
	ctype := rq.r.Header.Get("Content-Type")
	if ctype == "" {
		ctype = "binary/octet-stream"
	}
	e, err := s.storeVersion(ctx, g, meta.ObjectEntry{Key: rq.key, Size: length, ContentType: ctype, UserMeta: um, ACL: acl, Lock: lock, Tags: tags, Checksum: sum},
		length, data, check, nil)
	if err != nil {
		return err
	}
	setWrittenVersionHeader(rq.w, b, e)
	setChecksumHeaders(rq.w.Header(), e.Checksum)
	rq.w.Header().Set("ETag", `"`+e.ETag+`"`)
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// dataError maps data-path failures to S3 errors.
func dataError(err error) error {
	switch {
	case errors.Is(err, proxy.ErrIncompleteBody):
		return errorf(ErrIncompleteBody, "You did not provide the number of bytes specified by the Content-Length HTTP header.")
	case errors.Is(err, proxy.ErrUnavailable), errors.Is(err, proxy.ErrNoRing), errors.Is(err, meta.ErrUnavailable), errors.Is(err, meta.ErrNoLeader),
		errors.Is(err, proxy.ErrClockSkew): // this proxy's clock runs ahead of the storage nodes': another may serve
		return fmt.Errorf("%w: %w", ErrServiceUnavailable, err)
	}
	return err
}

func (s *Server) getObject(rq *request, q url.Values) error {
	ctx := rq.r.Context()
	if rq.account == "" && hasResponseOverrides(q) {
		// As in S3: anonymous, they would let anyone link to a public object served as
		// text/html, or as an attachment of any name, from this store's origin.
		return errorf(ErrInvalidRequest, "Request specific response headers cannot be used for anonymous GET requests.")
	}
	// Who may read is decided in openObject, by the entry it resolves.
	b, _, err := s.bucketOf(ctx, rq, rq.bucket, headerExpectedOwner)
	if err != nil {
		return err
	}
	rr := reread{bucket: b}
	for {
		e, body, status, length, err := s.openObject(rq, q, b)
		if err == nil && body == nil {
			return nil // HEAD
		}
		if err != nil {
			if e.Version == 0 {
				return err
			}
			if q.Has("versionId") {
				return dataError(err)
			}
			// The version the index named is gone from the nodes: a newer write or a
			// delete overtook this read. Resolve the key again, with a clean slate.
			retry, ferr := s.overtaken(ctx, &rr, e, err)
			if !retry {
				return ferr
			}
			clearHeaders(rq.w.Header())
			continue
		}
		defer body.Close()
		rq.w.WriteHeader(status)
		if _, err := copyBody(rq.w, body, length); err != nil {
			// The status is sent; all that is left is to cut the response short so the
			// client sees a truncated body rather than a wrong one.
			if ctx.Err() == nil && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
				s.log.Warn("get aborted", "req_id", rq.id, "bucket", rq.bucket, "err", err)
			}
			panic(http.ErrAbortHandler)
		}
		return nil
	}
}

// clearHeaders forgets what an overtaken read set, keeping the request's own headers.
func clearHeaders(h http.Header) {
	for k := range h {
		if k != HeaderRequestID && k != "Server" && k != "Vary" && !strings.HasPrefix(k, "Access-Control-") {
			delete(h, k)
		}
	}
}

// openObject resolves a GET or HEAD, sets the response headers and opens the body to
// send with status, length bytes. A HEAD returns no body and no error. A failure to open the data returns the entry it was for (Version non-zero) and
// the data path's error, unmapped, for the caller to decide about.
func (s *Server) openObject(rq *request, q url.Values, b meta.Bucket) (meta.ObjectEntry, io.ReadCloser, int, int64, error) {
	ctx := rq.r.Context()
	e, err := s.resolve(ctx, rq.w, rq.bucket, rq.key, q)
	if err != nil {
		return meta.ObjectEntry{}, nil, 0, 0, s.hideMissing(rq, b, err)
	}
	if err := s.decide(rq, b, readAction(q), rq.key, &e); err != nil {
		clearHeaders(rq.w.Header())
		return meta.ObjectEntry{}, nil, 0, 0, err
	}
	h := rq.w.Header()
	setVersionHeader(rq.w, b, e)
	etag := `"` + e.ETag + `"`
	modified := lastModified(e.Version)
	if err := checkConditions(rq.r, etag, modified); err != nil {
		if errors.Is(err, ErrNotModified) {
			h.Set("ETag", etag)
			h.Set("Last-Modified", modified.Format(http.TimeFormat))
		}
		return meta.ObjectEntry{}, nil, 0, 0, err
	}
	var rng *objclient.Range
	status := http.StatusOK
	if pn, err := partNumberOf(q); err != nil || pn > 0 {
		if err == nil {
			rng, err = s.partRange(ctx, h, rq.r, e, pn)
		}
		if err != nil {
			return meta.ObjectEntry{}, nil, 0, 0, err
		}
		if rng != nil {
			status = http.StatusPartialContent
		}
	} else if spec := rq.r.Header.Get("Range"); spec != "" {
		r, err := parseRange(spec, e.Size)
		if err != nil {
			h.Set("Content-Range", "bytes */"+itoa(e.Size))
			return meta.ObjectEntry{}, nil, 0, 0, err
		}
		if r != nil {
			rng, status = r, http.StatusPartialContent
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", r.Offset, r.Offset+r.Length-1, e.Size))
		}
	}
	length := e.Size
	if rng != nil {
		length = rng.Length
	}
	h.Set("ETag", etag)
	h.Set("Last-Modified", modified.Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Type", e.ContentType)
	h.Set("Content-Length", itoa(length))
	if rng == nil && checksumModeEnabled(rq.r) {
		setChecksumHeaders(h, e.Checksum) // a range has none: S3 keeps checksums of objects and parts only
	}
	for k, v := range e.UserMeta {
		// Set directly, not through Set: S3 returns metadata names lower-case, and clients
		// that keep header case (boto3) would otherwise see "K" for "k".
		h["x-amz-meta-"+k] = []string{v}
	}
	setLockHeaders(h, e)
	setTaggingCount(h, e)
	overrideHeaders(h, q)
	if rq.r.Method == http.MethodHead {
		rq.w.WriteHeader(status)
		return e, nil, status, 0, nil
	}
	offset := int64(0)
	if rng != nil {
		offset = rng.Offset
	}
	body, err := s.openRange(ctx, e, offset, length)
	if err != nil {
		h.Del("Content-Range")
		return e, nil, 0, 0, err
	}
	return e, body, status, length, nil
}

// responseOverrides maps the response-* query parameters of a GET to the headers they set.
var responseOverrides = map[string]string{
	"response-content-type":        "Content-Type",
	"response-content-language":    "Content-Language",
	"response-expires":             "Expires",
	"response-cache-control":       "Cache-Control",
	"response-content-disposition": "Content-Disposition",
	"response-content-encoding":    "Content-Encoding",
}

// overrideHeaders applies the response-* query parameters of a GET.
func overrideHeaders(h http.Header, q url.Values) {
	for param, header := range responseOverrides {
		if v := q.Get(param); v != "" {
			h.Set(header, v)
		}
	}
}

// hasResponseOverrides reports whether q holds any response-* parameter.
func hasResponseOverrides(q url.Values) bool {
	for param := range responseOverrides {
		if q.Has(param) {
			return true
		}
	}
	return false
}

// checkConditions applies If-Match, If-None-Match, If-Modified-Since and
// If-Unmodified-Since in the order RFC 9110 gives them.
func checkConditions(r *http.Request, etag string, modified time.Time) error {
	match := func(list string) bool {
		for _, t := range strings.Split(list, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || t == etag || strings.Trim(t, `"`) == strings.Trim(etag, `"`) {
				return true
			}
		}
		return false
	}
	if v := r.Header.Get("If-Match"); v != "" {
		if !match(v) {
			return ErrPreconditionFailed
		}
	} else if v := r.Header.Get("If-Unmodified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && modified.After(t) {
			return ErrPreconditionFailed
		}
	}
	if v := r.Header.Get("If-None-Match"); v != "" {
		if match(v) {
			return ErrNotModified
		}
	} else if v := r.Header.Get("If-Modified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && !modified.After(t) {
			return ErrNotModified
		}
	}
	return nil
}

// parseRange reads a single byte range ("bytes=a-b", "bytes=a-", "bytes=-n") against an
// object of size bytes. A syntactically odd header is ignored, as HTTP says; a range that
// does not overlap the object is InvalidRange.
func parseRange(spec string, size int64) (*objclient.Range, error) {
	v, ok := strings.CutPrefix(spec, "bytes=")
	if !ok || strings.Contains(v, ",") {
		return nil, nil
	}
	first, last, ok := strings.Cut(strings.TrimSpace(v), "-")
	if !ok {
		return nil, nil
	}
	invalid := errorf(ErrInvalidRange, "The requested range is not satisfiable.")
	if first == "" {
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			return nil, nil
		}
		if n == 0 || size == 0 {
			return nil, invalid
		}
		n = min(n, size)
		return &objclient.Range{Offset: size - n, Length: n}, nil
	}
	a, err := strconv.ParseInt(first, 10, 64)
	if err != nil || a < 0 {
		return nil, nil
	}
	if a >= size {
		return nil, invalid
	}
	b := size - 1
	if last != "" {
		if b, err = strconv.ParseInt(last, 10, 64); err != nil || b < a {
			return nil, nil
		}
		b = min(b, size-1)
	}
	return &objclient.Range{Offset: a, Length: b - a + 1}, nil
}

func (s *Server) deleteObject(rq *request, q url.Values) error {
	ctx := rq.r.Context()
	b, err := s.authorize(ctx, rq, deleteAction(q.Get("versionId")), rq.key)
	if err != nil {
		return err
	}
	if b.Versioning == meta.VersioningOff && !q.Has("versionId") {
		err = s.deleteKey(ctx, rq.bucket, rq.key)
	} else {
		err = s.deleteVersioned(ctx, rq.w.Header(), b, rq.key, q.Get("versionId"), s.governanceBypass(rq, b))
	}
	if err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

// partsOf returns the parts of the current version of bucket/key if it is a multipart
// object, so that a write replacing it can drop them. It reads the index stale: a part
// list missed in a race leaves garbage, never a dangling reference.
func (s *Server) partsOf(ctx context.Context, bucket, key string) replacedData {
	e, err := s.meta.Index(bucket).GetObject(ctx, bucket, key, meta.Stale())
	if err != nil {
		return replacedData{}
	}
	if e.EC != nil && !e.DeleteMarker {
		return replacedData{ec: e.EC, name: dataName(e), entry: e}
	}
	if !isMultipartETag(e.ETag) {
		return replacedData{entry: e}
	}
	m, err := s.readManifest(ctx, e)
	if err != nil {
		s.log.Warn("read manifest of a replaced object", "bucket", bucket, "err", err)
		return replacedData{entry: e}
	}
	return replacedData{parts: m.Parts, entry: e}
}

// replacedData is what of the current version of a key must go once a write or delete
// replaces it: the parts of a multipart object, or the fragment archives of an
// erasure-coded one. The whole copies of any other object are replaced in place.
type replacedData struct {
	parts []manifestPart
	ec    *meta.ECStorage
	name  string           // the erasure-coded object's storage name
	entry meta.ObjectEntry // the version read as current (zero Version: none)
}

// dropReplaced removes r once the version replacing it, at ts, is indexed. The archives
// get tombstones at ts itself: a device that holds the new version's own archive there
// (same name, same ring) refuses a tombstone no newer than it and keeps it.
func (s *Server) dropReplaced(ctx context.Context, r replacedData, ts hlc.Timestamp) {
	s.dropParts(ctx, r.parts)
	if r.ec != nil {
		if err := s.data.TombstonesEC(ctx, codeOf(r.ec), r.name, ts); err != nil {
			s.log.Warn("drop replaced fragment archives", "key", r.name, "err", err)
		}
	}
}

func (s *Server) dropParts(ctx context.Context, parts []manifestPart) {
	for _, p := range parts {
		s.dropPart(ctx, p.Name, p.EC)
	}
}

// rangeOf is the storage range for n bytes from offset of an object of size bytes; nil
// for the whole object, which the storage client then verifies end to end.
func rangeOf(offset, n, size int64) *objclient.Range {
	if offset == 0 && n == size {
		return nil
	}
	return &objclient.Range{Offset: offset, Length: n}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
