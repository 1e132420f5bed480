package console

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// upload streams the request body to S3 as ?key: a file up to PartSize in one PUT, a
// bigger one as a multipart upload whose parts are read straight from the body, so no
// more than what is in flight is ever held in memory.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, sess *session) {
	key := r.URL.Query().Get("key")
	if key == "" {
		writeError(w, http.StatusBadRequest, "name the object (key)")
		return
	}
	size := r.ContentLength
	if size < 0 {
		writeError(w, http.StatusLengthRequired, "the upload needs a Content-Length")
		return
	}
	bucket := aws.String(r.PathValue("bucket"))
	// A plain reader: the SDK must not try to seek or buffer it.
	body := struct{ io.Reader }{r.Body}
	if size <= s.cfg.PartSize {
		_, err := sess.clients.s3.PutObject(r.Context(), &s3.PutObjectInput{Bucket: bucket, Key: aws.String(key),
			Body: body, ContentLength: aws.Int64(size)}, unsignedPayload)
		if err != nil {
			writeAPIError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"key": key, "size": size})
		return
	}
	if err := s.multipartUpload(r.Context(), sess, bucket, key, body, size); err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"key": key, "size": size})
}

// multipartUpload sends size bytes of body as parts of PartSize, and aborts the upload
// if any part fails, so no orphan parts are left behind.
func (s *Server) multipartUpload(ctx context.Context, sess *session, bucket *string, key string, body io.Reader, size int64) (err error) {
	c := sess.clients.s3
	mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: aws.String(key)})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shortTimeout)
			defer cancel()
			_, _ = c.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: bucket, Key: aws.String(key), UploadId: mp.UploadId})
		}
	}()
	var parts []types.CompletedPart
	for n, off := int32(1), int64(0); off < size; n++ {
		part := min(s.cfg.PartSize, size-off)
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: aws.String(key), UploadId: mp.UploadId,
			PartNumber: aws.Int32(n), Body: io.LimitReader(body, part), ContentLength: aws.Int64(part)}, unsignedPayload)
		if err != nil {
			return fmt.Errorf("part %d: %w", n, err)
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n)})
		off += part
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err = c.CompleteMultipartUpload(cctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: aws.String(key), UploadId: mp.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	return err
}
