package s3api

import (
	"encoding/xml"
	"net/http"
	"strings"
	"time"

	meta "stratus/meta/client"
)

// Object Lock, bucket side: a bucket created with x-amz-bucket-object-lock-enabled, or a
// versioned bucket given an Object Lock configuration, keeps its versions write-once: each
// version may carry a retention period and a legal hold (objectlockversion.go) that refuse
// its deletion until they pass or are released (objectlockenforce.go). Versioning of such
// a bucket stays enabled for good, so a write never replaces a version in place.

// Retention modes, as S3 spells them.
const (
	lockGovernance = "GOVERNANCE"
	lockCompliance = "COMPLIANCE"
)

// Bounds of a default retention period, as S3 sets them (100 years).
const (
	maxRetentionDays  = 36500
	maxRetentionYears = 100
)

type xmlObjectLockConfig struct {
	XMLName           xml.Name           `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ObjectLockConfiguration"`
	ObjectLockEnabled string             `xml:"ObjectLockEnabled,omitempty"`
	Rule              *xmlObjectLockRule `xml:"Rule,omitempty"`
}

type xmlObjectLockRule struct {
	DefaultRetention *xmlDefaultRetention `xml:"DefaultRetention"`
}

type xmlDefaultRetention struct {
	Mode  string `xml:"Mode,omitempty"`
	Days  *int   `xml:"Days,omitempty"`
	Years *int   `xml:"Years,omitempty"`
}

// now is the server's clock for retention periods; tests move it with ServerConfig.Now.
func (s *Server) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

// lockAtCreate applies x-amz-bucket-object-lock-enabled to a bucket being created: Object
// Lock on, and with it versioning, which can then never be suspended.
func lockAtCreate(h http.Header, b *meta.Bucket) error {
	switch strings.ToLower(h.Get("X-Amz-Bucket-Object-Lock-Enabled")) {
	case "", "false":
		return nil
	case "true":
		b.ObjectLock = &meta.ObjectLockConfig{}
		b.Versioning = meta.VersioningEnabled
		return nil
	}
	return errorf(ErrInvalidArgument, "x-amz-bucket-object-lock-enabled must be true or false.")
}

// lockedVersioning refuses a versioning change of a bucket with Object Lock: its
// versioning stays enabled.
func lockedVersioning(b meta.Bucket, status string) error {
	if b.ObjectLock != nil && status != "Enabled" {
		return errorf(ErrInvalidBucketState, "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.")
	}
	return nil
}

// putObjectLockConfig serves PUT ?object-lock. A bucket without Object Lock gets it here if
// its versioning is enabled (S3 allows enabling Object Lock on an existing versioned
// bucket); a configuration without a Rule removes the default retention.
func (s *Server) putObjectLockConfig(rq *request) error {
	if _, err := s.authorize(rq.r.Context(), rq, "s3:PutBucketObjectLockConfiguration", ""); err != nil {
		return err
	}
	body, err := readIntegrityBody(rq, 64<<10)
	if err != nil {
		return err
	}
	var in struct {
		XMLName           xml.Name `xml:"ObjectLockConfiguration"`
		ObjectLockEnabled string   `xml:"ObjectLockEnabled"`
		Rule              *struct {
			DefaultRetention *struct {
				Mode  string `xml:"Mode"`
				Days  *int   `xml:"Days"`
				Years *int   `xml:"Years"`
			} `xml:"DefaultRetention"`
		} `xml:"Rule"`
	}
	if err := xml.Unmarshal(body, &in); err != nil || in.ObjectLockEnabled != "Enabled" {
		return ErrMalformedXML
	}
	cfg := meta.ObjectLockConfig{}
	if in.Rule != nil {
		d := in.Rule.DefaultRetention
		if d == nil || (d.Mode != lockGovernance && d.Mode != lockCompliance) || (d.Days == nil) == (d.Years == nil) {
			return ErrMalformedXML
		}
		switch {
		case d.Days != nil && *d.Days <= 0, d.Years != nil && *d.Years <= 0:
			return errorf(ErrInvalidArgument, "Default retention period must be a positive integer value.")
		case d.Days != nil && *d.Days > maxRetentionDays, d.Years != nil && *d.Years > maxRetentionYears:
			return errorf(ErrInvalidRetentionPeriod, "Default retention period is too large.")
		}
		cfg.DefaultMode = d.Mode
		if d.Days != nil {
			cfg.DefaultDays = *d.Days
		} else {
			cfg.DefaultYears = *d.Years
		}
	}
	err = s.updateAuthorized(rq.r.Context(), rq, "s3:PutBucketObjectLockConfiguration", func(b *meta.Bucket) error {
		if b.ObjectLock == nil && b.Versioning != meta.VersioningEnabled {
			return errorf(ErrInvalidBucketState, "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration")
		}
		b.ObjectLock = &cfg
		return nil
	})
	if err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// getObjectLockConfig serves GET ?object-lock.
func (s *Server) getObjectLockConfig(rq *request) error {
	b, err := s.authorize(rq.r.Context(), rq, "s3:GetBucketObjectLockConfiguration", "")
	if err != nil {
		return err
	}
	if b.ObjectLock == nil {
		return ErrObjectLockConfigurationNotFound
	}
	out := xmlObjectLockConfig{ObjectLockEnabled: "Enabled"}
	if c := b.ObjectLock; c.DefaultMode != "" {
		d := &xmlDefaultRetention{Mode: c.DefaultMode}
		if c.DefaultDays > 0 {
			d.Days = &c.DefaultDays
		} else {
			d.Years = &c.DefaultYears
		}
		out.Rule = &xmlObjectLockRule{DefaultRetention: d}
	}
	return writeXML(rq.w, http.StatusOK, out)
}

// hasIntegrityHeader reports whether a request carries Content-MD5 or an x-amz-checksum-*
// (as a header or announced trailer), which S3 requires of Object Lock requests. A signed
// hex SHA-256 of the payload (x-amz-content-sha256, which the verifier holds the body to)
// counts as well: SDKs that sign the payload over plain HTTP send no other.
func hasIntegrityHeader(h http.Header) bool {
	if h.Get("Content-Md5") != "" || isHexSHA256(h.Get("X-Amz-Content-Sha256")) {
		return true
	}
	for k := range h {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-amz-checksum-") && lk != "x-amz-checksum-mode" && lk != "x-amz-checksum-type" {
			return true
		}
	}
	return strings.Contains(strings.ToLower(h.Get("X-Amz-Trailer")), "x-amz-checksum-")
}

// errIntegrityRequired is S3's answer to an Object Lock request without an integrity header.
func errIntegrityRequired(what string) error {
	return errorf(ErrInvalidRequest, "Content-MD5 OR x-amz-checksum- HTTP header is required for "+what)
}

// readIntegrityBody reads the small XML body of an Object Lock configuration request,
// which S3 accepts only with Content-MD5 or an x-amz-checksum-*, and checks it against them.
func readIntegrityBody(rq *request, limit int) ([]byte, error) {
	if !hasIntegrityHeader(rq.r.Header) {
		return nil, errIntegrityRequired("requests with Object Lock parameters")
	}
	return readConfigBody(rq, limit)
}
