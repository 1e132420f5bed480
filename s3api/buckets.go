package s3api

import (
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	meta "stratus/meta/client"
)

type xmlOwner struct {
	ID          string `xml:"ID"`
	DisplayName string `xml:"DisplayName"`
}

type xmlBucketList struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListAllMyBucketsResult"`
	Owner   xmlOwner `xml:"Owner"`
	Buckets []struct {
		Name         string `xml:"Name"`
		CreationDate string `xml:"CreationDate"`
	} `xml:"Buckets>Bucket"`
}

type xmlLocation struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ LocationConstraint"`
	Region  string   `xml:",chardata"`
}

type xmlVersioning struct {
	XMLName xml.Name `xml:"VersioningConfiguration"`
	Status  string   `xml:"Status,omitempty"`
}

type xmlCreateBucket struct {
	LocationConstraint string `xml:"LocationConstraint"`
}

// isoTime is the timestamp form S3 uses in XML bodies.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (s *Server) listBuckets(rq *request) error {
	if rq.account == "" {
		return ErrAnonymous
	}
	all, err := s.meta.Buckets(rq.r.Context())
	if err != nil {
		return err
	}
	out := xmlBucketList{Owner: xmlOwner{ID: rq.account, DisplayName: rq.account}}
	for _, b := range all {
		if b.Owner != rq.account {
			continue
		}
		out.Buckets = append(out.Buckets, struct {
			Name         string `xml:"Name"`
			CreationDate string `xml:"CreationDate"`
		}{b.Name, isoTime(b.CreatedAt)})
	}
	return writeXML(rq.w, http.StatusOK, out)
}

// bucketOp dispatches a request that names a bucket and no key.
func (s *Server) bucketOp(rq *request, q url.Values) error {
	if q.Has("policy") || q.Has("policyStatus") {
		return s.bucketPolicyOp(rq, q)
	}
	if handled, err := s.bucketAccessOp(rq, q); handled {
		return err
	}
	if handled, err := s.bucketConfigOp(rq, q); handled {
		return err
	}
	if handled, err := s.unconfiguredOp(rq, q); handled {
		return err
	}
	switch rq.r.Method {
	case http.MethodPut:
		if q.Has("versioning") {
			return s.putVersioning(rq)
		}
		if q.Has("object-lock") {
			return s.putObjectLockConfig(rq)
		}
		if q.Has("lifecycle") {
			return s.putLifecycle(rq)
		}
		return s.createBucket(rq)
	case http.MethodDelete:
		if q.Has("lifecycle") {
			return s.deleteLifecycle(rq)
		}
		return s.deleteBucket(rq)
	case http.MethodHead:
		_, err := s.authorize(rq.r.Context(), rq, "s3:ListBucket", "")
		if err == nil {
			rq.w.WriteHeader(http.StatusOK)
		}
		return err
	case http.MethodGet:
		switch {
		case q.Has("location"):
			if _, err := s.authorize(rq.r.Context(), rq, "s3:GetBucketLocation", ""); err != nil {
				return err
			}
			region := s.cfg.Region
			if region == "us-east-1" {
				region = "" // S3's answer for the default region
			}
			return writeXML(rq.w, http.StatusOK, xmlLocation{Region: region})
		case q.Has("versioning"):
			b, err := s.authorize(rq.r.Context(), rq, "s3:GetBucketVersioning", "")
			if err != nil {
				return err
			}
			return writeXML(rq.w, http.StatusOK, xmlVersioning{Status: versioningStatus(b.Versioning)})
		case q.Has("object-lock"):
			return s.getObjectLockConfig(rq)
		case q.Has("uploads"):
			return s.listUploads(rq, q)
		case q.Has("versions"):
			return s.listVersions(rq, q)
		case q.Has("lifecycle"):
			return s.getLifecycle(rq)
		case q.Get("list-type") == "2":
			return s.listObjectsV2(rq, q)
		default:
			return s.listObjectsV1(rq, q)
		}
	case http.MethodPost:
		if q.Has("delete") {
			return s.deleteObjects(rq)
		}
	}
	return ErrMethodNotAllowed
}

