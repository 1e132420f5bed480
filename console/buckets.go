package console

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

func (s *Server) s3Routes() {
	s.mux.HandleFunc("GET /api/buckets", s.authed(s.listBuckets))
	s.mux.HandleFunc("POST /api/buckets", s.authed(s.createBucket))
	s.mux.HandleFunc("DELETE /api/buckets/{bucket}", s.authed(s.deleteBucket))
	s.mux.HandleFunc("GET /api/buckets/{bucket}/versioning", s.authed(s.getVersioning))
	s.mux.HandleFunc("PUT /api/buckets/{bucket}/versioning", s.authed(s.putVersioning))
	s.mux.HandleFunc("GET /api/buckets/{bucket}/policy", s.authed(s.getPolicy))
	s.mux.HandleFunc("PUT /api/buckets/{bucket}/policy", s.authed(s.putPolicy))
	s.mux.HandleFunc("DELETE /api/buckets/{bucket}/policy", s.authed(s.deletePolicy))
	s.mux.HandleFunc("GET /api/buckets/{bucket}/objects", s.authed(s.listObjects))
	s.mux.HandleFunc("DELETE /api/buckets/{bucket}/objects", s.authed(s.deleteObject))
	s.mux.HandleFunc("GET /api/buckets/{bucket}/download", s.authed(s.download))
	s.mux.HandleFunc("PUT /api/buckets/{bucket}/upload", s.authed(s.upload))
	s.mux.HandleFunc("POST /api/buckets/{bucket}/share", s.authed(s.share))
}

type bucketItem struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

func (s *Server) listBuckets(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, cancel := s.callCtx(r)
	defer cancel()
	out, err := sess.clients.s3.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		writeAPIError(w, err)
		return
	}
	items := []bucketItem{}
	for _, b := range out.Buckets {
		items = append(items, bucketItem{Name: aws.ToString(b.Name), CreatedAt: aws.ToTime(b.CreationDate)})
	}
	writeJSON(w, http.StatusOK, items)
}

func (s *Server) createBucket(w http.ResponseWriter, r *http.Request, sess *session) {
	var req struct {
		Name string `json:"name"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	ctx, cancel := s.callCtx(r)
	defer cancel()
	if _, err := sess.clients.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(strings.TrimSpace(req.Name))}); err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"name": req.Name})
}

func (s *Server) deleteBucket(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, cancel := s.callCtx(r)
	defer cancel()
	if _, err := sess.clients.s3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(r.PathValue("bucket"))}); err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) getVersioning(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, cancel := s.callCtx(r)
	defer cancel()
	out, err := sess.clients.s3.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(r.PathValue("bucket"))})
	if err != nil {
		writeAPIError(w, err)
		return
	}
	status := string(out.Status)
	if status == "" {
		status = "Off"
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": status})
}

// putVersioning turns versioning on ("Enabled") or off ("Suspended": S3 never unversions
// a bucket).
func (s *Server) putVersioning(w http.ResponseWriter, r *http.Request, sess *session) {
	var req struct {
		Enabled bool `json:"enabled"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	st := types.BucketVersioningStatusSuspended
	if req.Enabled {
		st = types.BucketVersioningStatusEnabled
	}
	ctx, cancel := s.callCtx(r)
	defer cancel()
	_, err := sess.clients.s3.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(r.PathValue("bucket")),
		VersioningConfiguration: &types.VersioningConfiguration{Status: st}})
	if err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": string(st)})
}

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, cancel := s.callCtx(r)
	defer cancel()
	out, err := sess.clients.s3.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(r.PathValue("bucket"))})
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchBucketPolicy" {
		writeJSON(w, http.StatusOK, map[string]string{"policy": ""})
		return
	}
	if err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"policy": aws.ToString(out.Policy)})
}

func (s *Server) putPolicy(w http.ResponseWriter, r *http.Request, sess *session) {
	var req struct {
		Policy string `json:"policy"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	ctx, cancel := s.callCtx(r)
	defer cancel()
	if _, err := sess.clients.s3.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(r.PathValue("bucket")), Policy: aws.String(req.Policy)}); err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) deletePolicy(w http.ResponseWriter, r *http.Request, sess *session) {
	ctx, cancel := s.callCtx(r)
	defer cancel()
	if _, err := sess.clients.s3.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String(r.PathValue("bucket"))}); err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}
