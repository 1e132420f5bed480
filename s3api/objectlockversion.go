package s3api

import (
	"context"
	"encoding/xml"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	meta "stratus/meta/client"
)

// Object Lock, version side: the retention period and legal hold of one version, set by
// PutObjectRetention and PutObjectLegalHold or by headers at write time, and returned on
// GET and HEAD.

type xmlRetention struct {
	XMLName         xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ Retention"`
	Mode            string   `xml:"Mode,omitempty"`
	RetainUntilDate string   `xml:"RetainUntilDate,omitempty"`
}

type xmlLegalHold struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ LegalHold"`
	Status  string   `xml:"Status"`
}

var errNoLockConfig = errorf(ErrInvalidRequest, "Bucket is missing Object Lock Configuration")

// parseRetainUntil reads an ISO 8601 retain-until date.
func parseRetainUntil(v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, errorf(ErrInvalidArgument, "The retain until date must be provided in ISO 8601 format")
	}
	return retainUntil(t), nil
}

// retainUntil is t as stored: in milliseconds, the precision S3 returns dates in, so a date
// read back and sent again compares equal to the stored one rather than a little earlier.
func retainUntil(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// lockHeaders reads the x-amz-object-lock-* headers of a write into the lock its version
// starts with; nil when there are none. They need a bucket with Object Lock, and only the
// bucket owner may send them: no ACL grants setting a retention period or a legal hold
// (s3:PutObjectRetention, s3:PutObjectLegalHold), so another account writing through a
// WRITE grant cannot plant versions the owner could never delete.
func (s *Server) lockHeaders(rq *request, b meta.Bucket) (*meta.ObjectLock, error) {
	h := rq.r.Header
	mode, until, hold := h.Get("X-Amz-Object-Lock-Mode"), h.Get("X-Amz-Object-Lock-Retain-Until-Date"), h.Get("X-Amz-Object-Lock-Legal-Hold")
	if mode == "" && until == "" && hold == "" {
		return nil, nil
	}
	if b.ObjectLock == nil {
		return nil, errNoLockConfig
	}
	if rq.account == "" || rq.account != b.Owner {
		return nil, ErrAccessDenied
	}
	l := &meta.ObjectLock{}
	if (mode == "") != (until == "") {
		return nil, errorf(ErrInvalidArgument, "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied")
	}
	if mode != "" {
		if mode != lockGovernance && mode != lockCompliance {
			return nil, errorf(ErrInvalidArgument, "Unknown wormMode directive.")
		}
		t, err := parseRetainUntil(until)
		if err != nil {
			return nil, err
		}
		if !t.After(s.now()) {
			return nil, errorf(ErrInvalidArgument, "The retain until date must be in the future!")
		}
		l.Mode, l.RetainUntil = mode, t
	}
	switch hold {
	case "":
	case "ON", "OFF":
		l.LegalHold = hold
	default:
		return nil, errorf(ErrInvalidArgument, "Legal Hold must be either of 'ON' or 'OFF'")
	}
	return l, nil
}

// withDefaultRetention gives a new version of bucket b the bucket's default retention
// unless it sets a retention period of its own, counted from now.
func (s *Server) withDefaultRetention(l *meta.ObjectLock, b meta.Bucket) *meta.ObjectLock {
	c := b.ObjectLock
	if c == nil || c.DefaultMode == "" || l != nil && l.Mode != "" {
		return l
	}
	out := meta.ObjectLock{}
	if l != nil {
		out = *l
	}
	now := s.now().UTC()
	out.Mode = c.DefaultMode
	if c.DefaultDays > 0 {
		out.RetainUntil = retainUntil(now.Add(time.Duration(c.DefaultDays) * 24 * time.Hour))
	} else {
		out.RetainUntil = retainUntil(now.AddDate(c.DefaultYears, 0, 0))
	}
	return &out
}

// writeLock is the lock a PutObject or CopyObject writes its version with: its headers',
// else the bucket default. A PutObject that sets a retention period (its own or the
// default) must carry Content-MD5 or an x-amz-checksum-*, as S3 requires.
func (s *Server) writeLock(rq *request, b meta.Bucket, hasBody bool) (*meta.ObjectLock, error) {
	l, err := s.lockHeaders(rq, b)
	if err != nil {
		return nil, err
	}
	l = s.withDefaultRetention(l, b)
	if hasBody && l != nil && !hasIntegrityHeader(rq.r.Header) {
		return nil, errIntegrityRequired("Put Object requests with Object Lock parameters")
	}
	return l, nil
}

// setLockHeaders returns a version's lock on GET and HEAD.
func setLockHeaders(h http.Header, e meta.ObjectEntry) {
	if e.Lock == nil {
		return
	}
	if e.Lock.Mode != "" {
		h.Set("X-Amz-Object-Lock-Mode", e.Lock.Mode)
		h.Set("X-Amz-Object-Lock-Retain-Until-Date", isoTime(e.Lock.RetainUntil))
	}
	if e.Lock.LegalHold != "" {
		h.Set("X-Amz-Object-Lock-Legal-Hold", e.Lock.LegalHold)
	}
}

// lockOp serves ?retention and ?legal-hold on a key.
func (s *Server) lockOp(rq *request, q url.Values) error {
	retention := q.Has("retention")
	switch rq.r.Method {
	case http.MethodPut:
		if retention {
			return s.putRetention(rq, q)
		}
		return s.putLegalHold(rq, q)
	case http.MethodGet:
		return s.getLock(rq, q, retention)
	}
	return ErrMethodNotAllowed
}

// lockedVersion resolves the version a retention or legal-hold request names, in a bucket
// the caller owns that has Object Lock.
func (s *Server) lockedVersion(ctx context.Context, rq *request, q url.Values) (meta.Bucket, meta.ObjectEntry, error) {
	action := "s3:GetObjectLegalHold"
	if q.Has("retention") {
		action = "s3:GetObjectRetention"
	}
	if rq.r.Method == http.MethodPut {
		action = strings.Replace(action, "Get", "Put", 1)
	}
	b, err := s.authorize(ctx, rq, action, rq.key)
	if err != nil {
		return b, meta.ObjectEntry{}, err
	}
	if b.ObjectLock == nil {
		return b, meta.ObjectEntry{}, errNoLockConfig
	}
	e, err := s.resolve(ctx, nil, rq.bucket, rq.key, q)
	return b, e, err
}

func (s *Server) getLock(rq *request, q url.Values, retention bool) error {
	_, e, err := s.lockedVersion(rq.r.Context(), rq, q)
	if err != nil {
		return err
	}
	l := e.Lock
	if retention {
		if l == nil || l.Mode == "" {
			return ErrNoSuchObjectLockConfiguration
		}
		return writeXML(rq.w, http.StatusOK, xmlRetention{Mode: l.Mode, RetainUntilDate: isoTime(l.RetainUntil)})
	}
	if l == nil || l.LegalHold == "" {
		return ErrNoSuchObjectLockConfiguration
	}
	return writeXML(rq.w, http.StatusOK, xmlLegalHold{Status: l.LegalHold})
}

// updateLock changes the lock of the version q names in place, change deciding on the
// version as it is when written; bypass tells it whether the caller may bypass GOVERNANCE
// retention.
func (s *Server) updateLock(rq *request, q url.Values, change func(l *meta.ObjectLock, bypass bool) error) error {
	ctx := rq.r.Context()
	b, e, err := s.lockedVersion(ctx, rq, q)
	if err != nil {
		return err
	}
	bypass := s.governanceBypass(rq, b)
	_, err = s.meta.Index(rq.bucket).UpdateObject(ctx, rq.bucket, rq.key, e.Version, func(cur *meta.ObjectEntry) error {
		if cur.DeleteMarker {
			return ErrMethodNotAllowed
		}
		l := meta.ObjectLock{}
		if cur.Lock != nil {
			l = *cur.Lock
		}
		if err := change(&l, bypass); err != nil {
			return err
		}
		cur.Lock = &l
		if l == (meta.ObjectLock{}) {
			cur.Lock = nil
		}
		return nil
	})
	if errors.Is(err, meta.ErrNotFound) {
		if q.Has("versionId") {
			return ErrNoSuchVersion
		}
		return ErrNoSuchKey
	}
	if err != nil {
		return dataError(err)
	}
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// putRetention serves PUT ?retention. Extending a retention period, or turning GOVERNANCE
// into COMPLIANCE, is always allowed; shortening or removing one still in force, or
// weakening its mode, is refused for COMPLIANCE and needs the governance bypass for
// GOVERNANCE.
func (s *Server) putRetention(rq *request, q url.Values) error {
	body, err := readIntegrityBody(rq, 64<<10)
	if err != nil {
		return err
	}
	var in struct {
		XMLName         xml.Name `xml:"Retention"`
		Mode            string   `xml:"Mode"`
		RetainUntilDate string   `xml:"RetainUntilDate"`
	}
	if err := xml.Unmarshal(body, &in); err != nil {
		return ErrMalformedXML
	}
	var want meta.ObjectLock
	switch {
	case in.Mode == "" && in.RetainUntilDate == "":
		// An empty Retention removes the retention period.
	case in.Mode != lockGovernance && in.Mode != lockCompliance || in.RetainUntilDate == "":
		return ErrMalformedXML
	default:
		t, err := parseRetainUntil(in.RetainUntilDate)
		if err != nil {
			return err
		}
		if !t.After(s.now()) {
			return errorf(ErrInvalidArgument, "The retain until date must be in the future!")
		}
		want.Mode, want.RetainUntil = in.Mode, t
	}
	return s.updateLock(rq, q, func(l *meta.ObjectLock, bypass bool) error {
		if err := s.retentionChange(*l, want, bypass); err != nil {
			return err
		}
		l.Mode, l.RetainUntil = want.Mode, want.RetainUntil
		return nil
	})
}

// putLegalHold serves PUT ?legal-hold: ON or OFF, at any time, by whoever may change it.
func (s *Server) putLegalHold(rq *request, q url.Values) error {
	body, err := readIntegrityBody(rq, 64<<10)
	if err != nil {
		return err
	}
	var in struct {
		XMLName xml.Name `xml:"LegalHold"`
		Status  string   `xml:"Status"`
	}
	if err := xml.Unmarshal(body, &in); err != nil || in.Status != "ON" && in.Status != "OFF" {
		return ErrMalformedXML
	}
	return s.updateLock(rq, q, func(l *meta.ObjectLock, _ bool) error {
		l.LegalHold = in.Status
		return nil
	})
}
