package s3api

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"

	"stratus/internal/hlc"
	meta "stratus/meta/client"
)

type xmlCopyResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CopyObjectResult"`
	LastModified string   `xml:"LastModified"`
	ETag         string   `xml:"ETag"`
}

// copySource reads x-amz-copy-source: "[/]bucket/key[?versionId=id]", URL-encoded.
func copySource(h http.Header) (bucket, key, versionID string, err error) {
	v := h.Get("X-Amz-Copy-Source")
	if i := strings.Index(v, "?versionId="); i >= 0 {
		versionID, v = v[i+len("?versionId="):], v[:i]
	}
	v, err = url.PathUnescape(strings.TrimPrefix(v, "/"))
	if err != nil {
		return "", "", "", errorf(ErrInvalidArgument, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey.")
	}
	bucket, key, ok := strings.Cut(v, "/")
	if !ok || bucket == "" || key == "" {
		return "", "", "", errorf(ErrInvalidArgument, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey.")
	}
	return bucket, key, versionID, checkKey(key)
}

// copyConditions applies the x-amz-copy-source-if-* headers; any that fails is
// PreconditionFailed, as S3 answers for copies.
func copyConditions(h http.Header, e meta.ObjectEntry) error {
	r := &http.Request{Header: http.Header{}}
	for _, name := range []string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"} {
		if v := h.Get("X-Amz-Copy-Source-" + name); v != "" {
			r.Header.Set(name, v)
		}
	}
	if err := checkConditions(r, `"`+e.ETag+`"`, lastModified(e.Version)); err != nil {
		return ErrPreconditionFailed
	}
	return nil
}

// sourceEntry loads the object a copy reads, which the caller must own.
func (s *Server) sourceEntry(ctx context.Context, rq *request) (meta.ObjectEntry, error) {
	bucket, key, vid, err := copySource(rq.r.Header)
	if err != nil {
		return meta.ObjectEntry{}, err
	}
	src := &request{r: rq.r, w: rq.w, account: rq.account, bucket: bucket, key: key}
	sb, _, err := s.bucketOf(ctx, src, bucket, "X-Amz-Source-Expected-Bucket-Owner")
	if err != nil {
		return meta.ObjectEntry{}, err
	}
	q := url.Values{}
	if vid != "" {
		q.Set("versionId", vid)
	}
	e, err := s.resolve(ctx, nil, bucket, key, q)
	if err != nil {
		return e, s.hideMissing(src, sb, err)
	}
	if err := s.decide(src, sb, readAction(q), key, &e); err != nil {
		return e, err
	}
	return e, copyConditions(rq.r.Header, e)
}

// openRange opens length bytes from offset of an indexed object, whether stored whole or
// as parts. The caller closes the reader.
func (s *Server) openRange(ctx context.Context, e meta.ObjectEntry, offset, length int64) (io.ReadCloser, error) {
	if length == 0 {
		return io.NopCloser(strings.NewReader("")), nil
	}
	if e.EC != nil {
		obj, err := s.data.GetEC(ctx, codeOf(e.EC), dataName(e), hlc.Timestamp(e.Version), e.Size, rangeOf(offset, length, e.Size))
		if err != nil {
			return nil, err
		}
		return obj.Body, nil
	}
	if !isMultipartETag(e.ETag) {
		obj, err := s.data.Get(ctx, dataName(e), hlc.Timestamp(e.Version), rangeOf(offset, length, e.Size))
		if err != nil {
			return nil, err
		}
		return obj.Body, nil
	}
	m, err := s.readManifest(ctx, e)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pw.CloseWithError(s.copyParts(ctx, pw, m, offset, length))
	}()
	return &pipeBody{PipeReader: pr, done: done}, nil
}

// pipeBody is the read end of a pipe whose writer goroutine Close waits for.
type pipeBody struct {
	*io.PipeReader
	done chan struct{}
}

func (p *pipeBody) Close() error {
	p.PipeReader.CloseWithError(io.ErrClosedPipe)
	<-p.done
	return nil
}

func (s *Server) copyObject(rq *request) error {
	ctx := rq.r.Context()
	g, err := s.authorizeWrite(ctx, rq, "s3:PutObject", rq.key)
	b := g.b
	if err != nil {
		return err
	}
	acl, err := s.newObjectACL(ctx, rq, b) // the copy's own, from this request: S3 never copies an ACL
	if err != nil {
		return err
	}
	src, body, err := s.openSource(ctx, rq, func(src meta.ObjectEntry) (int64, int64, error) {
		if src.Size > s.cfg.MaxObjectBytes {
			return 0, 0, errorf(ErrInvalidRequest, "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120.")
		}
		return 0, src.Size, nil
	})
	if err != nil {
		return err
	}
	defer body.Close()
	ctype, um := src.ContentType, src.UserMeta
	switch rq.r.Header.Get("X-Amz-Metadata-Directive") {
	case "", "COPY":
		if src.Bucket == rq.bucket && src.Key == rq.key && !strings.Contains(rq.r.Header.Get("X-Amz-Copy-Source"), "?versionId=") {
			return errorf(ErrInvalidRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
		}
	case "REPLACE":
		if um, err = userMeta(rq.r.Header); err != nil {
			return err
		}
		if ctype = rq.r.Header.Get("Content-Type"); ctype == "" {
			ctype = "binary/octet-stream"
		}
	default:
		return errorf(ErrInvalidArgument, "Unknown metadata directive.")
	}
	lock, err := s.writeLock(rq, b, false) // the source's lock is not copied, as in S3
	if err != nil {
		return err
	}
	tags, err := copyTags(rq.r, src)
	if err != nil {
		return err
	}
	if rq.r.Header.Get("X-Amz-Tagging-Directive") == "REPLACE" {
		if err := s.authorizeWriteTags(rq, b, tags); err != nil {
			return err
		}
		g.tagging = len(tags) > 0
	}
	alg, err := copyChecksumAlgorithm(rq.r.Header, src)
	if err != nil {
		return err
	}
	data, check, sum := copiedPartChecksum(body, alg)
	e, err := s.storeVersion(ctx, g, meta.ObjectEntry{Key: rq.key, Size: src.Size, ContentType: ctype, UserMeta: um, ACL: acl, Lock: lock, Tags: tags, Checksum: sum},
		src.Size, data, check, nil)
	if err != nil {
		return err
	}
	setWrittenVersionHeader(rq.w, b, e)
	if !isNull(src) {
		rq.w.Header().Set("X-Amz-Copy-Source-Version-Id", versionID(src))
	}
	return writeXML(rq.w, http.StatusOK, xmlCopyResult{LastModified: isoTime(lastModified(e.Version)), ETag: `"` + e.ETag + `"`})
}