func (s *Server) createBucket(rq *request) error {
	if rq.account == "" {
		return ErrAnonymous
	}
	if err := checkBucketName(rq.bucket); err != nil {
		return err
	}
	// The body, if any, names a location: this cluster's region, or a storage policy.
	var location string
	if body, err := io.ReadAll(io.LimitReader(rq.body, 64<<10)); err != nil {
		return err
	} else if len(body) > 0 {
		var cfg xmlCreateBucket
		if err := xml.Unmarshal(body, &cfg); err != nil {
			return ErrMalformedXML
		}
		location = cfg.LocationConstraint
	}
	ctx := rq.r.Context()
	policy, err := s.policyFor(ctx, location)
	if err != nil {
		return err
	}
	nb := meta.Bucket{Name: rq.bucket, Owner: rq.account, Policy: policy, CreatedAt: time.Now().UTC()}
	if err := s.newBucketAccess(ctx, rq, &nb); err != nil {
		return err
	}
	if err := lockAtCreate(rq.r.Header, &nb); err != nil {
		return err
	}
	err = s.meta.CreateBucket(ctx, nb)
	if errors.Is(err, meta.ErrConflict) {
		if b, _, gerr := s.meta.Bucket(ctx, rq.bucket); gerr == nil && b.Owner == rq.account {
			if s.cfg.Region != "us-east-1" {
				return ErrBucketAlreadyOwnedByYou
			}
			// us-east-1 keeps S3's legacy answer: creating a bucket you own succeeds, and
			// changes nothing. Scripts written against it create buckets unconditionally.
		} else {
			return ErrBucketAlreadyExists
		}
	} else if err != nil {
		return err
	}
	rq.w.Header().Set("Location", "/"+rq.bucket)
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) deleteBucket(rq *request) error {
	ctx := rq.r.Context()
	_, err := s.authorize(ctx, rq, "s3:DeleteBucket", "")
	if err != nil {
		return err
	}
	// The catalog checks, in the transaction that deletes the bucket, that it holds no
	// objects, versions (delete markers count, as in S3) or uploads in progress.
	defer s.buckets.forget(rq.bucket)
	if err := s.meta.DeleteBucket(ctx, rq.bucket); err != nil {
		if errors.Is(err, meta.ErrNotFound) {
			return ErrNoSuchBucket
		}
		if errors.Is(err, meta.ErrBucketNotEmpty) {
			return ErrBucketNotEmpty
		}
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) putVersioning(rq *request) error {
	ctx := rq.r.Context()
	b, err := s.authorize(ctx, rq, "s3:PutBucketVersioning", "")
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(rq.body, 64<<10))
	if err != nil {
		return err
	}
	var v xmlVersioning
	if err := xml.Unmarshal(body, &v); err != nil {
		return ErrMalformedXML
	}
	if err := lockedVersioning(b, v.Status); err != nil {
		return err
	}
	var status meta.Versioning
	switch v.Status {
	case "Enabled":
		status = meta.VersioningEnabled
	case "Suspended":
		status = meta.VersioningSuspended
	default:
		return ErrMalformedXML
	}
	if b.Versioning == meta.VersioningOff {
		// The objects already there become their null versions in the history.
		if err := s.historize(ctx, rq.bucket); err != nil {
			return err
		}
	}
	// Only the versioning state changes, on the record as it is now: the one read above is
	// stale by the time the history is built, and writing it back would undo a setting
	// changed meanwhile (an ACL, a public access block, an Object Lock configuration).
	err = s.updateAuthorized(ctx, rq, "s3:PutBucketVersioning", func(b *meta.Bucket) error {
		if err := lockedVersioning(*b, v.Status); err != nil {
			return err
		}
		b.Versioning = status
		return nil
	})
	if err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

func versioningStatus(v meta.Versioning) string {
	switch v {
	case meta.VersioningEnabled:
		return "Enabled"
	case meta.VersioningSuspended:
		return "Suspended"
	}
	return ""
}

// writeXML writes v as an S3 XML response.
func writeXML(w http.ResponseWriter, status int, v any) error {
	body := encodeXML(v)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", itoa(int64(len(body))))
	w.WriteHeader(status)
	_, err := w.Write(body)
	return err
}
