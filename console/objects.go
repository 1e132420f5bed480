package console

import (
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// pageSize is how many entries a listing page shows.
const pageSize = 100

type objectItem struct {
	Key          string    `json:"key"`
	Size         int64     `json:"size"`
	LastModified time.Time `json:"last_modified"`
}

type objectPage struct {
	Prefixes  []string     `json:"prefixes"`
	Objects   []objectItem `json:"objects"`
	NextToken string       `json:"next_token,omitempty"`
}

// listObjects lists one page under ?prefix, folders by "/"; ?token continues.
func (s *Server) listObjects(w http.ResponseWriter, r *http.Request, sess *session) {
	q := r.URL.Query()
	in := &s3.ListObjectsV2Input{Bucket: aws.String(r.PathValue("bucket")), Prefix: aws.String(q.Get("prefix")),
		Delimiter: aws.String("/"), MaxKeys: aws.Int32(pageSize)}
	if n, err := strconv.Atoi(q.Get("max")); err == nil && n > 0 && n < pageSize {
		in.MaxKeys = aws.Int32(int32(n))
	}
	if t := q.Get("token"); t != "" {
		in.ContinuationToken = aws.String(t)
	}
	ctx, cancel := s.callCtx(r)
	defer cancel()
	out, err := sess.clients.s3.ListObjectsV2(ctx, in)
	if err != nil {
		writeAPIError(w, err)
		return
	}
	page := objectPage{Prefixes: []string{}, Objects: []objectItem{}}
	for _, p := range out.CommonPrefixes {
		page.Prefixes = append(page.Prefixes, aws.ToString(p.Prefix))
	}
	for _, o := range out.Contents {
		page.Objects = append(page.Objects, objectItem{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), LastModified: aws.ToTime(o.LastModified)})
	}
	if aws.ToBool(out.IsTruncated) {
		page.NextToken = aws.ToString(out.NextContinuationToken)
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) deleteObject(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, cancel := s.callCtx(r)
	defer cancel()
	_, err := sess.clients.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(r.PathValue("bucket")), Key: aws.String(r.URL.Query().Get("key"))})
	if err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// download streams ?key from S3 to the browser as an attachment; it lasts as long as the
// bytes flow (the request's context ends it when the browser goes).
func (s *Server) download(w http.ResponseWriter, r *http.Request, sess *session) {
	key := r.URL.Query().Get("key")
	out, err := sess.clients.s3.GetObject(r.Context(), &s3.GetObjectInput{Bucket: aws.String(r.PathValue("bucket")), Key: aws.String(key)})
	if err != nil {
		writeAPIError(w, err)
		return
	}
	defer out.Body.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	if out.ContentLength != nil {
		h.Set("Content-Length", strconv.FormatInt(*out.ContentLength, 10))
	}
	disp := mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(key)})
	if disp == "" {
		disp = "attachment" // a name the header cannot carry: the browser picks one
	}
	h.Set("Content-Disposition", disp)
	h.Set("Cache-Control", "no-store")
	if _, err := io.Copy(w, out.Body); err != nil {
		s.log.Debug("console download cut short", "err", err)
	}
}

// maxShare is the longest a SigV4 presigned URL may live.
const maxShare = 7 * 24 * time.Hour

// share makes a presigned GET URL of a key that anyone holding it can fetch until it
// expires.
func (s *Server) share(w http.ResponseWriter, r *http.Request, sess *session) {
	var req struct {
		Key            string `json:"key"`
		ExpiresSeconds int64  `json:"expires_seconds"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	d := time.Duration(req.ExpiresSeconds) * time.Second
	if d <= 0 || d > maxShare {
		writeError(w, http.StatusBadRequest, "expiry must be between 1 second and 7 days")
		return
	}
	ps := s3.NewPresignClient(sess.clients.s3)
	ctx, cancel := s.callCtx(r)
	defer cancel()
	out, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(r.PathValue("bucket")), Key: aws.String(req.Key)}, s3.WithPresignExpires(d))
	if err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"url": out.URL, "expires_at": time.Now().Add(d).UTC().Format(time.RFC3339)})
}
